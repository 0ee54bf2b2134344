"""Fault profiles a simulator takes (DESIGN §5), and hostile replies the conformance kit injects."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from watchkeeper.core.timezones import utc_offset


class ImageFault(enum.StrEnum):
    BLUR = "blur"
    DARK = "dark"
    OVEREXPOSED = "overexposed"
    COLOUR_CAST = "colour_cast"
    NOISE = "noise"
    BLACK = "black"
    FROZEN = "frozen"
    OCCLUDED = "occluded"
    MOVED = "moved"


class Hostile(enum.StrEnum):
    """Replies a device must never be able to crash or hang a driver with."""

    EXTERNAL_ENTITY = "external_entity"
    ENTITY_EXPANSION = "entity_expansion"
    TRUNCATED = "truncated"
    HUGE_BODY = "huge_body"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    INVALID_UTF8 = "invalid_utf8"
    GARBAGE = "garbage"


class PictureFault(enum.StrEnum):
    """Snapshots a hostile camera serves: valid JPEG openings that would make a decoder allocate gigabytes."""

    #: A 4 MB JPEG whose frame header claims 16000 x 16000 pixels its data does not hold.
    LYING_HEADER = "lying_header"
    #: A 1 MB JPEG that really decodes to 16000 x 16000 grey pixels (768 MB as BGR).
    JPEG_BOMB = "jpeg_bomb"


HUGE_BODY_BYTES = 50 * 1024 * 1024


@attrs.define
class FaultProfile:
    """What is wrong with a simulated device (or one of its channels). Empty means healthy."""

    #: What the picture suffers from (snapshots, streams and recorded clips alike).
    image: frozenset[ImageFault] = attrs.field(factory=frozenset, converter=lambda v: frozenset(ImageFault(x) for x in v))
    #: Seconds the device clock runs ahead of the true time (negative: behind).
    clock_offset: float = 0.0
    #: The zone the device is set to, in any notation a vendor uses (the simulator reports it its own way).
    time_zone: str | None = None
    #: Intervals with no recording.
    gaps: tuple[tuple[datetime, datetime], ...] = ()
    #: Recording only goes back this far (a recorder that overwrites too early).
    retention_days: float | None = None
    #: A disk reports failure (and the device raises a disk-error event where it has events).
    disk_error: bool = False
    #: The disks are full.
    disk_full: bool = False
    #: The device's password is not the one configured: every authenticated request is refused.
    wrong_password: bool = False
    #: Seconds added before every reply.
    slow: float = 0.0
    #: Close the connection without a reply.
    drop: bool = False
    #: Answer authenticated requests with this hostile reply.
    hostile: Hostile | None = attrs.field(default=None, converter=lambda v: None if v is None else Hostile(v))
    #: Device is switched off: refuses connections.
    offline: bool = False
    #: The recorder reports its earliest recording at 1970-01-01 while the latest is right (an ONVIF
    #: recorder quirk seen in the wild; see fixtures exonvif_get_recording_summary.xml).
    epoch_earliest: bool = False
    #: The device demands credentials for requests the standard lets anyone make (ONVIF
    #: GetSystemDateAndTime), as some firmware does.
    clock_needs_auth: bool = False
    #: Snapshots are this hostile picture instead of the scene.
    picture: PictureFault | None = attrs.field(default=None, converter=lambda v: None if v is None else PictureFault(v))


class FaultSpecError(ValueError):
    pass


_BOOLEAN = {"disk_error", "disk_full", "wrong_password", "drop", "offline", "epoch_earliest", "clock_needs_auth"}
_FLOAT = {"clock_offset", "slow", "retention_days"}


def parse_faults(spec: str, now: datetime | None = None) -> FaultProfile:
    """Parse a `--faults` spec such as ``blur,clock_offset=45,gap=2h@6h,hostile=truncated,picture=jpeg_bomb``.

    ``gap=DURATION@AGO`` removes DURATION of recording ending AGO before now (h, m or s).
    """
    profile = FaultProfile()
    images: set[ImageFault] = set()
    gaps = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        name = name.strip().replace("-", "_")
        try:
            if name in {f.value for f in ImageFault}:
                images.add(ImageFault(name))
            elif name in _BOOLEAN:
                setattr(profile, name, value.lower() not in {"0", "false", "no"} if value else True)
            elif name in _FLOAT:
                setattr(profile, name, float(value))
            elif name == "time_zone":
                profile.time_zone = value
            elif name == "hostile":
                profile.hostile = Hostile(value)
            elif name == "picture":
                profile.picture = PictureFault(value)
            elif name == "gap":
                duration, _, ago = value.partition("@")
                end = (now or datetime.now().astimezone()) - _duration(ago or "1h")
                gaps.append((end - _duration(duration), end))
            else:
                raise FaultSpecError(f"unknown fault {name!r}")
        except (ValueError, KeyError) as error:
            raise FaultSpecError(f"bad fault {part!r}: {error}") from None
    profile.image = frozenset(images)
    profile.gaps = tuple(gaps)
    return profile


def zone_offset(spec: str, at: datetime) -> timedelta:
    """The UTC offset of a `time_zone` fault at `at`, in any notation core.timezones reads (POSIX `CST-8`,
    `GMT+08:00`, an IANA name, `UTC`). A simulator reports the zone its own way from this."""
    offset = utc_offset(spec, at)
    if offset is None:
        raise FaultSpecError(f"time zone {spec!r} is in no notation a simulator knows")
    return offset


def _duration(text: str) -> timedelta:
    units = {"h": 3600, "m": 60, "s": 1, "d": 86400}
    text = text.strip()
    if text and text[-1] in units:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    return timedelta(seconds=float(text))


def hostile_body(kind: Hostile, wrapper: str = "deviceInfo") -> tuple[bytes, str]:
    """The body and content type of a hostile reply; HUGE_BODY is streamed by the server instead."""
    xml = "application/xml; charset=UTF-8"
    if kind is Hostile.EXTERNAL_ENTITY:
        return (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                + f"<{wrapper}>&x;</{wrapper}>".encode(), xml)
    if kind is Hostile.ENTITY_EXPANSION:
        lines = ['<!ENTITY a0 "lolololololololololol">']
        lines += [f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
        return (f'<?xml version="1.0"?>\n<!DOCTYPE r [{"".join(lines)}]>\n<{wrapper}>&a9;</{wrapper}>'.encode(), xml)
    if kind is Hostile.TRUNCATED:
        return f'<?xml version="1.0"?>\n<{wrapper}><model>DS-2CD'.encode(), xml
    if kind is Hostile.WRONG_CONTENT_TYPE:
        return b"<html><body><h1>Login</h1></body></html>", "text/html"
    if kind is Hostile.INVALID_UTF8:
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<{wrapper}><model>'.encode() + b"\xff\xfe\xc3\x28" + f"</model></{wrapper}>".encode(), xml
    if kind is Hostile.GARBAGE:
        return bytes(range(256)) * 4, "application/octet-stream"
    raise ValueError(f"{kind} is streamed, not a fixed body")

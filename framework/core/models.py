"""Value classes that drivers return and rules consume: plain, typed, time-zone aware."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import attrs

from watchkeeper.core.i18n import N_


def _aware(value: datetime) -> datetime:
    """Times cross the driver boundary in UTC; a naive time is a driver bug, refused here."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: drivers must return time-zone aware times")
    return value.astimezone(timezone.utc)


OptionT = TypeVar("OptionT", bool, int, float, str)


class Secret:
    """A password or key that never shows itself in repr, str, logs or the journal."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def _secret(value: Secret | str) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


class Capability(enum.StrEnum):
    """Optional things a driver can do; a driver declares them instead of faking them."""

    SET_CLOCK = "set_clock"
    NTP = "ntp"
    SNAPSHOT = "snapshot"
    STREAM = "stream"
    PLAYBACK = "playback"
    RECORDINGS = "recordings"
    STORAGE = "storage"
    EVENTS = "events"
    CLIP_DOWNLOAD = "clip_download"
    AUDIT_LOG = "audit_log"
    # Doors and readers.
    READS = "reads"
    GRANT = "grant"
    KEYPAD = "keypad"


class DeviceKind(enum.StrEnum):
    CAMERA = "camera"
    RECORDER = "recorder"
    READER = "reader"


@attrs.frozen
class Endpoint:
    """Where a device is and how to log in; built from the site config or a probe URL."""

    platform: str
    host: str
    port: int
    username: str = ""
    password: Secret = attrs.field(factory=lambda: Secret(""), converter=_secret)
    timeout: float = 5.0
    device_id: str = ""
    #: Per-device settings a driver reads (`https`, `verify_tls`, `rtsp_port`, ...); read them with `option`.
    options: dict[str, object] = attrs.field(factory=dict)

    def label(self) -> str:
        return self.device_id or f"{self.platform}://{self.host}:{self.port}"

    def option(self, name: str, default: OptionT) -> OptionT:
        """`options[name]` as the type of `default` (bool, int, float or str), or `default` when unset.

        A value of another type is refused with a ValueError naming the device and the option.
        """
        value = self.options.get(name, default)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value  # type: ignore[arg-type]
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ValueError(f"{self.label()}: option {name!r} must be {type(default).__name__}, not {value!r}")
        return value  # type: ignore[return-value]


@attrs.frozen
class DeviceInfo:
    """What a device says it is; `channels` > 1 (or `kind` recorder) is an NVR."""

    manufacturer: str
    model: str
    serial_number: str
    firmware_version: str
    kind: DeviceKind = attrs.field(default=DeviceKind.CAMERA, converter=DeviceKind)
    channels: int = 1
    hardware_id: str = ""


@attrs.frozen
class ClockReading:
    """The device's clock, read once, with the host time at the reading's midpoint."""

    device_time: datetime = attrs.field(converter=_aware)
    host_time: datetime = attrs.field(converter=_aware)
    round_trip: float
    time_zone: str | None = None
    ntp_enabled: bool | None = None
    ntp_servers: tuple[str, ...] = ()

    @property
    def offset(self) -> float:
        """Device minus host, in seconds; positive means the device runs ahead."""
        return (self.device_time - self.host_time).total_seconds()


class RecordingKind(enum.StrEnum):
    CONTINUOUS = "continuous"
    EVENT = "event"
    UNKNOWN = "unknown"


@attrs.frozen
class RecordingSegment:
    """One recorded piece of a channel; `token` is whatever the device needs to fetch it again."""

    channel: int
    start: datetime = attrs.field(converter=_aware)
    end: datetime = attrs.field(converter=_aware)
    kind: RecordingKind = attrs.field(default=RecordingKind.UNKNOWN, converter=RecordingKind)
    size_bytes: int | None = None
    locked: bool | None = None
    token: str = ""
    #: False when the device would not say where the recording begins (some ONVIF recorders report
    #: EarliestRecording at 1970): `start` is then only the start of the window asked about, and the
    #: segment says no more than that the recording reaches `end`.
    start_known: bool = True

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


class DiskStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"
    FULL = "full"
    UNFORMATTED = "unformatted"
    ABSENT = "absent"
    UNKNOWN = "unknown"


#: What a person reads for each disk status (the stored value stays the enum's).
DISK_STATUS_NAMES = {DiskStatus.OK: N_("ok"), DiskStatus.ERROR: N_("error"), DiskStatus.FULL: N_("full"),
                     DiskStatus.UNFORMATTED: N_("unformatted"), DiskStatus.ABSENT: N_("absent"),
                     DiskStatus.UNKNOWN: N_("unknown")}


@attrs.frozen
class Disk:
    """One storage medium; `raw_status` keeps the device's own word for what `status` normalises."""

    id: str
    status: DiskStatus = attrs.field(converter=DiskStatus)
    capacity_bytes: int | None = None
    free_bytes: int | None = None
    name: str = ""
    raw_status: str = ""


class DeviceEventKind(enum.StrEnum):
    VIDEO_LOSS = "video_loss"
    TAMPER = "tamper"
    SCENE_CHANGE = "scene_change"
    DISK_ERROR = "disk_error"
    DISK_FULL = "disk_full"
    RECORDING_FAILURE = "recording_failure"
    ILLEGAL_ACCESS = "illegal_access"
    MOTION = "motion"
    REBOOT = "reboot"
    #: Fan, power supply or temperature failure reported by the device.
    HARDWARE_FAILURE = "hardware_failure"
    #: A monitoring measurement: the processor load, in DeviceEvent.value.
    PROCESSOR_USAGE = "processor_usage"
    OTHER = "other"


@attrs.frozen
class DeviceEvent:
    """Something the device reported; `active` False is the end of a state (video back, tamper over)."""

    kind: DeviceEventKind = attrs.field(converter=DeviceEventKind)
    time: datetime = attrs.field(converter=_aware)
    channel: int | None = None
    active: bool = True
    raw: str = ""
    #: The measurement or state text an information event carries (processor usage, last reboot time).
    value: str = ""


class CredentialKind(enum.StrEnum):
    CARD = "card"
    PIN = "pin"


@attrs.frozen
class CredentialRead:
    """A card or PIN presented at a reader; the value is hidden from repr since a PIN is a secret."""

    reader: str
    kind: CredentialKind = attrs.field(converter=CredentialKind)
    value: str = attrs.field(repr=False)
    read_at: datetime = attrs.field(converter=_aware)
    format: str = ""
    bits: int | None = None


@attrs.frozen
class DoorStatus:
    """A reader's health as the door service polls it."""

    online: bool
    secure_channel: bool
    tamper: bool = False
    last_seen: datetime | None = None
    #: The door contact: True open, False closed, None when the reader reports no contact input.
    door_open: bool | None = None
    #: Not online because the reader answers but refuses the secure channel (a wrong key), as
    #: opposed to a reader that does not answer at all.
    secure_channel_failed: bool = False


class AuditAction(enum.StrEnum):
    """What a line of a device's own log did, as far as R8/R9 care: retrievals and deletions of footage."""

    PLAYBACK = "playback"
    EXPORT = "export"
    DOWNLOAD = "download"
    DELETION = "deletion"
    LOGIN = "login"
    OTHER = "other"


#: The actions that take footage off the recorder or show it to someone (R9).
RETRIEVAL_ACTIONS = frozenset({AuditAction.PLAYBACK, AuditAction.EXPORT, AuditAction.DOWNLOAD})

#: Words in a vendor's log type that say what was done, checked in this order (first match wins):
#: Hikvision `remotePlayback`, `localBackup`, `remoteDownload`, `formatHdd`; Dahua `Playback`, `Backup`,
#: `Download`, `FormatDisk`, `DeleteFile`. Keywords rather than exact names, so firmware that spells
#: them differently (`remotePlayByTime`, `RecordPlayback`) still counts.
AUDIT_KEYWORDS: tuple[tuple[str, AuditAction], ...] = (
    ("search", AuditAction.OTHER),  # a record *search* shows no footage
    ("login", AuditAction.LOGIN), ("logout", AuditAction.LOGIN), ("logon", AuditAction.LOGIN),
    # Deleting a user or a group, clearing the log, saving a config: not footage.
    ("user", AuditAction.OTHER), ("group", AuditAction.OTHER), ("password", AuditAction.OTHER),
    ("log", AuditAction.OTHER), ("config", AuditAction.OTHER),
    ("delete", AuditAction.DELETION), ("deletion", AuditAction.DELETION), ("delfile", AuditAction.DELETION),
    ("format", AuditAction.DELETION), ("erase", AuditAction.DELETION),
    ("backup", AuditAction.EXPORT), ("export", AuditAction.EXPORT), ("copy", AuditAction.EXPORT),
    ("download", AuditAction.DOWNLOAD), ("getfile", AuditAction.DOWNLOAD), ("loadfile", AuditAction.DOWNLOAD),
    ("playback", AuditAction.PLAYBACK), ("playby", AuditAction.PLAYBACK), ("replay", AuditAction.PLAYBACK),
)


def audit_action(log_type: str) -> AuditAction:
    """The action a vendor's log type names (`remotePlayback` → playback), OTHER when none."""
    folded = log_type.replace("_", "").replace(" ", "").lower()
    for word, action in AUDIT_KEYWORDS:
        if word in folded:
            return action
    return AuditAction.OTHER


@attrs.frozen
class AuditEntry:
    """One line of a device's own log: what was done, when, by which device user, from where."""

    time: datetime = attrs.field(converter=_aware)
    #: The vendor's own name for the entry, e.g. `Operation/remotePlayback` or `Playback`.
    log_type: str
    action: AuditAction = attrs.field(converter=AuditAction)
    user: str = ""
    address: str = ""
    channel: int | None = None
    detail: str = ""

    @property
    def local(self) -> bool:
        """Done at the device's own console (no remote address), not over the network."""
        return not self.address or "local" in self.log_type.lower()

"""Dahua CGI wire format: strict key=value replies and device-local times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from watchkeeper.core.i18n import N_
from watchkeeper.devices.safeparse import MAX_REPLY_BYTES, decode_text, protocol_error

#: The HTTP API's `NTP.TimeZone` index → offset from UTC in minutes (Dahua HTTP API, NTP table).
TIME_ZONES: tuple[int, ...] = (
    0, 60, 120, 180, 210, 240, 270, 300, 330, 345, 360, 390, 420, 480, 540, 570, 600, 660, 720,
    780, -60, -120, -180, -210, -240, -300, -360, -420, -480, -540, -600, -660, -720,
)
#: Index 13 is GMT+08:00 (Beijing), the legal time of the regulation this appliance enforces.
BEIJING = 13

DEVICE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: More lines than this in one key=value reply is not a camera talking.
MAX_LINES = 100_000
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]]*$")


def parse_kv(body: str | bytes, what: str, continuation: bool = False) -> dict[str, str]:
    """Parse a `key=value\\r\\n` reply strictly; anything else is PROTOCOL_ERROR.

    `continuation` accepts bare lines after a key (log.cgi's multi-line Detail values).
    """
    if len(body) > MAX_REPLY_BYTES:
        raise protocol_error(N_("{what}: reply of {size} bytes is too large", what=what, size=len(body)))
    text = decode_text(body, what) if isinstance(body, bytes) else body
    stripped = text.lstrip()
    if stripped.startswith("<"):
        raise protocol_error(N_("{what}: HTML or XML where key=value was expected", what=what))
    if stripped.lower().startswith("error"):
        raise protocol_error(N_("{what}: device answered {answer!r}", what=what, answer=" ".join(stripped.split())[:80]))
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise protocol_error(N_("{what}: {lines} lines in one reply", what=what, lines=len(lines)))
    result: dict[str, str] = {}
    last_key = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if sep and _KEY.match(key):
            result[key] = value.rstrip("\r")
            last_key = key
        elif continuation and last_key is not None and "\x00" not in line:
            result[last_key] += "\n" + line.strip()
        else:
            raise protocol_error(N_("{what}: malformed line {number}", what=what, number=number))
    return result


def expect_ok(body: str, what: str) -> None:
    """Setter replies are a bare `OK`."""
    if body.strip() != "OK":
        raise protocol_error(N_("{what}: device did not answer OK", what=what))


def require(reply: dict[str, str], key: str, what: str) -> str:
    if key not in reply:
        raise protocol_error(N_("{what}: reply has no {key!r}", what=what, key=key))
    return reply[key]


def parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise protocol_error(N_("{what}: {value!r} is not an integer", what=what, value=text[:40])) from None


def zone(index: int) -> timezone:
    """The fixed-offset zone of a `NTP.TimeZone` index."""
    if not 0 <= index < len(TIME_ZONES):
        raise protocol_error(N_("time zone index {index} is not in the Dahua table", index=index))
    return timezone(timedelta(minutes=TIME_ZONES[index]))


def zone_index(offset: timedelta) -> int:
    """The table index nearest to a UTC offset (what a device set to that zone reports)."""
    minutes = offset.total_seconds() / 60
    return min(range(len(TIME_ZONES)), key=lambda i: abs(TIME_ZONES[i] - minutes))


def zone_name(index: int) -> str:
    minutes = TIME_ZONES[index]
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_device_time(text: str, tz: timezone, what: str) -> datetime:
    """`2020-01-06 06:05:00` in the device's zone → aware UTC."""
    try:
        local = datetime.strptime(text.strip(), DEVICE_TIME_FORMAT)
    except ValueError:
        raise protocol_error(N_("{what}: {value!r} is not a device time", what=what, value=text[:40])) from None
    return local.replace(tzinfo=tz).astimezone(timezone.utc)


def format_device_time(when: datetime, tz: timezone) -> str:
    return when.astimezone(tz).strftime(DEVICE_TIME_FORMAT)

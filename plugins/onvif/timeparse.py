"""Device time out of GetSystemDateAndTime, whatever the device's time-zone string looks like."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from watchkeeper.devices.safeparse import protocol_error

#: POSIX TZ: std name, offset west of UTC (e.g. CST-8 is UTC+8), optional DST part we do not need.
_POSIX = re.compile(r"^\s*(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2})(?::(\d{2}))?")


def posix_utc_offset(tz: str | None) -> timedelta | None:
    """UTC offset of a POSIX TZ string's standard time; None for strings like 'MoroccoStandardTime0'."""
    if not tz:
        return None
    match = _POSIX.match(tz)
    if match is None or not match.group(1).startswith("<") and len(match.group(1)) > 6:
        return None  # Windows-style names that happen to end in a digit are not POSIX
    west = int(match.group(2))
    minutes = abs(west) * 60 + int(match.group(3) or 0)
    return timedelta(minutes=minutes if match.group(2).startswith("-") else -minutes)


def _datetime_of(value: Any) -> datetime:
    date, clock = value.Date, value.Time
    return datetime(date.Year, date.Month, date.Day, clock.Hour, clock.Minute, clock.Second)


def device_time_of(reply: Any) -> tuple[datetime, str | None]:
    """(device time in UTC, the TZ string as reported). UTCDateTime preferred; else local time and TZ."""
    zone = getattr(getattr(reply, "TimeZone", None), "TZ", None)
    try:
        if getattr(reply, "UTCDateTime", None) is not None:
            return _datetime_of(reply.UTCDateTime).replace(tzinfo=timezone.utc), zone
        local = getattr(reply, "LocalDateTime", None)
        offset = posix_utc_offset(zone)
        if local is not None and offset is not None:
            return (_datetime_of(local) - offset).replace(tzinfo=timezone.utc), zone
    except (AttributeError, TypeError, ValueError) as error:
        raise protocol_error(f"GetSystemDateAndTime: unreadable date ({type(error).__name__})") from None
    raise protocol_error(f"GetSystemDateAndTime: no UTC time and time zone {zone!r} is not POSIX")

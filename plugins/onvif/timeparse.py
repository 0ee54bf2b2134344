"""Device time out of GetSystemDateAndTime, whatever the device's time-zone string looks like."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from watchkeeper.core.timezones import TimeZoneError, parse_zone
from watchkeeper.core.i18n import N_
from watchkeeper.devices.safeparse import protocol_error

OPERATION = "GetSystemDateAndTime"


def _datetime_of(value: Any, what: str) -> datetime:
    date, clock = getattr(value, "Date", None), getattr(value, "Time", None)
    parts = [getattr(date, name, None) for name in ("Year", "Month", "Day")]
    parts += [getattr(clock, name, None) for name in ("Hour", "Minute", "Second")]
    if any(not isinstance(part, int) for part in parts):
        raise protocol_error(N_("{what}: {field} is incomplete", what=OPERATION, field=what))
    year, month, day, hour, minute, second = (int(part or 0) for part in parts)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        shown = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        raise protocol_error(N_("{what}: {field} is not a date ({date})", what=OPERATION, field=what,
                                date=shown)) from None


def device_time_of(reply: Any) -> tuple[datetime, str | None]:
    """(device time in UTC, the TZ string as reported). UTCDateTime preferred; else local time and TZ."""
    zone = getattr(getattr(reply, "TimeZone", None), "TZ", None)
    if getattr(reply, "UTCDateTime", None) is not None:
        return _datetime_of(reply.UTCDateTime, "UTCDateTime").replace(tzinfo=timezone.utc), zone
    local = getattr(reply, "LocalDateTime", None)
    if local is None:
        raise protocol_error(N_("{what}: neither UTCDateTime nor LocalDateTime", what=OPERATION))
    try:
        tz = parse_zone(zone)
    except TimeZoneError:
        raise protocol_error(N_("{what}: no UTC time, and the local time's zone {zone!r} cannot be read",
                                what=OPERATION, zone=str(zone)[:60])) from None
    return _datetime_of(local, "LocalDateTime").replace(tzinfo=tz).astimezone(timezone.utc), zone

"""Device time out of GetSystemDateAndTime, whatever the device's time-zone string looks like."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from watchkeeper.core.timezones import TimeZoneError, parse_zone
from watchkeeper.devices.safeparse import protocol_error


def _datetime_of(value: Any, what: str) -> datetime:
    date, clock = getattr(value, "Date", None), getattr(value, "Time", None)
    parts = [getattr(date, name, None) for name in ("Year", "Month", "Day")]
    parts += [getattr(clock, name, None) for name in ("Hour", "Minute", "Second")]
    if any(not isinstance(part, int) for part in parts):
        raise protocol_error(f"GetSystemDateAndTime: {what} is incomplete")
    year, month, day, hour, minute, second = (int(part or 0) for part in parts)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError as error:
        raise protocol_error(f"GetSystemDateAndTime: {what} is not a date ({error})") from None


def device_time_of(reply: Any) -> tuple[datetime, str | None]:
    """(device time in UTC, the TZ string as reported). UTCDateTime preferred; else local time and TZ."""
    zone = getattr(getattr(reply, "TimeZone", None), "TZ", None)
    if getattr(reply, "UTCDateTime", None) is not None:
        return _datetime_of(reply.UTCDateTime, "UTCDateTime").replace(tzinfo=timezone.utc), zone
    local = getattr(reply, "LocalDateTime", None)
    if local is None:
        raise protocol_error("GetSystemDateAndTime: neither UTCDateTime nor LocalDateTime")
    try:
        tz = parse_zone(zone)
    except TimeZoneError as error:
        raise protocol_error(f"GetSystemDateAndTime: no UTC time, and the local time's zone cannot be read "
                             f"({error})"[:200]) from None
    return _datetime_of(local, "LocalDateTime").replace(tzinfo=tz).astimezone(timezone.utc), zone

"""UTC offsets from the time-zone strings devices report: POSIX TZ (ONVIF, Hikvision) or IANA names."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# std name, then offset [+-]hh[:mm[:ss]] where a POSIX offset is *west* of Greenwich (CST-8 = UTC+8).
_POSIX = re.compile(r"^\s*(?P<name><[^>]+>|[A-Za-z]{3,})(?P<sign>[+-]?)(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?::(?P<s>\d{2}))?")
# Dahua's TimeZoneDesc writes the offset the human way round, always as two-digit hours and
# minutes: "GMT+08:00". A bare "GMT-8" stays POSIX (UTC+8), as ONVIF devices mean it.
_HUMAN = re.compile(r"^\s*(?:GMT|UTC)(?P<sign>[+-])(?P<h>\d{2}):(?P<m>\d{2})\s*$", re.IGNORECASE)


def standard_offset(text: str | None, at: datetime | None = None) -> timedelta | None:
    """The UTC offset a device's time-zone string means, or None when it cannot be read.

    DST rules in a POSIX string are not evaluated (the sites this serves have none); an IANA name
    is evaluated at `at` so its DST is honoured.
    """
    if not text:
        return None
    human = _HUMAN.match(text)
    if human:
        sign = -1 if human["sign"] == "-" else 1
        return sign * timedelta(hours=int(human["h"]), minutes=int(human["m"] or 0))
    if "/" in text and "," not in text:
        try:
            zone = ZoneInfo(text.strip())
        except (ZoneInfoNotFoundError, ValueError):
            return None
        return (at or datetime.now(zone)).astimezone(zone).utcoffset()
    posix = _POSIX.match(text)
    if posix:
        west = timedelta(hours=int(posix["h"]), minutes=int(posix["m"] or 0), seconds=int(posix["s"] or 0))
        return west if posix["sign"] == "-" else -west
    return None

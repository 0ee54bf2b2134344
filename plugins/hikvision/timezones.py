"""Hikvision time zones: POSIX-style strings such as ``CST-8:00:00`` whose sign is inverted."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CLOCK = r"(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?"
_ZONE = re.compile(
    rf"^\s*(?P<std>[A-Za-z]{{3,}}|<[^>]+>)(?P<sign>[+-]?){_CLOCK}"
    rf"(?:(?P<dst>[A-Za-z]{{3,}}|<[^>]+>)(?:(?P<dsign>[+-]?)(?P<dh>\d{{1,2}})(?::(?P<dm>\d{{1,2}}))?(?::(?P<ds>\d{{1,2}}))?)?"
    rf",(?P<start>M[\d.]+(?:/[\d:]+)?),(?P<end>M[\d.]+(?:/[\d:]+)?))?\s*$"
)
_RULE = re.compile(r"^M(\d{1,2})\.(\d)\.(\d)(?:/(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?)?$")


class TimeZoneError(ValueError):
    pass


def _seconds(hours: str, minutes: str | None, seconds: str | None) -> int:
    return int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)


def _rule_moment(rule: str, year: int) -> datetime:
    """`Mm.w.d/hh:mm:ss`: day d (0 = Sunday) of week w (5 = last) of month m, as naive local time."""
    match = _RULE.match(rule)
    if not match:
        raise TimeZoneError(f"bad DST rule {rule!r}")
    month, week, weekday = int(match[1]), int(match[2]), int(match[3])
    if not (1 <= month <= 12 and 1 <= week <= 5 and 0 <= weekday <= 6):
        raise TimeZoneError(f"bad DST rule {rule!r}")
    first = date(year, month, 1)
    # POSIX counts Sunday as 0, Python counts Monday as 0.
    delta = (weekday - (first.weekday() + 1) % 7) % 7
    day = first + timedelta(days=delta + 7 * (week - 1))
    while day.month != month:
        day -= timedelta(days=7)
    at = _seconds(match[4] or "2", match[5], match[6])
    return datetime(day.year, day.month, day.day) + timedelta(seconds=at)


class HikvisionZone(tzinfo):
    """A fixed offset with an optional yearly DST rule, as a Hikvision device describes its zone."""

    def __init__(self, text: str, standard: timedelta, saving: timedelta = timedelta(0),
                 start: str | None = None, end: str | None = None) -> None:
        self.text, self.standard, self.saving, self.start, self.end = text, standard, saving, start, end

    def __repr__(self) -> str:
        return f"HikvisionZone({self.text!r})"

    def _in_dst(self, local: datetime) -> bool:
        if not self.start or not self.end or not self.saving:
            return False
        naive = local.replace(tzinfo=None)
        begin, finish = _rule_moment(self.start, naive.year), _rule_moment(self.end, naive.year)
        if begin <= finish:
            return begin <= naive < finish
        return naive >= begin or naive < finish  # southern hemisphere

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.standard + (self.saving if dt is not None and self._in_dst(dt) else timedelta(0))

    def dst(self, dt: datetime | None) -> timedelta:
        return self.saving if dt is not None and self._in_dst(dt) else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self.text

    def fromutc(self, dt: datetime) -> datetime:
        standard = dt.replace(tzinfo=None) + self.standard
        if self._in_dst(standard + self.saving):
            standard += self.saving
        return standard.replace(tzinfo=self)


def parse_time_zone(text: str) -> HikvisionZone:
    """Parse ``CST-8:00:00`` (UTC+8) or ``EST+5:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00``.

    POSIX offsets are west-positive, so the sign is inverted. In the DST part Hikvision writes the
    amount of saving (``DST01:00:00``), not a second absolute offset.
    """
    match = _ZONE.match(text or "")
    if not match:
        raise TimeZoneError(f"unrecognised time zone {text!r}")
    hours, minutes, seconds = match.group(3), match.group(4), match.group(5)
    west = _seconds(hours, minutes, seconds)
    if west > 15 * 3600:
        raise TimeZoneError(f"time zone offset out of range in {text!r}")
    standard = timedelta(seconds=-west if match["sign"] != "-" else west)
    saving = timedelta(0)
    if match["dst"]:
        saving = timedelta(seconds=_seconds(match["dh"], match["dm"], match["ds"])) if match["dh"] else timedelta(hours=1)
        _rule_moment(match["start"], 2000), _rule_moment(match["end"], 2000)  # validate now, not at first use
    return HikvisionZone(text.strip(), standard, saving, match["start"], match["end"])


def format_time_zone(offset: timedelta, name: str = "CST") -> str:
    """UTC+8 → ``CST-8:00:00``: the string a device reports for a zone without DST."""
    total = int(offset.total_seconds())
    sign = "-" if total >= 0 else "+"
    total = abs(total)
    return f"{name}{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def zone_from_setting(text: str, now: datetime | None = None) -> str:
    """A fault's `time_zone` (Hikvision string or IANA name) → the Hikvision string a device reports."""
    try:
        parse_time_zone(text)
        return text
    except TimeZoneError:
        pass
    try:
        zone = ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeZoneError(f"unrecognised time zone {text!r}") from None
    offset = (now or datetime.now(timezone.utc)).astimezone(zone).utcoffset() or timedelta(0)
    return format_time_zone(offset, "UTC" if not offset else "CST")

"""Device time zones in every vendor's notation, read by one parser: IANA, UTC, POSIX TZ, Hikvision, Dahua.

What devices really write (checked against their replies):
- ONVIF ``tt:TZ`` is a POSIX TZ string, offsets west-positive: ``CST-8`` and ``GMT-8`` are UTC+8,
  ``EST5EDT,M3.2.0,M11.1.0`` is New York.
- Hikvision ISAPI writes POSIX too, always with seconds and sign inverted the POSIX way: a device whose
  ``localTime`` ends in ``-05:00`` reports ``CST+5:00:00``, one in ``+08:00`` reports ``CST-8:00:00``.
  Its DST part is its own: after the literal name ``DST`` comes the amount of saving, not a second
  offset (``CST-1:00:00DST01:00:00,M3.5.0/02:00:00,M10.5.0/03:00:00`` is Madrid).
- Dahua (and the Dahua driver's ``UTC+08:00``) write the offset the human way round, two-digit hours:
  ``GMT+08:00`` is UTC+8. Only that exact form is read the human way; ``GMT+8`` stays POSIX (UTC-8).
- Some devices and every site config use IANA names (``Asia/Shanghai``, ``Etc/UTC``, ``UTC``, ``GMT``).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CLOCK = r"(?P<{0}sign>[+-]?)(?P<{0}h>\d{{1,3}})(?::(?P<{0}m>\d{{1,2}}))?(?::(?P<{0}s>\d{{1,2}}))?"
_NAME = r"[A-Za-z]{3,6}|<[A-Za-z0-9+-]{3,}>"
_POSIX = re.compile(
    rf"^(?P<std>{_NAME}){_CLOCK.format('o')}"
    rf"(?:(?P<dst>{_NAME})(?:{_CLOCK.format('d')})?(?:,(?P<start>[^,]+),(?P<end>[^,]+))?)?$")
_RULE = re.compile(rf"^(?:M(?P<month>\d{{1,2}})\.(?P<week>\d)\.(?P<day>\d)|J(?P<julian>\d{{1,3}})|(?P<zero>\d{{1,3}}))"
                   rf"(?:/{_CLOCK.format('t')})?$")
# Dahua's human notation, and the "(GMT+08:00) Beijing, ..." labels of vendors' web pages.
_HUMAN = re.compile(r"^\(?(?:UTC|GMT)\s?(?P<sign>[+-])(?P<h>\d{2}):(?P<m>\d{2})\)?(?:\s.*)?$", re.IGNORECASE)
#: Names for UTC that ZoneInfo does not know.
_UTC_NAMES = {"Z", "UT"}


class TimeZoneError(ValueError):
    """A device's time-zone string that cannot be read; the message says what is wrong with it."""


def _seconds(match: re.Match[str], prefix: str, limit_hours: int) -> int:
    hours = int(match[f"{prefix}h"])
    minutes, seconds = int(match[f"{prefix}m"] or 0), int(match[f"{prefix}s"] or 0)
    if hours > limit_hours or minutes > 59 or seconds > 59:
        raise TimeZoneError(f"time {match.group(0)!r} out of range")
    total = hours * 3600 + minutes * 60 + seconds
    return -total if match[f"{prefix}sign"] == "-" else total


class Rule:
    """One POSIX DST transition rule: ``Mm.w.d``, ``Jn`` or ``n``, with its local time of day."""

    def __init__(self, text: str) -> None:
        match = _RULE.match(text)
        if match is None:
            raise TimeZoneError(f"bad DST rule {text!r}")
        self.text = text
        self.month, self.week, self.day = (int(match[k]) if match[k] else 0 for k in ("month", "week", "day"))
        self.julian = int(match["julian"]) if match["julian"] else None
        self.zero = int(match["zero"]) if match["zero"] else None
        bad = (self.julian is None and self.zero is None and not (1 <= self.month <= 12 and 1 <= self.week <= 5
                                                                 and self.day <= 6))
        if bad or (self.julian is not None and not 1 <= self.julian <= 365) or (self.zero or 0) > 365:
            raise TimeZoneError(f"bad DST rule {text!r}")
        self.at = timedelta(seconds=_seconds(match, "t", 167) if match["th"] else 2 * 3600)

    def local(self, year: int) -> datetime:
        """The transition in `year`, as naive local time (in the time in force just before it)."""
        if self.julian is not None:  # 1..365, February 29 never counted
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            day = date(year, 1, 1) + timedelta(days=self.julian - 1 + (1 if leap and self.julian >= 60 else 0))
        elif self.zero is not None:  # 0..365, February 29 counted
            day = date(year, 1, 1) + timedelta(days=self.zero)
        else:  # day d (0 = Sunday) of week w (5 = the last) of month m
            first = date(year, self.month, 1)
            day = first + timedelta(days=(self.day - (first.weekday() + 1) % 7) % 7 + 7 * (self.week - 1))
            while day.month != self.month:
                day -= timedelta(days=7)
        return datetime(day.year, day.month, day.day) + self.at


class DeviceZone(tzinfo):
    """A standard offset with an optional yearly DST rule, as a POSIX or Hikvision string describes it."""

    def __init__(self, text: str, standard: timedelta, saving: timedelta = timedelta(0),
                 start: Rule | None = None, end: Rule | None = None) -> None:
        self.text, self.standard, self.saving, self.start, self.end = text, standard, saving, start, end

    def __repr__(self) -> str:
        return f"DeviceZone({self.text!r})"

    def _dst_at_utc(self, utc: datetime) -> bool:
        if self.start is None or self.end is None or not self.saving:
            return False
        year = (utc + self.standard).year
        begin = self.start.local(year) - self.standard  # in standard time until it starts
        finish = self.end.local(year) - self.standard - self.saving  # in daylight time until it ends
        return begin <= utc < finish if begin <= finish else (utc >= begin or utc < finish)

    def _dst_at_local(self, local: datetime) -> bool:
        """Whether a wall-clock time is daylight time; the hour repeated in autumn is told apart by
        `fold` (PEP 495): 0 is its first pass (daylight), 1 its second (standard)."""
        wall = local.replace(tzinfo=None)
        as_daylight = self._dst_at_utc(wall - self.standard - self.saving)
        as_standard = not self._dst_at_utc(wall - self.standard)
        if as_daylight and as_standard:
            return local.fold == 0
        return as_daylight

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.standard + (self.saving if dt is not None and self._dst_at_local(dt) else timedelta(0))

    def dst(self, dt: datetime | None) -> timedelta:
        return self.saving if dt is not None and self._dst_at_local(dt) else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self.text

    def fromutc(self, dt: datetime) -> datetime:
        utc = dt.replace(tzinfo=None)
        daylight = self._dst_at_utc(utc)
        wall = utc + self.standard + (self.saving if daylight else timedelta(0))
        # The second pass through the repeated autumn hour is marked so its offset reads back right.
        repeated = not daylight and bool(self.saving) and self._dst_at_utc(wall - self.standard - self.saving)
        return wall.replace(tzinfo=self, fold=1 if repeated else 0)


def _posix(text: str) -> DeviceZone:
    match = _POSIX.match(text)
    if match is None:
        raise TimeZoneError(f"unrecognised time zone {text!r}")
    standard = timedelta(seconds=-_seconds(match, "o", 24))  # POSIX offsets are west of Greenwich
    if not match["dst"]:
        return DeviceZone(text, standard)
    if not match["start"]:
        raise TimeZoneError(f"time zone {text!r} names daylight time but not when it applies")
    if match["dh"] is None:
        saving = timedelta(hours=1)
    elif match["dst"] == "DST":
        # Hikvision: "DST01:00:00" is the amount the clock goes forward, not a POSIX offset. (Real POSIX
        # strings name daylight time by its abbreviation: EDT, CEST, <+04>.)
        saving = timedelta(seconds=abs(_seconds(match, "d", 24)))
    else:
        saving = timedelta(seconds=-_seconds(match, "d", 24)) - standard
    return DeviceZone(text, standard, saving, Rule(match["start"]), Rule(match["end"]))


# A device's zone string is read again for every timestamp it writes (a simulator's recording search
# formats tens of thousands); the parse is pure and its zones are never changed, so one per string.
@functools.lru_cache(maxsize=256)
def parse_zone(text: str | None) -> tzinfo:
    """The zone a device's (or a config's) time-zone string means, in any of the notations above."""
    if text is None or not text.strip():
        raise TimeZoneError("no time zone given")
    text = text.strip()
    if text.upper() in _UTC_NAMES:
        return timezone.utc
    human = _HUMAN.match(text)
    if human:
        minutes = int(human["h"]) * 60 + int(human["m"])
        if minutes > 14 * 60 or int(human["m"]) > 59:
            raise TimeZoneError(f"time zone offset out of range in {text!r}")
        return timezone(timedelta(minutes=-minutes if human["sign"] == "-" else minutes))
    if "," not in text and "<" not in text:
        try:
            return ZoneInfo(text)  # IANA first: EST5EDT and CST6CDT are zones with their DST history too
        except (ZoneInfoNotFoundError, ValueError):
            pass
    zone = _posix(text)
    if abs(zone.standard) > timedelta(hours=15):
        raise TimeZoneError(f"time zone offset out of range in {text!r}")
    return zone


def utc_offset(text: str | None, at: datetime | None = None) -> timedelta | None:
    """The offset from UTC the string means at `at` (now by default, DST honoured); None if unreadable."""
    try:
        zone = parse_zone(text)
    except TimeZoneError:
        return None
    return (at or datetime.now(timezone.utc)).astimezone(zone).utcoffset()


def format_posix(offset: timedelta, name: str = "CST") -> str:
    """UTC+8 → ``CST-8:00:00``: the string a Hikvision device reports for a zone without DST."""
    total = int(offset.total_seconds())
    sign = "-" if total > 0 else "+"  # UTC itself is written "+0:00:00", as Hikvision devices write it
    total = abs(total)
    return f"{name}{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def device_string(setting: str, now: datetime | None = None) -> str:
    """A simulator fault's `time_zone` (any notation) → the POSIX string a device reports: as given if it is
    already one, else its offset now (an IANA name or ``UTC+08:00`` has no POSIX spelling of its history)."""
    zone = parse_zone(setting)
    if isinstance(zone, DeviceZone):
        return setting.strip()
    offset = (now or datetime.now(timezone.utc)).astimezone(zone).utcoffset() or timedelta(0)
    return format_posix(offset, "UTC" if not offset else "CST")

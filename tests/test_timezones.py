"""ONE parser for every vendor's time-zone notation (issue 13, item 12): a table of what devices write.

Conventions checked against real replies (see the module docstring of watchkeeper.core.timezones):
Hikvision's ``<localTime>…-05:00</localTime>`` comes with ``<timeZone>CST+5:00:00</timeZone>``, i.e.
POSIX west-positive offsets, and ``DST01:00:00`` after its zone is the saving, not an offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from watchkeeper.core.timezones import (
    DeviceZone,
    TimeZoneError,
    device_string,
    format_posix,
    parse_zone,
    utc_offset,
)

WINTER = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
SUMMER = datetime(2026, 7, 15, 12, 0, tzinfo=timezone.utc)
H = lambda hours: timedelta(hours=hours)  # noqa: E731

#: (what a device or a config writes, who writes it that way, UTC offset in January, in July)
TABLE = [
    ("UTC", "IANA / ONVIF devices on UTC", H(0), H(0)),
    ("GMT", "IANA alias", H(0), H(0)),
    ("Etc/UTC", "IANA", H(0), H(0)),
    ("Z", "ISO 8601", H(0), H(0)),
    ("UTC+00:00", "the Dahua driver's report", H(0), H(0)),
    ("UTC0", "POSIX", H(0), H(0)),
    ("CST-8", "ONVIF POSIX", H(8), H(8)),
    ("GMT-8", "ONVIF POSIX (sign west-positive)", H(8), H(8)),
    ("CST-8:00:00", "Hikvision, China", H(8), H(8)),
    ("CST+5:00:00", "Hikvision, localTime -05:00", H(-5), H(-5)),
    ("CST+8", "POSIX: west of Greenwich", H(-8), H(-8)),
    ("GMT+08:00", "Dahua, China (human sign)", H(8), H(8)),
    ("GMT-05:00", "Dahua (human sign)", H(-5), H(-5)),
    ("(GMT+08:00) Beijing, Chongqing, Hong Kong, Urumqi", "vendor web-page label", H(8), H(8)),
    ("IST-5:30:00", "Hikvision, India", H(5.5), H(5.5)),
    ("NPT-5:45:00", "Hikvision, Nepal", H(5.75), H(5.75)),
    ("<+0530>-5:30", "POSIX quoted name", H(5.5), H(5.5)),
    ("<+03>-3", "POSIX quoted name", H(3), H(3)),
    ("JST-9", "POSIX", H(9), H(9)),
    ("EST5EDT,M3.2.0,M11.1.0", "POSIX with US rules", H(-5), H(-4)),
    ("EST5EDT", "IANA legacy zone", H(-5), H(-4)),
    ("CET-1CEST,M3.5.0,M10.5.0/3", "POSIX, central Europe", H(1), H(2)),
    ("CST-1:00:00DST01:00:00,M3.5.0/02:00:00,M10.5.0/03:00:00", "Hikvision, Madrid", H(1), H(2)),
    ("CST+0:00:00DST01:00:00,M3.5.0/01:00:00,M10.5.0/02:00:00", "Hikvision, London", H(0), H(1)),
    ("EST+5:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00", "Hikvision, New York", H(-5), H(-4)),
    ("AEST-10:00:00DST01:00:00,M10.1.0/02:00:00,M4.1.0/03:00:00", "Hikvision, Sydney", H(11), H(10)),
    ("CST+4:00:00DST01:00:00,M9.1.6/24:00:00,M4.1.6/24:00:00", "Hikvision, Chile (24:00 transitions)", H(-3), H(-4)),
    ("AEST-10AEDT,M10.1.0,M4.1.0/3", "POSIX, Sydney", H(11), H(10)),
    ("NZST-12NZDT-13,M9.5.0,M4.1.0/3", "POSIX with an explicit DST offset", H(13), H(12)),
    ("<+0330>-3:30<+0430>,J79/24,J263/24", "POSIX Julian-day rules", H(3.5), H(4.5)),
    ("Asia/Shanghai", "IANA, site configs", H(8), H(8)),
    ("America/New_York", "IANA", H(-5), H(-4)),
    ("Etc/GMT-8", "IANA (POSIX sign inside)", H(8), H(8)),
]


@pytest.mark.parametrize(("text", "who", "winter", "summer"), TABLE, ids=[row[0] for row in TABLE])
def test_every_notation(text: str, who: str, winter: timedelta, summer: timedelta) -> None:
    assert utc_offset(text, WINTER) == winter, who
    assert utc_offset(text, SUMMER) == summer, who
    zone = parse_zone(text)
    # Local times convert both ways: UTC → local → UTC is the identity, in both seasons.
    for moment in (WINTER, SUMMER):
        assert moment.astimezone(zone).astimezone(timezone.utc) == moment


@pytest.mark.parametrize("text", [
    "", "   ", None, "junk", "Nowhere/City", "MoroccoStandardTime0", "8", "CST-28:00:00", "GMT+25:00",
    "CST-8:00:00DST,M13.1.0,M1.1.0", "CET-1CEST", "CST-8:61",
])
def test_unreadable_strings_are_refused_not_guessed(text: str | None) -> None:
    with pytest.raises(TimeZoneError):
        parse_zone(text)
    assert utc_offset(text) is None


def test_dst_transitions_happen_at_the_local_times_the_rules_say() -> None:
    zone = parse_zone("EST+5:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00")
    # 2026: daylight time from Sunday 8 March 02:00 EST (07:00 UTC) to Sunday 1 November 02:00 EDT (06:00 UTC).
    assert datetime(2026, 3, 8, 6, 59, tzinfo=timezone.utc).astimezone(zone).utcoffset() == H(-5)
    assert datetime(2026, 3, 8, 7, 0, tzinfo=timezone.utc).astimezone(zone).utcoffset() == H(-4)
    assert datetime(2026, 11, 1, 5, 59, tzinfo=timezone.utc).astimezone(zone).utcoffset() == H(-4)
    assert datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc).astimezone(zone).utcoffset() == H(-5)
    # A device's wall-clock time read in its zone (how Hikvision and ONVIF LocalDateTime are turned to UTC).
    assert datetime(2026, 7, 1, 12, 0, tzinfo=zone).astimezone(timezone.utc).hour == 16
    assert datetime(2026, 1, 1, 12, 0, tzinfo=zone).astimezone(timezone.utc).hour == 17
    assert zone.utcoffset(None) == H(-5) and isinstance(zone, DeviceZone)


def test_simulator_strings_round_trip() -> None:
    assert format_posix(H(8)) == "CST-8:00:00"
    assert format_posix(-H(3.5)) == "CST+3:30:00"
    assert device_string("CST-8:00:00") == "CST-8:00:00"
    assert device_string("UTC") == "UTC+0:00:00" and utc_offset(device_string("UTC")) == H(0)
    assert utc_offset(device_string("Asia/Kolkata")) == H(5.5)
    assert utc_offset(device_string("GMT+08:00")) == H(8)
    with pytest.raises(TimeZoneError):
        device_string("Mars/Olympus")

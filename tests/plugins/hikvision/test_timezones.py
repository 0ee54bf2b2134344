"""Hikvision's POSIX-style time zone strings, sign inverted, with Hikvision's DST notation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from watchkeeper.plugins.hikvision.timezones import (
    TimeZoneError,
    format_time_zone,
    parse_time_zone,
    zone_from_setting,
)


@pytest.mark.parametrize("text, hours", [
    ("CST-8:00:00", 8), ("GMT+0:00:00", 0), ("EST+5:00:00", -5), ("IST-5:30:00", 5.5),
    ("NPT-5:45:00", 5.75), ("JST-9", 9), ("<+03>-3", 3),
])
def test_standard_offsets_have_inverted_sign(text: str, hours: float) -> None:
    assert parse_time_zone(text).utcoffset(datetime(2026, 1, 15)) == timedelta(hours=hours)


def test_dst_rule_with_hikvision_saving_amount() -> None:
    zone = parse_time_zone("EST+5:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00")
    assert zone.utcoffset(datetime(2026, 1, 15)) == timedelta(hours=-5)
    assert zone.utcoffset(datetime(2026, 7, 15)) == timedelta(hours=-4)
    # 2026: DST starts Sunday 8 March 02:00 local, ends Sunday 1 November 02:00 local.
    assert zone.utcoffset(datetime(2026, 3, 8, 1, 59)) == timedelta(hours=-5)
    assert zone.utcoffset(datetime(2026, 3, 8, 2, 0)) == timedelta(hours=-4)
    summer_noon_utc = datetime(2026, 7, 1, 16, 0, tzinfo=timezone.utc)
    assert summer_noon_utc.astimezone(zone).hour == 12


def test_southern_hemisphere_dst_wraps_the_year() -> None:
    zone = parse_time_zone("AEST-10:00:00DST01:00:00,M10.1.0/02:00:00,M4.1.0/03:00:00")
    assert zone.utcoffset(datetime(2026, 1, 10)) == timedelta(hours=11)
    assert zone.utcoffset(datetime(2026, 6, 10)) == timedelta(hours=10)


@pytest.mark.parametrize("bad", ["", "Asia/Shanghai", "CST-28:00:00", "CST-8:00:00DST,M13.1.0,M1.1.0", "8"])
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(TimeZoneError):
        parse_time_zone(bad)


def test_formatting_and_fault_settings_round_trip() -> None:
    assert format_time_zone(timedelta(hours=8)) == "CST-8:00:00"
    assert format_time_zone(timedelta(hours=-3, minutes=-30)) == "CST+3:30:00"
    assert zone_from_setting("CST-8:00:00") == "CST-8:00:00"
    assert parse_time_zone(zone_from_setting("Asia/Kolkata")).utcoffset(None) == timedelta(hours=5, minutes=30)
    with pytest.raises(TimeZoneError):
        zone_from_setting("Mars/Olympus")

"""The pure parts of the clock and retention rules: time-zone strings, coverage and gaps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from watchkeeper.core.models import ClockReading, RecordingSegment
from watchkeeper.rules.clock import zone_problem
from watchkeeper.rules.retention import daily_coverage, gaps_between, merge
from watchkeeper.core.timezones import standard_offset

T0 = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)  # midnight in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("text", "hours"), [
    ("CST-8:00:00", 8), ("CST-8", 8), ("GMT-8", 8), ("<+08>-8", 8), ("GMT+08:00", 8), ("UTC0", 0),
    ("EST5EDT,M3.2.0,M11.1.0", -5), ("Asia/Shanghai", 8), ("CET-1CEST,M3.5.0,M10.5.0/3", 1),
])
def test_standard_offsets(text: str, hours: int) -> None:
    assert standard_offset(text, T0) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["", "junk", "Nowhere/City", None])
def test_unreadable_zones(text: str | None) -> None:
    assert standard_offset(text) is None


def test_zone_problem() -> None:
    reading = ClockReading(T0, T0, 0.01, time_zone="CST-8:00:00")
    assert zone_problem(reading, SHANGHAI, T0) is None
    wrong = ClockReading(T0, T0, 0.01, time_zone="EST5EDT")
    assert zone_problem(wrong, SHANGHAI, T0) == "device time zone 'EST5EDT' is UTC-05:00, the site is UTC+08:00"
    assert "cannot be read" in zone_problem(ClockReading(T0, T0, 0.0, time_zone="???"), SHANGHAI, T0)


def segment(start_hours: float, end_hours: float) -> RecordingSegment:
    return RecordingSegment(1, T0 + timedelta(hours=start_hours), T0 + timedelta(hours=end_hours))


def test_merge_and_gaps() -> None:
    covered = merge([segment(2, 3), segment(0, 1), segment(0.5, 2.0), segment(5, 6)])
    assert covered == [(T0, T0 + timedelta(hours=3)), (T0 + timedelta(hours=5), T0 + timedelta(hours=6))]
    gaps = gaps_between(covered, T0, T0 + timedelta(hours=8), threshold=60)
    assert gaps == [(T0 + timedelta(hours=3), T0 + timedelta(hours=5)),
                    (T0 + timedelta(hours=6), T0 + timedelta(hours=8))]
    assert gaps_between(merge([segment(0, 1), segment(1.01, 2)]), T0, T0 + timedelta(hours=2), threshold=60) == []


def test_daily_coverage_in_site_days() -> None:
    covered = merge([segment(0, 12), segment(30, 36)])
    days = daily_coverage(covered, T0, T0 + timedelta(hours=48), SHANGHAI)
    assert days == {"2026-11-28": (12 * 3600.0, 86400.0), "2026-11-29": (6 * 3600.0, 86400.0)}

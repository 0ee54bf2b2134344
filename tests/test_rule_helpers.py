"""The pure parts of the clock and retention rules: the zone comparison, coverage and gaps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from watchkeeper.core.models import ClockReading, RecordingSegment
from watchkeeper.rules.clock import zone_problem
from watchkeeper.rules.retention import daily_coverage, gaps_between, merge

T0 = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)  # midnight in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_zone_problem() -> None:
    reading = ClockReading(T0, T0, 0.01, time_zone="CST-8:00:00")
    assert zone_problem(reading, SHANGHAI, T0) is None
    wrong = ClockReading(T0, T0, 0.01, time_zone="EST5EDT")
    assert zone_problem(wrong, SHANGHAI, T0) == "device time zone 'EST5EDT' is UTC-05:00, the site is UTC+08:00"
    assert "cannot be read" in zone_problem(ClockReading(T0, T0, 0.0, time_zone="???"), SHANGHAI, T0)
    # Regression (issue 13, item 12): a device on UTC was "cannot be read"; now it is a plain mismatch.
    utc = zone_problem(ClockReading(T0, T0, 0.0, time_zone="UTC"), SHANGHAI, T0)
    assert utc == "device time zone 'UTC' is UTC+00:00, the site is UTC+08:00"


def test_zone_problem_reads_in_chinese() -> None:
    """A time-zone finding's reason is a message with values (stored in English, read in each language)."""
    from watchkeeper.core.i18n import choose_language, localize

    wrong = zone_problem(ClockReading(T0, T0, 0.01, time_zone="EST5EDT"), SHANGHAI, T0)
    unreadable = zone_problem(ClockReading(T0, T0, 0.0, time_zone="???"), SHANGHAI, T0)
    choose_language("zh_CN")
    try:
        shown = [localize(wrong), localize(unreadable)]
    finally:
        choose_language(None)
    assert shown == ["设备时区 'EST5EDT' 为 UTC-05:00，站点为 UTC+08:00", "无法识别设备时区 '???'"]


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

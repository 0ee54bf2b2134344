"""Value classes: aware times, secrets that never show, findings that know their clause."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from watchkeeper.devices.drivers import DeviceError, with_timeout
from watchkeeper.simulation.faults import FaultSpecError, Hostile, ImageFault, parse_faults
from watchkeeper.core.findings import FINDING_KINDS, Finding, FindingKind, Severity
from watchkeeper.core.models import ClockReading, Endpoint, RecordingSegment


def test_secret_never_shows() -> None:
    endpoint = Endpoint("hikvision", "127.0.0.1", 80, "admin", "hunter2")
    assert "hunter2" not in repr(endpoint) and "hunter2" not in str(endpoint.password)
    assert endpoint.password.reveal() == "hunter2"


def test_naive_times_are_refused_and_aware_ones_normalised() -> None:
    with pytest.raises(ValueError, match="naive"):
        RecordingSegment(1, datetime(2026, 1, 1), datetime(2026, 1, 2))
    shanghai = timezone(timedelta(hours=8))
    reading = ClockReading(datetime(2026, 1, 1, 8, 0, 45, tzinfo=shanghai),
                           datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc), 0.01)
    assert reading.offset == 45.0 and reading.device_time.tzinfo is timezone.utc


def test_every_finding_kind_has_a_table_row() -> None:
    assert set(FINDING_KINDS) == set(FindingKind)
    finding = Finding(FindingKind.CLOCK_OFFSET, "gate", "47 s ahead", measured=47.0, threshold=30.0)
    assert finding.severity is Severity.FAULT and finding.clause == "R7"
    assert finding.to_dict()["kind"] == "clock_offset"


async def test_with_timeout_becomes_unreachable() -> None:
    with pytest.raises(DeviceError) as caught:
        await with_timeout(asyncio.sleep(5), 0.05, "deviceInfo")
    assert caught.value.kind is FindingKind.UNREACHABLE and "0.05 s" in caught.value.reason


def test_fault_spec_parsing() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=timezone.utc)
    profile = parse_faults("blur, dark, clock_offset=45, gap=2h@6h, wrong_password, hostile=truncated", now=now)
    assert profile.image == {ImageFault.BLUR, ImageFault.DARK}
    assert profile.clock_offset == 45 and profile.wrong_password and profile.hostile is Hostile.TRUNCATED
    assert profile.gaps == ((now - timedelta(hours=8), now - timedelta(hours=6)),)
    with pytest.raises(FaultSpecError, match="unknown fault 'sparkles'"):
        parse_faults("sparkles")
    with pytest.raises(FaultSpecError, match="clock_offset=soon"):
        parse_faults("clock_offset=soon")


def test_endpoint_options_are_read_as_the_type_of_their_default() -> None:
    import pytest

    from watchkeeper.core.models import Endpoint

    endpoint = Endpoint("acme", "127.0.0.1", 80, device_id="gate",
                        options={"rtsp_port": 8554, "idle": 5, "https": True, "name": "x"})
    assert endpoint.option("rtsp_port", 554) == 8554 and endpoint.option("absent", 554) == 554
    assert endpoint.option("idle", 30.0) == 5.0 and isinstance(endpoint.option("idle", 30.0), float)
    assert endpoint.option("https", False) is True and endpoint.option("name", "") == "x"
    for name, default in (("rtsp_port", False), ("https", 0), ("name", 1.0), ("idle", "")):
        with pytest.raises(ValueError, match=f"gate: option '{name}' must be"):
            endpoint.option(name, default)

"""Camera/recorder driver conformance: types, time zones, timeouts, failures and hostile replies."""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from collections.abc import AsyncGenerator
from typing import Any, Protocol

import attrs
import cv2
import numpy as np
import pytest
import pytest_asyncio

from watchkeeper.devices.drivers import CameraDriver, CapabilityMissing, DeviceError, Platform
from watchkeeper.simulation.faults import FaultProfile, Hostile
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import (
    AuditAction,
    AuditEntry,
    Capability,
    ClockReading,
    DeviceEventKind,
    DeviceInfo,
    Disk,
    DiskStatus,
    Endpoint,
    RecordingSegment,
)
from watchkeeper.host.pluginhost import collect_platforms, load_plugins
from watchkeeper.testing.records import CameraRecordsConformance

#: A hostile reply may cost the driver this much Python memory at most (a 50 MB body must not be held).
MEMORY_BOUND_BYTES = 16 * 1024 * 1024
#: Slack on top of the endpoint timeout for a call to give up.
TIMEOUT_SLACK = 1.5


class SimulatedDevice(Protocol):
    """What the kit needs from a running simulator of one device."""

    endpoint: Endpoint

    def set_faults(self, faults: FaultProfile, channel: int | None = None) -> None:
        """Apply a fault profile to the device (channel None) or one channel; a new profile replaces the old."""

    async def trigger_event(self, kind: DeviceEventKind, channel: int) -> None:
        """Make the device emit an event (only needed when the driver declares EVENTS).

        `DeviceEventKind.REBOOT` restarts the device instead: every event stream and subscription is
        dropped and connections fail for a moment, as when a real device reboots.
        """


def free_port() -> int:
    """A loopback port nobody listens on (for the dead-device test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _expect_failure(call: Any, kinds: set[FindingKind], limit: float) -> DeviceError:
    started = time.monotonic()
    with pytest.raises(DeviceError) as caught:
        await asyncio.wait_for(call, limit + 5)
    elapsed = time.monotonic() - started
    assert caught.value.kind in kinds, f"expected one of {sorted(kinds)}, got {caught.value.kind}: {caught.value.reason}"
    assert elapsed <= limit, f"gave up after {elapsed:.1f} s, allowed {limit:.1f} s"
    return caught.value


class CameraDriverConformance(CameraRecordsConformance):
    """Subclass this in your plugin's tests; set `platform` and define `simulated_device`."""

    platform: str = ""
    channel: int = 1
    timeout: float = 2.0

    @pytest.fixture
    def platform_record(self) -> Platform:
        platforms = collect_platforms(load_plugins())
        assert self.platform in platforms, f"platform {self.platform!r} is not registered"
        record = platforms[self.platform]
        assert record.camera_driver is not None, f"platform {self.platform!r} has no camera driver"
        return record

    def make_driver(self, platform_record: Platform, endpoint: Endpoint) -> CameraDriver:
        factory = platform_record.camera_driver
        assert factory is not None, f"platform {self.platform!r} has no camera driver"
        return factory(attrs.evolve(endpoint, timeout=self.timeout))

    @pytest_asyncio.fixture
    async def driver(self, platform_record: Platform, simulated_device: SimulatedDevice) -> Any:
        driver = self.make_driver(platform_record, simulated_device.endpoint)
        yield driver
        await driver.close()

    # --- shape --------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_satisfies_protocol(self, driver: CameraDriver) -> None:
        assert isinstance(driver, CameraDriver)
        assert isinstance(driver.capabilities, frozenset)
        assert all(isinstance(c, Capability) for c in driver.capabilities)

    @pytest.mark.asyncio
    async def test_device_info(self, driver: CameraDriver) -> None:
        info = await driver.device_info()
        assert isinstance(info, DeviceInfo)
        assert info.manufacturer and info.model
        assert isinstance(info.channels, int) and info.channels >= 1

    @pytest.mark.asyncio
    async def test_clock_is_aware_and_close(self, driver: CameraDriver) -> None:
        reading = await driver.get_clock()
        assert isinstance(reading, ClockReading)
        assert reading.device_time.tzinfo is not None and reading.host_time.tzinfo is not None
        assert abs(reading.offset) < 3, f"healthy device offset {reading.offset:.1f} s"
        assert 0 <= reading.round_trip < self.timeout

    @pytest.mark.asyncio
    async def test_clock_offset_is_measured(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        simulated_device.set_faults(FaultProfile(clock_offset=45))
        reading = await driver.get_clock()
        assert 42 <= reading.offset <= 48, f"offset {reading.offset:.1f} s for a device 45 s ahead"

    @pytest.mark.asyncio
    async def test_undeclared_capabilities_refuse(self, driver: CameraDriver) -> None:
        now = datetime.now(timezone.utc)
        calls = {
            Capability.SNAPSHOT: lambda: driver.snapshot(self.channel),
            Capability.STREAM: lambda: driver.stream_uri(self.channel),
            Capability.PLAYBACK: lambda: driver.playback_uri(self.channel, now - timedelta(hours=1), now),
            Capability.RECORDINGS: lambda: driver.recordings(self.channel, now - timedelta(hours=1), now),
            Capability.STORAGE: lambda: driver.storage(),
            Capability.SET_CLOCK: lambda: driver.set_clock(now),
            Capability.NTP: lambda: driver.set_ntp(["192.0.2.1"]),
            Capability.CLIP_DOWNLOAD: lambda: driver.download_clip(self.channel, now - timedelta(minutes=1), now,
                                                                   Path("/nonexistent/clip.mp4")),
            Capability.AUDIT_LOG: lambda: driver.audit_log(now - timedelta(hours=1), now),
        }
        for capability, call in calls.items():
            if capability not in driver.capabilities:
                with pytest.raises(CapabilityMissing):
                    await call()

    # --- declared capabilities ----------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_snapshot_is_a_jpeg(self, driver: CameraDriver) -> None:
        if Capability.SNAPSHOT not in driver.capabilities:
            pytest.skip("driver does not declare SNAPSHOT")
        data = await driver.snapshot(self.channel)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] > 0 and image.shape[2] == 3

    @pytest.mark.asyncio
    async def test_stream_uri_has_no_credentials(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        if Capability.STREAM not in driver.capabilities:
            pytest.skip("driver does not declare STREAM")
        uri = await driver.stream_uri(self.channel)
        assert uri.startswith("rtsp://"), uri
        password = simulated_device.endpoint.password.reveal()
        assert not password or password not in uri

    @pytest.mark.asyncio
    async def test_recordings_and_gaps(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        if Capability.RECORDINGS not in driver.capabilities:
            pytest.skip("driver does not declare RECORDINGS")
        end = datetime.now(timezone.utc).replace(microsecond=0)
        start = end - timedelta(hours=24)
        segments = await driver.recordings(self.channel, start, end)
        assert segments, "a healthy recorder has recordings for the last day"
        for segment in segments:
            assert isinstance(segment, RecordingSegment)
            assert segment.start < segment.end
            assert segment.end > start and segment.start < end
        assert [s.start for s in segments] == sorted(s.start for s in segments)
        gap = (end - timedelta(hours=5), end - timedelta(hours=3))
        simulated_device.set_faults(FaultProfile(gaps=(gap,)))
        middle = gap[0] + (gap[1] - gap[0]) / 2
        segments = await driver.recordings(self.channel, start, end)
        assert not any(s.start <= middle < s.end for s in segments), "a segment covers the injected gap"

    @pytest.mark.asyncio
    async def test_audit_log_entries_are_typed(self, driver: CameraDriver) -> None:
        """R9 reads the device's own log every day: aware times, oldest first, each with an action."""
        if Capability.AUDIT_LOG not in driver.capabilities:
            pytest.skip("driver does not declare AUDIT_LOG")
        end = datetime.now(timezone.utc) + timedelta(minutes=1)
        await driver.device_info()  # devices log the session this opens
        entries = await driver.audit_log(end - timedelta(hours=2), end)
        assert all(isinstance(e, AuditEntry) and e.time.tzinfo is not None for e in entries)
        assert all(isinstance(e.action, AuditAction) for e in entries)
        assert [e.time for e in entries] == sorted(e.time for e in entries)

    @pytest.mark.asyncio
    async def test_storage_reports_disk_error(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        if Capability.STORAGE not in driver.capabilities:
            pytest.skip("driver does not declare STORAGE")
        disks = await driver.storage()
        assert disks and all(isinstance(d, Disk) for d in disks)
        assert all(d.status is DiskStatus.OK for d in disks)
        simulated_device.set_faults(FaultProfile(disk_error=True))
        disks = await driver.storage()
        assert any(d.status is DiskStatus.ERROR for d in disks)

    @pytest.mark.asyncio
    async def test_events_arrive(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        if Capability.EVENTS not in driver.capabilities:
            pytest.skip("driver does not declare EVENTS")
        events = driver.events()

        async def first_video_loss() -> Any:
            async for event in events:
                if event.kind is DeviceEventKind.VIDEO_LOSS:
                    return event
            return None

        waiter = asyncio.create_task(first_video_loss())
        await asyncio.sleep(0.5)
        await simulated_device.trigger_event(DeviceEventKind.VIDEO_LOSS, self.channel)
        try:
            event = await asyncio.wait_for(waiter, 10)
        finally:
            waiter.cancel()
            if isinstance(events, AsyncGenerator):
                await events.aclose()
        assert event is not None and event.channel == self.channel
        assert event.time.tzinfo is not None

    # --- failures -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_wrong_password_is_auth_failed(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        simulated_device.set_faults(FaultProfile(wrong_password=True))
        error = await _expect_failure(driver.device_info(), {FindingKind.AUTH_FAILED}, self.timeout + TIMEOUT_SLACK)
        password = simulated_device.endpoint.password.reveal()
        assert password not in error.reason and password not in repr(driver)

    @pytest.mark.asyncio
    async def test_dead_device_is_unreachable(self, platform_record: Platform, simulated_device: SimulatedDevice) -> None:
        endpoint = attrs.evolve(simulated_device.endpoint, port=free_port())
        driver = self.make_driver(platform_record, endpoint)
        try:
            await _expect_failure(driver.device_info(), {FindingKind.UNREACHABLE}, self.timeout + TIMEOUT_SLACK)
        finally:
            await driver.close()

    @pytest.mark.asyncio
    async def test_slow_device_times_out(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        simulated_device.set_faults(FaultProfile(slow=self.timeout * 4))
        await _expect_failure(driver.device_info(), {FindingKind.UNREACHABLE}, self.timeout + TIMEOUT_SLACK)

    @pytest.mark.asyncio
    async def test_dropped_reply(self, driver: CameraDriver, simulated_device: SimulatedDevice) -> None:
        simulated_device.set_faults(FaultProfile(drop=True))
        await _expect_failure(driver.device_info(), {FindingKind.UNREACHABLE, FindingKind.PROTOCOL_ERROR},
                              self.timeout + TIMEOUT_SLACK)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("hostile", list(Hostile))
    async def test_hostile_reply_is_protocol_error(self, driver: CameraDriver, simulated_device: SimulatedDevice,
                                                   hostile: Hostile) -> None:
        await driver.device_info()  # authenticate first: the hostile reply comes from a trusted device
        simulated_device.set_faults(FaultProfile(hostile=hostile))
        tracemalloc.start()
        try:
            await _expect_failure(driver.device_info(), {FindingKind.PROTOCOL_ERROR},
                                  self.timeout + TIMEOUT_SLACK + 3)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_BOUND_BYTES, f"{hostile}: driver used {peak / 1e6:.1f} MB"

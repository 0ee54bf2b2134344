"""Camera conformance, second half: clips and replays decode, clocks set, time zones read, full disks, reboots."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio

from watchkeeper.analysis.metrics import sample_video
from watchkeeper.core.models import Capability, DeviceEvent, DeviceEventKind, DiskStatus, Endpoint
from watchkeeper.core.timezones import utc_offset
from watchkeeper.devices.drivers import CameraDriver, DeviceError
from watchkeeper.rules.inspection import read_stream
from watchkeeper.simulation.faults import FaultProfile

#: Time zones in every notation devices report them in: POSIX TZ as ONVIF and Hikvision send it (west of
#: Greenwich is positive; minutes and seconds optional; a name in angle brackets), GMT±hh:mm as Dahua's
#: TimeZoneDesc writes it (east is positive), and IANA names. The kit sets each as the device's zone;
#: the simulator reports it in its own notation, and the driver must read the device's local time in it.
ZONE_NOTATIONS: tuple[tuple[str, timedelta], ...] = (
    ("CST-8", timedelta(hours=8)),
    ("CST-8:00:00", timedelta(hours=8)),
    ("GMT+08:00", timedelta(hours=8)),
    ("Asia/Shanghai", timedelta(hours=8)),
    ("IST-5:30", timedelta(hours=5, minutes=30)),
    ("<+0545>-5:45", timedelta(hours=5, minutes=45)),
    ("UTC0", timedelta()),
    ("BRT3", timedelta(hours=-3)),
    ("GMT-03:00", timedelta(hours=-3)),
)
#: An event must arrive this long after it was triggered, once the driver is subscribed.
EVENT_SECONDS = 10.0
#: A rebooted device is back, and the driver subscribed again, within this long.
REBOOT_SECONDS = 45.0


class _Device(Protocol):
    endpoint: Endpoint

    def set_faults(self, faults: FaultProfile, channel: int | None = None) -> None: ...

    async def trigger_event(self, kind: DeviceEventKind, channel: int) -> None: ...


async def _next_event(device: _Device, received: asyncio.Queue[DeviceEvent], channel: int, within: float,
                      stream: asyncio.Task[None] | None = None) -> DeviceEvent:
    """Trigger video loss every second until the driver delivers one: how long a subscription takes is the
    driver's business, delivering what happens once it is up is the contract. A `stream` (the task pumping
    the driver's events) that has ended can deliver nothing more: that fails at once, not after `within`."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        await device.trigger_event(DeviceEventKind.VIDEO_LOSS, channel)
        try:
            while True:
                event = await asyncio.wait_for(received.get(), 1.0)
                if event.kind is DeviceEventKind.VIDEO_LOSS:
                    return event
        except TimeoutError:
            if stream is not None and stream.done() and received.empty():
                raise AssertionError("the event stream ended instead of delivering (or subscribing again)") from (
                    None if stream.cancelled() else stream.exception())
            continue
    raise AssertionError(f"no video-loss event within {within:g} s")


class CameraRecordsConformance:
    """Mixed into CameraDriverConformance; uses its `driver`, `simulated_device`, `channel` and `timeout`."""

    channel: int = 1
    timeout: float = 2.0
    #: Set True when the simulator serves RTSP replay: the kit then decodes frames from `playback_uri`.
    serves_replay: bool = False
    #: False where the device's storage status cannot tell a full disk (a Dahua recorder reports every
    #: byte used once formatted; it says "full" only as an event): the kit then checks only that a full
    #: disk is not reported as failed.
    reports_full_disk: bool = True
    #: False where the protocol carries no time zone (GB/T 28181: device times are the platform's zone):
    #: the notation tests are skipped, since a device set to another zone can only show as a clock offset.
    reports_time_zone: bool = True

    @pytest_asyncio.fixture
    async def replay_device(self, simulated_device: Any) -> Any:
        """The device the replay test plays back from; override to start a simulator with RTSP."""
        yield simulated_device

    # --- recorded footage -------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_clip_download_decodes(self, driver: CameraDriver, simulated_device: _Device,
                                         tmp_path: Path) -> None:
        if Capability.CLIP_DOWNLOAD not in driver.capabilities:
            pytest.skip("driver does not declare CLIP_DOWNLOAD")
        now = datetime.now(timezone.utc).replace(microsecond=0)
        start = now - timedelta(hours=2)
        clip = await driver.download_clip(self.channel, start, start + timedelta(seconds=10), tmp_path / "clip.mp4")
        assert clip.is_file() and clip.stat().st_size > 0
        frames = await asyncio.to_thread(lambda: list(sample_video(clip, 2)))
        assert frames, "the downloaded clip holds no decodable frame"
        assert frames[0].ndim == 3 and min(frames[0].shape[:2]) >= 16
        gap = (now - timedelta(hours=5), now - timedelta(hours=3))
        simulated_device.set_faults(FaultProfile(gaps=(gap,)))
        middle = gap[0] + timedelta(minutes=30)
        with pytest.raises(DeviceError):  # an interval with nothing recorded is an error, not an empty clip
            await driver.download_clip(self.channel, middle, middle + timedelta(seconds=10), tmp_path / "none.mp4")

    @pytest.mark.asyncio
    async def test_playback_uri_has_no_credentials(self, driver: CameraDriver, simulated_device: _Device) -> None:
        if Capability.PLAYBACK not in driver.capabilities:
            pytest.skip("driver does not declare PLAYBACK")
        end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
        uri = await driver.playback_uri(self.channel, end - timedelta(seconds=10), end)
        assert uri.startswith("rtsp://"), uri
        password = simulated_device.endpoint.password.reveal()
        assert not password or password not in uri

    @pytest.mark.asyncio
    async def test_replay_decodes(self, platform_record: Any, replay_device: _Device) -> None:
        if not self.serves_replay:
            pytest.skip("the simulator serves no RTSP replay (set serves_replay = True and a replay_device)")
        driver = self.make_driver(platform_record, replay_device.endpoint)  # type: ignore[attr-defined]
        try:
            if Capability.PLAYBACK not in driver.capabilities:
                await driver.device_info()  # drivers that learn their capabilities from the device
            assert Capability.PLAYBACK in driver.capabilities, "serves_replay, but PLAYBACK is not declared"
            end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
            uri = await driver.playback_uri(self.channel, end - timedelta(seconds=10), end)
        finally:
            await driver.close()
        endpoint = replay_device.endpoint
        series = await asyncio.to_thread(read_stream, uri, endpoint, 2)
        assert series.count >= 1 and series.last is not None  # decoded and measured

    # --- clock and time zones ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_set_clock_round_trip(self, driver: CameraDriver, simulated_device: _Device) -> None:
        if Capability.SET_CLOCK not in driver.capabilities:
            pytest.skip("driver does not declare SET_CLOCK")
        # A half-hour zone: a driver that sets local time in the wrong zone is off by hours, not seconds.
        simulated_device.set_faults(FaultProfile(time_zone="IST-5:30"))
        await driver.get_clock()
        await driver.set_clock(datetime.now(timezone.utc) + timedelta(minutes=10))
        moved = await driver.get_clock()
        assert 595 <= moved.offset <= 605, f"set 10 min ahead, the device is {moved.offset:.0f} s ahead"
        await driver.set_clock(datetime.now(timezone.utc))
        back = await driver.get_clock()
        assert abs(back.offset) < 3, f"set to now, the device is {back.offset:.0f} s off"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("notation", [spec for spec, _ in ZONE_NOTATIONS])
    async def test_time_zone_notation(self, driver: CameraDriver, simulated_device: _Device, notation: str) -> None:
        if not self.reports_time_zone:
            pytest.skip("the protocol carries no time zone (reports_time_zone = False)")
        expected = dict(ZONE_NOTATIONS)[notation]
        simulated_device.set_faults(FaultProfile(time_zone=notation))
        reading = await driver.get_clock()
        assert abs(reading.offset) < 3, (f"device set to {notation}: clock {reading.offset:.0f} s off, "
                                         "its local time was read in the wrong zone")
        reported = utc_offset(reading.time_zone, reading.device_time)
        assert reported == expected, (f"device set to {notation} reports {reading.time_zone!r}, which the clock "
                                      f"rule reads as {reported}, not {expected}")

    # --- storage ----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_storage_full(self, driver: CameraDriver, simulated_device: _Device) -> None:
        if Capability.STORAGE not in driver.capabilities:
            pytest.skip("driver does not declare STORAGE")
        simulated_device.set_faults(FaultProfile(disk_full=True))
        disks = await driver.storage()
        assert disks and not any(d.status is DiskStatus.ERROR for d in disks), "a full disk is not a failed one"
        if self.reports_full_disk:
            assert any(d.status is DiskStatus.FULL for d in disks), [d.status for d in disks]
            assert all(d.free_bytes in (0, None) for d in disks if d.status is DiskStatus.FULL)

    # --- events -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_events_resume_after_reboot(self, driver: CameraDriver, simulated_device: _Device) -> None:
        if Capability.EVENTS not in driver.capabilities:
            pytest.skip("driver does not declare EVENTS")
        events = driver.events()
        received: asyncio.Queue[DeviceEvent] = asyncio.Queue()

        async def pump() -> None:
            async for event in events:
                received.put_nowait(event)

        task = asyncio.create_task(pump())
        try:
            await _next_event(simulated_device, received, self.channel, EVENT_SECONDS, task)
            await simulated_device.trigger_event(DeviceEventKind.REBOOT, self.channel)
            while not received.empty():
                received.get_nowait()
            event = await _next_event(simulated_device, received, self.channel, REBOOT_SECONDS, task)
            assert event.channel == self.channel and event.time.tzinfo is not None
            assert not task.done(), "the event stream ended at the reboot instead of subscribing again"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DeviceError):
                await task
            if isinstance(events, AsyncGenerator):
                await events.aclose()

"""The Dahua driver beyond the kit: clock and zone, NTP, paging, retention, clips, events, audit log."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.simulation.faults import FaultProfile, ImageFault
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import DeviceEventKind, DeviceKind, DiskStatus, RecordingKind
from watchkeeper.plugins.dahua.driver import DahuaDriver
from watchkeeper.plugins.dahua.simulator import SimulatedDahua

from .conftest import PASSWORD


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@pytest.mark.asyncio
async def test_clock_zone_is_converted_and_set_clock_round_trips(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    camera.set_faults(FaultProfile(time_zone="America/New_York", clock_offset=-120))
    fresh = DahuaDriver(camera.endpoint)
    try:
        reading = await fresh.get_clock()
        assert reading.time_zone in {"UTC-05:00", "UTC-04:00"}
        assert -123 <= reading.offset <= -117
        await fresh.set_clock(datetime.now(timezone.utc))
        assert abs((await fresh.get_clock()).offset) < 3
        assert abs(camera.faults.clock_offset) < 3
    finally:
        await fresh.close()


@pytest.mark.asyncio
async def test_ntp_is_enabled_with_the_first_server(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    await driver.set_ntp(["ntp.site.example", "backup.example"])
    reading = await driver.get_clock()
    assert reading.ntp_enabled is True and reading.ntp_servers == ("ntp.site.example",)
    assert camera.ntp["Address"] == "ntp.site.example"


@pytest.mark.asyncio
async def test_recordings_page_through_and_close_the_finder(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    end = now()
    segments = await driver.recordings(1, end - timedelta(days=6), end)
    assert 144 <= len(segments) <= 146  # hourly files: two pages of findNextFile
    assert all(s.kind is RecordingKind.CONTINUOUS and s.size_bytes and s.token.endswith(".dav") for s in segments)
    pages = [r for r in camera.http.log if "findNextFile" in r.path]
    assert len(pages) == 3  # 100 + 45 + found=0
    assert not camera.sessions.finders
    assert all(later.start >= earlier.end for earlier, later in zip(segments, segments[1:]))


@pytest.mark.asyncio
async def test_short_retention_and_per_channel_gaps_on_an_nvr(nvr: SimulatedDahua) -> None:
    driver = DahuaDriver(nvr.endpoint)
    try:
        info = await driver.device_info()
        assert info.kind is DeviceKind.RECORDER and info.channels == 16
        end = now()
        gap = (end - timedelta(hours=10), end - timedelta(hours=7))
        nvr.set_faults(FaultProfile(gaps=(gap,), retention_days=2), channel=5)
        short = await driver.recordings(5, end - timedelta(days=7), end)
        healthy = await driver.recordings(6, end - timedelta(days=7), end)
        assert short[0].start >= end - timedelta(days=2, minutes=1)
        assert healthy[0].start <= end - timedelta(days=7)
        assert not any(s.start < gap[1] and s.end > gap[0] for s in short)
        assert any(s.start < gap[1] and s.end > gap[0] for s in healthy)
    finally:
        await driver.close()


@pytest.mark.asyncio
async def test_per_channel_image_fault(nvr: SimulatedDahua) -> None:
    import cv2
    import numpy as np

    nvr.set_faults(FaultProfile(image={ImageFault.BLACK}), channel=3)
    driver = DahuaDriver(nvr.endpoint)
    try:
        black = cv2.imdecode(np.frombuffer(await driver.snapshot(3), np.uint8), cv2.IMREAD_GRAYSCALE)
        live = cv2.imdecode(np.frombuffer(await driver.snapshot(4), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert black.mean() < 5 < live.mean()
        with pytest.raises(DeviceError) as missing:
            await driver.snapshot(17)
        assert missing.value.kind is FindingKind.PROTOCOL_ERROR
    finally:
        await driver.close()


@pytest.mark.asyncio
async def test_storage_full_and_error(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    (disk,) = await driver.storage()
    assert disk.status is DiskStatus.OK and disk.capacity_bytes and disk.free_bytes
    camera.set_faults(FaultProfile(disk_full=True))
    (disk,) = await driver.storage()
    # Dahua pre-allocates disks, so used == total is reported, not a failed state.
    assert disk.status is DiskStatus.OK and disk.free_bytes == 0


@pytest.mark.asyncio
async def test_stream_and_playback_uris_use_device_local_time(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    assert await driver.stream_uri(1, substream=True) == "rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=1"
    start = datetime(2026, 1, 6, 6, 5, tzinfo=timezone.utc)
    uri = await driver.playback_uri(1, start, start + timedelta(minutes=8))
    assert uri == ("rtsp://127.0.0.1:554/cam/playback?channel=1"
                   "&starttime=2026_01_06_14_05_00&endtime=2026_01_06_14_13_00")
    assert PASSWORD not in uri


@pytest.mark.asyncio
async def test_download_clip_with_rpc_loadfile(camera: SimulatedDahua, driver: DahuaDriver, tmp_path: Path) -> None:
    end = now()
    segments = await driver.recordings(1, end - timedelta(hours=2), end - timedelta(hours=1))
    target = await driver.download_clip(1, end - timedelta(hours=2), end - timedelta(hours=1), tmp_path / "clip.dav")
    data = target.read_bytes()
    assert data.startswith(b"DHAV") and len(data) == sum(s.size_bytes for s in segments)
    assert any("/cgi-bin/RPC_Loadfile/mnt/sd/" in r.path for r in camera.http.log)


@pytest.mark.asyncio
async def test_events_survive_a_reboot(camera: SimulatedDahua) -> None:
    driver = DahuaDriver(attrs.evolve(camera.endpoint, timeout=1.0))
    stream = driver.events()
    try:
        first = asyncio.create_task(anext(stream))
        await wait_for_subscriber(camera)
        await camera.trigger_event(DeviceEventKind.VIDEO_LOSS, 1)
        event = await asyncio.wait_for(first, 5)
        assert event.kind is DeviceEventKind.VIDEO_LOSS and event.channel == 1 and event.active
        second = asyncio.create_task(anext(stream))
        await camera.reboot(downtime=1.0)
        await wait_for_subscriber(camera, timeout=10)
        await camera.trigger_event(DeviceEventKind.DISK_ERROR, 1)
        event = await asyncio.wait_for(second, 5)
        assert event.kind is DeviceEventKind.DISK_ERROR
    finally:
        await stream.aclose()
        await driver.close()


async def wait_for_subscriber(device: SimulatedDahua, timeout: float = 5) -> None:
    for _ in range(int(timeout / 0.05)):
        if device.subscribers:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the driver never attached to the event stream")


@pytest.mark.asyncio
async def test_events_with_wrong_password_raise_auth_failed(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    camera.set_faults(FaultProfile(wrong_password=True))
    with pytest.raises(DeviceError) as caught:
        await asyncio.wait_for(anext(driver.events()), 10)
    assert caught.value.kind is FindingKind.AUTH_FAILED


@pytest.mark.asyncio
async def test_audit_log_records_the_clock_change(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    await driver.set_clock(datetime.now(timezone.utc))
    entries = await driver.audit_log(now() - timedelta(hours=1), now() + timedelta(minutes=1))
    assert [e.log_type for e in entries] == ["Reboot", "SetTime"]
    assert entries[1].user == "admin" and entries[1].address == "127.0.0.1"
    assert all(e.time.tzinfo is timezone.utc for e in entries)
    assert not camera.sessions.logs


@pytest.mark.asyncio
async def test_audit_log_shows_downloads_and_console_retrievals(camera: SimulatedDahua, driver: DahuaDriver,
                                                                 tmp_path) -> None:
    """What R9 reads: a clip pulled over CGI, and playback, backup and deletion at the recorder's console."""
    start = now() - timedelta(minutes=1)
    await driver.download_clip(1, start - timedelta(hours=3), start - timedelta(hours=3) + timedelta(seconds=5),
                               tmp_path / "clip.dav")
    for action in ("playback", "export", "deletion"):
        camera.console(action, 1, user="guard")
    entries = await driver.audit_log(start, now() + timedelta(minutes=1))
    footage = [(e.action, e.channel, e.user, e.local) for e in entries if e.action not in ("login", "other")]
    assert footage[0][:2] == ("download", 1) and not footage[0][3]
    assert footage[-3:] == [("playback", 1, "guard", True), ("export", 1, "guard", True),
                            ("deletion", 1, "guard", True)]


@pytest.mark.asyncio
async def test_digest_only_and_no_secret_anywhere(camera: SimulatedDahua, driver: DahuaDriver) -> None:
    await driver.device_info()
    await driver.snapshot(1)
    assert not camera.http.basic_requests()
    assert all(PASSWORD not in r.path and PASSWORD not in r.authorization for r in camera.http.log)
    assert PASSWORD not in repr(driver) and PASSWORD not in repr(driver._cgi)

"""The driver against the simulator: clock and zones, paging, NVR channels, storage, clips, events, log."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import pytest
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import (RETRIEVAL_ACTIONS, AuditAction, DeviceEventKind, DeviceKind, DiskStatus,
                                     RecordingKind)
from watchkeeper.plugins.hikvision.driver import HikvisionDriver
from watchkeeper.plugins.hikvision.simdevice import PAGE_LIMIT

from .conftest import NVR_CHANNELS


def driver_for(device, **options) -> HikvisionDriver:
    endpoint = device.endpoint
    if options:
        import attrs
        endpoint = attrs.evolve(endpoint, options=options)
    return HikvisionDriver(endpoint)


async def test_camera_identity_and_repr_hide_password(camera) -> None:
    driver = driver_for(camera)
    try:
        info = await driver.device_info()
        assert (info.manufacturer, info.model, info.kind, info.channels) == ("Hikvision", "DS-2CD2155FWD-I",
                                                                            DeviceKind.CAMERA, 1)
        assert info.firmware_version == "V5.5.0 build 170725"
        assert camera.endpoint.password.reveal() not in repr(driver) + repr(driver.isapi)
    finally:
        await driver.close()


async def test_nvr_counts_its_channels(nvr) -> None:
    driver = driver_for(nvr)
    try:
        info = await driver.device_info()
        assert (info.kind, info.channels, info.model) == (DeviceKind.RECORDER, NVR_CHANNELS, "DS-7616NI-K2")
        for channel in (1, NVR_CHANNELS):
            assert (await driver.snapshot(channel))[:2] == b"\xff\xd8"
        with pytest.raises(DeviceError) as caught:
            await driver.snapshot(NVR_CHANNELS + 1)
        assert caught.value.kind is FindingKind.PROTOCOL_ERROR and "404" in caught.value.reason
    finally:
        await driver.close()


@pytest.mark.parametrize("zone, hours", [("CST-8:00:00", 8), ("EST+5:00:00", -5), ("IST-5:30:00", 5.5)])
async def test_clock_in_device_zone_is_converted_to_utc(camera, zone, hours) -> None:
    camera.set_faults(FaultProfile(time_zone=zone, clock_offset=-120))
    driver = driver_for(camera)
    try:
        reading = await driver.get_clock()
        assert reading.time_zone == zone
        assert reading.device_time.utcoffset() == timedelta(0)
        assert -123 <= reading.offset <= -117
        assert reading.ntp_enabled is True and reading.ntp_servers == ("time.windows.com",)
        zone_info = await driver.zone()
        assert zone_info.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=hours)
    finally:
        await driver.close()


async def test_set_clock_and_ntp(camera) -> None:
    driver = driver_for(camera)
    try:
        target = datetime.now(timezone.utc) + timedelta(minutes=10)
        await driver.set_clock(target)
        reading = await driver.get_clock()
        assert 595 <= reading.offset <= 605 and reading.ntp_enabled is False
        await driver.set_ntp(["ntp.example.cn", "10.1.2.3"])
        reading = await driver.get_clock()
        assert reading.ntp_enabled is True and reading.ntp_servers == ("ntp.example.cn", "10.1.2.3")
        assert abs(reading.offset) < 3
    finally:
        await driver.close()


async def test_recordings_page_through_more(nvr) -> None:
    driver = driver_for(nvr)
    end = datetime.now(timezone.utc).replace(microsecond=0)
    start = end - timedelta(days=3)
    try:
        segments = await driver.recordings(3, start, end)
    finally:
        await driver.close()
    assert len(segments) > PAGE_LIMIT, "three days of hourly files need more than one page"
    searches = [r for r in nvr.http.log if r.path == "/ISAPI/ContentMgmt/search" and r.authorization]
    assert len(searches) >= 2
    assert all(s.channel == 3 and s.kind is RecordingKind.CONTINUOUS for s in segments)
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:], strict=False))
    covered = sum((min(s.end, end) - max(s.start, start)).total_seconds() for s in segments)
    assert covered == pytest.approx((end - start).total_seconds(), abs=2)
    assert all(s.size_bytes and "tracks/301" in s.token for s in segments)


async def test_short_retention_and_day_distribution(camera) -> None:
    camera.set_faults(FaultProfile(retention_days=2))
    driver = driver_for(camera)
    end = datetime.now(timezone.utc)
    try:
        segments = await driver.recordings(1, end - timedelta(days=7), end)
        oldest = segments[0].start
        assert timedelta(days=2) - timedelta(minutes=1) <= end - oldest <= timedelta(days=2, minutes=1)
        local = end.astimezone(await driver.zone())
        days = await driver.recording_days(1, local.year, local.month)
        assert days is not None and days[local.day] is True
        if local.day > 3:
            assert days[local.day - 3] is False
    finally:
        await driver.close()


async def test_playback_uri_uses_device_local_time(camera) -> None:
    driver = driver_for(camera)
    start = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
    try:
        uri = await driver.playback_uri(2, start, start + timedelta(minutes=5))
        assert uri.endswith(":554/Streaming/tracks/201?starttime=20260301T080000Z&endtime=20260301T080500Z")
        assert await driver.stream_uri(2, substream=True) == f"rtsp://{camera.endpoint.host}:554/Streaming/Channels/202"
    finally:
        await driver.close()


async def test_storage_full_and_error(nvr) -> None:
    driver = driver_for(nvr)
    try:
        disks = await driver.storage()
        assert [d.id for d in disks] == ["hdd1", "hdd2"]
        assert all(d.capacity_bytes == 3815447 * 1024 * 1024 and 0 < d.free_bytes < d.capacity_bytes for d in disks)
        nvr.set_faults(FaultProfile(disk_full=True))
        assert {d.status for d in await driver.storage()} == {DiskStatus.FULL}
        nvr.set_faults(FaultProfile(disk_error=True))
        disks = await driver.storage()
        assert [(d.status, d.raw_status) for d in disks] == [(DiskStatus.ERROR, "error"), (DiskStatus.OK, "ok")]
    finally:
        await driver.close()


async def test_download_clip_is_decodable(nvr, tmp_path: Path) -> None:
    driver = driver_for(nvr)
    end = datetime.now(timezone.utc) - timedelta(minutes=5)
    try:
        path = await driver.download_clip(2, end - timedelta(seconds=30), end, tmp_path / "clip.avi")
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        capture.release()
        assert ok and frame.shape == (360, 640, 3)
        nvr.set_faults(FaultProfile(gaps=((end - timedelta(hours=1), end + timedelta(minutes=1)),)))
        with pytest.raises(DeviceError) as caught:
            await driver.download_clip(2, end - timedelta(seconds=30), end, tmp_path / "gap.avi")
        assert caught.value.kind is FindingKind.PROTOCOL_ERROR and not (tmp_path / "gap.avi").exists()
    finally:
        await driver.close()


async def test_events_of_every_kind_and_reconnect_after_reboot(nvr) -> None:
    driver = driver_for(nvr)
    events = driver.events()
    received: list = []

    async def collect(count: int) -> None:
        async for event in events:
            received.append(event)
            if len(received) >= count:
                return

    kinds = [DeviceEventKind.VIDEO_LOSS, DeviceEventKind.TAMPER, DeviceEventKind.DISK_ERROR,
             DeviceEventKind.DISK_FULL, DeviceEventKind.RECORDING_FAILURE, DeviceEventKind.ILLEGAL_ACCESS]
    try:
        waiter = asyncio.create_task(collect(len(kinds)))
        await asyncio.sleep(0.5)
        for number, kind in enumerate(kinds, 1):
            await nvr.trigger_event(kind, number)
        await asyncio.wait_for(waiter, 10)
        assert [(e.kind, e.channel) for e in received] == list(zip(kinds, range(1, 7), strict=True))
        assert received[1].raw == "shelteralarm" and all(e.active for e in received)
        await nvr.reboot(down=0.5)
        waiter = asyncio.create_task(collect(len(kinds) + 1))
        for _ in range(40):  # the driver resubscribes with backoff; keep alarming until it hears one
            await nvr.trigger_event(DeviceEventKind.TAMPER, 7)
            if waiter.done():
                break
            await asyncio.sleep(0.25)
        await asyncio.wait_for(waiter, 5)
        assert (received[-1].kind, received[-1].channel) == (DeviceEventKind.TAMPER, 7)
    finally:
        await events.aclose()
        await driver.close()


async def test_wrong_password_stops_event_stream(camera) -> None:
    camera.set_faults(FaultProfile(wrong_password=True))
    driver = driver_for(camera)
    try:
        with pytest.raises(DeviceError) as caught:
            await asyncio.wait_for(anext(driver.events()), 10)
        assert caught.value.kind is FindingKind.AUTH_FAILED
    finally:
        await driver.close()


async def test_audit_log_records_logins_settings_and_illegal_access(camera) -> None:
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    driver = driver_for(camera)
    try:
        await driver.set_clock(datetime.now(timezone.utc))
        camera.set_faults(FaultProfile(wrong_password=True))
        with pytest.raises(DeviceError):
            await driver.device_info()
        camera.set_faults(FaultProfile())
        for _ in range(PAGE_LIMIT):
            camera.log_entry("Information", "localOperation", "admin", "", 1, "filler")
        entries = await driver.audit_log(start, datetime.now(timezone.utc) + timedelta(minutes=1))
    finally:
        await driver.close()
    types = [e.log_type for e in entries]
    assert {"Operation/remoteLogin", "Operation/remoteCfgParm", "Exception/illegalAccess"} <= set(types)
    assert len(entries) > PAGE_LIMIT and all(e.time.tzinfo is not None for e in entries)
    login = entries[types.index("Operation/remoteLogin")]
    assert (login.action, login.user, login.address, login.local) == (AuditAction.LOGIN, "admin", "127.0.0.1", False)


async def test_audit_log_shows_downloads_and_console_playback_backup_deletion(camera) -> None:
    """What R9 reads: a clip pulled over ISAPI, and playback, USB backup and deletion at the console."""
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    driver = driver_for(camera)
    try:
        await driver.download_clip(1, start - timedelta(hours=2), start - timedelta(hours=2) + timedelta(seconds=3),
                                   Path(tempfile.mkdtemp()) / "clip.avi")
        for action in ("playback", "export", "deletion"):
            camera.console(action, 1, user="guard")
        entries = await driver.audit_log(start, datetime.now(timezone.utc) + timedelta(minutes=1))
    finally:
        await driver.close()
    footage = [(e.action, e.channel, e.user, e.local) for e in entries if e.action in RETRIEVAL_ACTIONS | {AuditAction.DELETION}]
    assert footage == [(AuditAction.DOWNLOAD, 1, "admin", False), (AuditAction.PLAYBACK, 1, "guard", True),
                       (AuditAction.EXPORT, 1, "guard", True), (AuditAction.DELETION, 1, "guard", True)]
    now = datetime.now(timezone.utc)
    assert not camera.recorded(1, now - timedelta(minutes=30), now - timedelta(minutes=20))  # deleted is gone

"""Driver behaviour beyond the conformance kit: clocks, Profile G search, events, auth and the simulator's rules."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from datetime import datetime, timedelta, timezone

import attrs
import httpx
import pytest

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import DeviceEventKind, DeviceKind
from watchkeeper.plugins.onvif.driver import OnvifCamera
from watchkeeper.plugins.onvif.simulator import simulate
from watchkeeper.plugins.onvif.soap import envelope


def _token_header(username: str, password: str, created: str, nonce: bytes) -> str:
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return ("<wsse:Security><wsse:UsernameToken>"
            f"<wsse:Username>{username}</wsse:Username><wsse:Password>{digest}</wsse:Password>"
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>"
            "</wsse:UsernameToken></wsse:Security>")


async def _raw(device, header: str, body: str = "<tds:GetDeviceInformation/>") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"http://127.0.0.1:{device.endpoint.port}/onvif/device_service",
                                 content=envelope(body, header),
                                 headers={"Content-Type": "application/soap+xml; charset=utf-8"})


@pytest.mark.asyncio
async def test_username_token_rules() -> None:
    async with simulate() as (device,):
        user, password = device.endpoint.username, device.endpoint.password.reveal()
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        nonce = os.urandom(16)
        first = await _raw(device, _token_header(user, password, created, nonce))
        assert first.status_code == 200 and b"GetDeviceInformationResponse" in first.content
        replayed = await _raw(device, _token_header(user, password, created, nonce))
        assert replayed.status_code == 400 and b"ter:NotAuthorized" in replayed.content
        stale = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        old = await _raw(device, _token_header(user, password, stale, os.urandom(16)))
        assert b"ter:NotAuthorized" in old.content
        anonymous = await _raw(device, "", "<tds:GetSystemDateAndTime/>")
        assert anonymous.status_code == 200 and b"UTCDateTime" in anonymous.content
        refused = await _raw(device, "")
        assert b"ter:NotAuthorized" in refused.content


@pytest.mark.asyncio
async def test_wrong_clock_still_reachable_and_can_be_set() -> None:
    async with simulate(faults=FaultProfile(clock_offset=3 * 3600, time_zone="CST-8")) as (device,):
        camera = OnvifCamera(device.endpoint)
        try:
            info = await camera.device_info()  # signed with the device's clock, outside the 300 s window otherwise
            assert info.kind is DeviceKind.CAMERA
            reading = await camera.get_clock()
            assert abs(reading.offset - 3 * 3600) < 3 and reading.time_zone == "CST-8"
            await camera.set_clock(datetime.now(timezone.utc))
            assert abs((await camera.get_clock()).offset) < 3
            await camera.set_ntp(["ntp.example.org", "10.0.0.1"])
            reading = await camera.get_clock()
            assert reading.ntp_enabled and reading.ntp_servers == ("ntp.example.org", "10.0.0.1")
        finally:
            await camera.close()


@pytest.mark.asyncio
async def test_nvr_recordings_paged_with_gaps_and_short_retention() -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    async with simulate(channels=3) as (device,):
        gap = (now - timedelta(hours=10), now - timedelta(hours=9))
        device.set_faults(FaultProfile(gaps=(gap,)), channel=2)
        device.set_faults(FaultProfile(retention_days=0.5), channel=3)
        camera = OnvifCamera(device.endpoint)
        try:
            info = await camera.device_info()
            assert info.kind is DeviceKind.RECORDER and info.channels == 3
            start, end = now - timedelta(days=2), now
            one = await camera.recordings(1, start, end)
            assert len(one) == 1 and one[0].start == start and one[0].token == "Recording_1"
            two = await camera.recordings(2, start, end)
            assert len(two) == 2 and abs((two[0].end - gap[0]).total_seconds()) < 2
            assert abs((two[1].start - gap[1]).total_seconds()) < 2
            three = await camera.recordings(3, start, end)
            assert len(three) == 1 and abs((three[0].start - (now - timedelta(hours=12))).total_seconds()) < 5
            uri = await camera.playback_uri(2, start, end)
            assert uri.startswith("rtsp://127.0.0.1:") and uri.endswith("/replay/Recording_2")
            assert (await camera.stream_uri(3, substream=True)).endswith("/ch3/sub")
            assert device.state.searches == {}  # every search paged to Completed (the device drops it then)
        finally:
            await camera.close()


@pytest.mark.asyncio
async def test_events_survive_reboot_and_cover_failures() -> None:
    async with simulate(channels=2) as (device,):
        camera = OnvifCamera(attrs.evolve(device.endpoint, timeout=2.0))
        stream = camera.events()
        received: list = []

        async def collect() -> None:
            async for event in stream:
                received.append(event)

        task = asyncio.create_task(collect())
        try:
            # An event before the driver's subscription is lost, as on a real camera: wait for it (a
            # fixed half second was too short on a loaded machine).
            await _until(lambda: bool(device.state.subscriptions), 60)
            await device.trigger_event(DeviceEventKind.TAMPER, 2)
            await _until(lambda: any(e.kind is DeviceEventKind.TAMPER for e in received))
            await device.trigger_event(DeviceEventKind.REBOOT, 1)  # subscriptions lost
            assert not device.state.subscriptions
            await _until(lambda: bool(device.state.subscriptions))  # the driver notices, subscribes again
            await device.trigger_event(DeviceEventKind.SCENE_CHANGE, 1)
            device.set_faults(FaultProfile(disk_error=True))
            await _until(lambda: {DeviceEventKind.SCENE_CHANGE, DeviceEventKind.DISK_ERROR}
                         <= {e.kind for e in received})
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stream.aclose()
            await camera.close()
        tamper = next(e for e in received if e.kind is DeviceEventKind.TAMPER)
        assert tamper.channel == 2 and tamper.active and tamper.time.tzinfo is not None
        assert device.state.boots == 2 and len(device.state.subscriptions) <= 1


async def _until(condition, limit: float = 8.0) -> None:
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_snapshot_wrong_password_is_auth_failed() -> None:
    async with simulate() as (device,):
        camera = OnvifCamera(device.endpoint)
        try:
            assert (await camera.snapshot(1)).startswith(b"\xff\xd8")
            device.set_faults(FaultProfile(wrong_password=True))
            with pytest.raises(DeviceError) as caught:
                await camera.snapshot(1)
            assert caught.value.kind is FindingKind.AUTH_FAILED
        finally:
            await camera.close()


@pytest.mark.asyncio
async def test_advertised_addresses_are_rewritten() -> None:
    async with simulate(advertise_host="192.0.2.10") as (device,):
        camera = OnvifCamera(device.endpoint)
        try:
            assert (await camera.snapshot(1)).startswith(b"\xff\xd8")  # 192.0.2.10 is unroutable (TEST-NET-1)
            assert all("127.0.0.1" in x for x in camera._xaddrs.values())
        finally:
            await camera.close()


@pytest.mark.asyncio
async def test_get_capabilities_fallback_for_older_devices() -> None:
    async with simulate(channels=2) as (device,):
        device.get_services = False
        camera = OnvifCamera(device.endpoint)
        try:
            now = datetime.now(timezone.utc)
            segments = await camera.recordings(2, now - timedelta(hours=2), now)
            assert len(segments) == 1 and segments[0].token == "Recording_2"
            assert camera._xaddrs["http://www.onvif.org/ver10/search/wsdl"].endswith("/onvif/search_service")
            assert camera._xaddrs["http://www.onvif.org/ver10/replay/wsdl"].endswith("/onvif/replay_service")
        finally:
            await camera.close()


def test_time_zone_strings() -> None:
    from types import SimpleNamespace as Reply

    from watchkeeper.plugins.onvif.timeparse import device_time_of

    local = Reply(Date=Reply(Year=2025, Month=1, Day=2), Time=Reply(Hour=8, Minute=0, Second=0))
    when, zone = device_time_of(Reply(UTCDateTime=None, LocalDateTime=local, TimeZone=Reply(TZ="CST-8")))
    assert when == datetime(2025, 1, 2, 0, 0, tzinfo=timezone.utc) and zone == "CST-8"
    summer = Reply(Date=Reply(Year=2025, Month=7, Day=2), Time=Reply(Hour=8, Minute=0, Second=0))
    when, _ = device_time_of(Reply(UTCDateTime=None, LocalDateTime=summer, TimeZone=Reply(TZ="EST5EDT,M3.2.0,M11.1.0")))
    assert when == datetime(2025, 7, 2, 12, 0, tzinfo=timezone.utc)  # daylight time honoured (UTC-4 in July)
    when, _ = device_time_of(Reply(UTCDateTime=None, LocalDateTime=summer, TimeZone=Reply(TZ="UTC")))
    assert when == datetime(2025, 7, 2, 8, 0, tzinfo=timezone.utc)
    with pytest.raises(DeviceError) as caught:
        device_time_of(Reply(UTCDateTime=None, LocalDateTime=local, TimeZone=Reply(TZ="MoroccoStandardTime0")))
    assert caught.value.kind is FindingKind.PROTOCOL_ERROR


@pytest.mark.asyncio
@pytest.mark.parametrize("offset", [0.0, 2 * 3600.0])
async def test_clock_read_with_credentials_when_the_device_demands_them(offset: float) -> None:
    """Regression (issue 13, item 10): firmware that refuses an anonymous GetSystemDateAndTime gave auth_failed.
    Asked again with credentials, signed by the clock the refusal's Date header shows (even hours off)."""
    async with simulate(faults=FaultProfile(clock_needs_auth=True, clock_offset=offset)) as (device,):
        camera = OnvifCamera(device.endpoint)
        try:
            reading = await camera.get_clock()
            assert abs(reading.offset - offset) < 3
            assert (await camera.device_info()).manufacturer
        finally:
            await camera.close()
        device.set_faults(FaultProfile(clock_needs_auth=True, wrong_password=True))
        camera = OnvifCamera(device.endpoint)
        try:
            with pytest.raises(DeviceError) as caught:
                await camera.get_clock()
            assert caught.value.kind is FindingKind.AUTH_FAILED  # truly wrong credentials still say so
        finally:
            await camera.close()

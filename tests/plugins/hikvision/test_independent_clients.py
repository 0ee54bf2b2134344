"""Clients we did not write read the simulator: hikvisionapi (sync and async) and pyHik.

Both libraries try Basic first unless told otherwise; each is configured for Digest from its first
request (the same choice our driver makes), so the suite's no-Basic guard still holds. Sync clients
run in a worker thread while the simulator serves from the test's event loop.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin

import httpx
import requests
from hikvisionapi import AsyncClient, Client
from pyhik import HikCamera, ISAPIClient
from requests.auth import HTTPDigestAuth
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import DeviceEventKind
from watchkeeper.core.timezones import parse_zone


class DigestClient(Client):
    """hikvisionapi's sync client, minus its Basic-first probe (its own code path otherwise)."""

    def _check_session(self) -> requests.Session:
        session = requests.session()
        session.auth = HTTPDigestAuth(self.login, self.password)
        session.get(urljoin(self.host, self.isapi_prefix + "/System/status"), timeout=self.timeout).raise_for_status()
        return session


class DigestHikCamera(HikCamera):
    """pyHik's camera, starting with the Digest it otherwise falls back to after a Basic 401."""

    def get_device_info(self):  # noqa: ANN201 - pyHik's signature
        self.hik_request.auth = HTTPDigestAuth(self.usr, self.pwd)
        self.hik_request_stream.auth = HTTPDigestAuth(self.usr, self.pwd)
        return super().get_device_info()


def _url(device) -> str:
    return f"http://{device.endpoint.host}:{device.endpoint.port}"


def _password(device) -> str:
    return device.endpoint.password.reveal()


async def _keep_alarming(device, kind: DeviceEventKind, channel: int, done: asyncio.Future) -> None:
    """Sync stream readers connect when their thread gets to it; alarm until they have heard it."""
    for _ in range(40):
        if done.done():
            return
        await device.trigger_event(kind, channel)
        await asyncio.sleep(0.25)


async def test_hikvisionapi_sync_reads_info_time_triggers_and_alerts(nvr) -> None:
    def read() -> tuple:
        api = DigestClient(_url(nvr), nvr.endpoint.username, _password(nvr), timeout=5)
        info = api.System.deviceInfo(method="get")
        clock = api.System.time(method="get")
        triggers = api.Event.triggers(method="get")
        api.count_events = 12
        alerts = api.Event.notification.alertStream(method="get", type="stream")
        return info, clock, triggers, alerts

    task = asyncio.ensure_future(asyncio.to_thread(read))
    await _keep_alarming(nvr, DeviceEventKind.TAMPER, 3, task)
    info, clock, triggers, alerts = await asyncio.wait_for(task, 20)
    assert info["DeviceInfo"]["model"] == "DS-7616NI-K2" and info["DeviceInfo"]["deviceType"] == "NVR"
    assert info["DeviceInfo"]["@xmlns"] == "http://www.hikvision.com/ver20/XMLSchema"
    local = datetime.fromisoformat(clock["Time"]["localTime"])
    assert clock["Time"]["timeZone"] == "CST-8:00:00" and local.utcoffset() == timedelta(hours=8)
    assert abs((local - datetime.now(timezone.utc)).total_seconds()) < 5
    trigger_list = triggers["EventTriggerList"]["EventTrigger"]
    assert {t["videoInputChannelID"] for t in trigger_list} == {str(c) for c in range(1, 9)}
    kinds = [(a["EventNotificationAlert"]["eventType"], a["EventNotificationAlert"].get("channelID")) for a in alerts]
    assert ("shelteralarm", "3") in kinds, kinds
    assert {kind for kind, _ in kinds} <= {"shelteralarm", "videoloss"}


async def test_hikvisionapi_async_reads_info_time_triggers_and_alerts(camera) -> None:
    api = AsyncClient(_url(camera), camera.endpoint.username, _password(camera), timeout=5)
    api._auth_method = httpx.DigestAuth(camera.endpoint.username, _password(camera))  # skip its Basic probe
    info = await api.System.deviceInfo(method="get")
    assert (info["DeviceInfo"]["model"], info["DeviceInfo"]["firmwareVersion"]) == ("DS-2CD2155FWD-I", "V5.5.0")
    clock = await api.System.time(method="get")
    zone = parse_zone(clock["Time"]["timeZone"])
    assert datetime.fromisoformat(clock["Time"]["localTime"]).utcoffset() == zone.utcoffset(None)
    status = await api.System.status(method="get")
    assert int(status["DeviceStatus"]["deviceUpTime"]) >= 0
    triggers = await api.Event.triggers(method="get")
    assert {t["eventType"] for t in triggers["EventTriggerList"]["EventTrigger"]} >= {"VMD", "videoloss"}

    async def first_alarm() -> dict:
        async for alert in api.Event.notification.alertStream(method="get", type="stream"):
            if alert["EventNotificationAlert"]["eventState"] == "active":
                return alert["EventNotificationAlert"]
        raise AssertionError("stream ended")

    waiter = asyncio.ensure_future(first_alarm())
    await _keep_alarming(camera, DeviceEventKind.VIDEO_LOSS, 1, waiter)
    alert = await asyncio.wait_for(waiter, 10)
    assert (alert["eventType"], alert["channelID"], alert["activePostCount"]) == ("videoloss", "1", "1")


async def test_pyhik_camera_reads_info_triggers_and_alert_stream(nvr) -> None:
    heard = threading.Event()

    def connect() -> HikCamera:
        return DigestHikCamera(_url(nvr), nvr.endpoint.port, nvr.endpoint.username, _password(nvr))

    camera = await asyncio.to_thread(connect)
    try:
        assert camera.get_name == "Network Video Recorder" and camera.get_type == "NVR"
        assert str(camera.get_id) == "a0b1c2d3-0001-11e7-8000-4419b6000001"
        states = camera.current_event_states
        assert {"Motion", "Tamper Detection"} <= set(states)
        assert sorted(entry[1] for entry in states["Tamper Detection"]) == list(range(1, 9))
        sensor = f"{camera.get_id}.Tamper Detection.4"
        # pyHik also calls every callback when its stream connects: only a tripped sensor counts.
        camera.add_update_callback(
            lambda message: camera.fetch_attributes("Tamper Detection", 4)[0] and heard.set(), sensor)
        camera.start_stream()
        done = asyncio.ensure_future(asyncio.to_thread(heard.wait, 15))
        await _keep_alarming(nvr, DeviceEventKind.TAMPER, 4, done)
        assert await done, "pyHik never saw the tamper alarm"
        tripped = camera.fetch_attributes("Tamper Detection", 4)
        assert tripped[0] is True and tripped[2] == 1  # activePostCount from the alert
        assert camera.stream_connected
    finally:
        await asyncio.to_thread(camera.disconnect)


async def test_pyhik_recording_search_sees_the_simulated_gap(camera) -> None:
    now = datetime.now(timezone.utc)
    gap = (now - timedelta(hours=5), now - timedelta(hours=3))
    camera.set_faults(FaultProfile(gaps=(gap,)))
    local = now.astimezone(camera.zone()).replace(tzinfo=None)

    def search() -> list:
        hik = DigestHikCamera(_url(camera), camera.endpoint.port, camera.endpoint.username, _password(camera))
        try:
            return hik.search_recordings(101, local - timedelta(hours=8), local, max_results=40)
        finally:
            hik.hik_request.close()

    recordings = await asyncio.to_thread(search)
    assert len(recordings) >= 6
    middle = (now - timedelta(hours=4)).astimezone(camera.zone()).replace(tzinfo=None)
    assert not any(r.start_time.replace(tzinfo=None) <= middle < r.end_time.replace(tzinfo=None) for r in recordings)
    assert all(r.playback_uri.startswith("rtsp://") and r.track_id == 101 for r in recordings)


async def test_pyhik_isapi_client_reads_info_and_storage(nvr) -> None:
    def read() -> tuple:
        with ISAPIClient(nvr.endpoint.host, nvr.endpoint.port, nvr.endpoint.username, _password(nvr)) as client:
            return client.get_device_info(), client.get_storage_devices(), client.get_streaming_channels()

    info, disks, streams = await asyncio.to_thread(read)
    assert info["serialNumber"].startswith("DS-7616NI-K2")
    assert [(d.id, d.status, d.capacity) for d in disks] == [("1", "ok", 3815447 * 1024 * 1024),
                                                             ("2", "ok", 3815447 * 1024 * 1024)]
    assert len(streams) == 16

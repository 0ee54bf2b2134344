"""Every fixture, replayed over HTTP (Digest, like the device) and read through the driver's own code path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import (
    DeviceEventKind,
    DeviceKind,
    DiskStatus,
    Endpoint,
    RecordingKind,
)
from watchkeeper.plugins.hikvision.driver import HikvisionDriver
from watchkeeper.simulation.simhttp import HttpDevice, device_middleware, start_site

FIXTURES = Path(__file__).parent / "fixtures"
CASSETTE = yaml.safe_load((FIXTURES / "hikvisionclient_cassette_auth_firmware_v5_5.yaml").read_text())
RECORDED = {item["request"]["uri"].split("161", 1)[1]: item["response"] for item in CASSETTE["interactions"]}
MIB = 1024 * 1024
UTC = timezone.utc


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def xml(data: bytes, headers: dict[str, str] | None = None, status: int = 200) -> web.Response:
    return web.Response(body=data, status=status, headers={"Content-Type": "application/xml", **(headers or {})})


def recorded(path: str) -> web.Response:
    """The cassette's 200 reply to `path`, status, body and headers as the camera sent them."""
    response = RECORDED[path]
    headers = {key: value[0] for key, value in response["headers"].items() if key in {"Content-Type", "Server"}}
    return web.Response(body=response["body"]["string"].encode(), status=response["status"]["code"], headers=headers)


class Replay:
    """A loopback server answering fixed paths with fixture bodies, behind the simulators' Digest auth."""

    def __init__(self) -> None:
        self.device = HttpDevice(username="admin", password="fixture-pass", realm="IP Camera(83813)")
        self.routes: dict[tuple[str, str], Callable[[web.Request], object]] = {}
        self.bodies: list[bytes] = []
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.closing = asyncio.Event()

    def serve(self, method: str, path: str, reply: Callable[[web.Request], object] | bytes) -> None:
        self.routes[(method, path)] = reply if callable(reply) else (lambda request, data=reply: xml(data))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.read())
        reply = self.routes.get((request.method, request.path))
        if reply is None:
            return web.Response(status=404, text="not in this replay")
        result = reply(request)
        return await result if asyncio.iscoroutine(result) else result

    async def start(self, *, authenticate: bool = True) -> None:
        middlewares = [device_middleware(lambda request: self.device)] if authenticate else []
        app = web.Application(middlewares=middlewares)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner, self.port = await start_site(app, "127.0.0.1", 0)

    def driver(self, **options: object) -> HikvisionDriver:
        return HikvisionDriver(Endpoint("hikvision", "127.0.0.1", self.port, "admin", "fixture-pass", timeout=3.0,
                                        options=options))


@pytest_asyncio.fixture
async def replay() -> AsyncIterator[Replay]:
    server = Replay()
    server.serve("GET", "/ISAPI/System/time", body("time.xml"))
    yield server
    server.closing.set()
    if server.runner is not None:
        await server.runner.cleanup()
    assert not server.device.basic_requests(), "the driver sent Basic credentials"


async def test_cassette_device_info_and_status(replay: Replay) -> None:
    replay.serve("GET", "/ISAPI/System/deviceInfo", lambda request: recorded("/ISAPI/System/deviceinfo"))
    replay.serve("GET", "/ISAPI/System/status", lambda request: recorded("/ISAPI/System/status"))
    await replay.start()
    driver = replay.driver()
    try:
        info = await driver.device_info()
        status = await driver.status()
    finally:
        await driver.close()
    assert (info.manufacturer, info.model, info.kind, info.channels) == ("Hikvision", "DS-2CD2155FWD-I",
                                                                        DeviceKind.CAMERA, 1)
    assert info.serial_number == "DS-2CD2155FWD-XXXXXXXXXXXXXXXXXXXXX"
    assert info.firmware_version == "V5.5.0 build 170725"
    # The recorded camera never had its clock set: 1970, in its own +08:00.
    assert status.device_time == datetime(1970, 2, 22, 0, 21, 26, tzinfo=UTC)
    assert (status.uptime_seconds, status.reboots) == (2900578, 0)


async def test_cassette_401_challenge_is_answered_with_digest_then_auth_failed(replay: Replay) -> None:
    unauthorized = CASSETTE["interactions"][0]["response"]
    challenge = unauthorized["headers"]["WWW-Authenticate"][0]
    seen: list[str] = []

    def refuse(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(status=401, body=unauthorized["body"]["string"].encode(),
                            headers={"Content-Type": "text/html", "WWW-Authenticate": challenge})

    replay.serve("GET", "/ISAPI/System/deviceInfo", refuse)
    await replay.start(authenticate=False)
    driver = replay.driver()
    try:
        with pytest.raises(DeviceError) as caught:
            await driver.device_info()
    finally:
        await driver.close()
    assert caught.value.kind is FindingKind.AUTH_FAILED and "fixture-pass" not in caught.value.reason
    assert seen[0] == "" and seen[1].startswith("Digest ") and 'realm="IP Camera(83813)"' in seen[1]
    recorded_nonce = challenge.split('nonce="', 1)[1].split('"', 1)[0]
    assert recorded_nonce.startswith("4d575578") and f'nonce="{recorded_nonce}"' in seen[1]
    assert "qop=auth" in seen[1] and "nc=00000001" in seen[1]
    assert not any(header.lower().startswith("basic") for header in seen)


async def test_pyhik_samples_info_triggers_outputs_streams(replay: Replay) -> None:
    replay.serve("GET", "/ISAPI/System/deviceInfo", body("pyhik_device_info_xml.xml"))
    replay.serve("GET", "/ISAPI/Event/triggers", body("pyhik_event_triggers_xml.xml"))
    replay.serve("GET", "/ISAPI/System/IO/outputs", body("pyhik_io_outputs_xml.xml"))
    replay.serve("GET", "/ISAPI/Streaming/channels", body("pyhik_streaming_channels_xml.xml"))
    await replay.start()
    driver = replay.driver()
    try:
        info = await driver.device_info()
        triggers = await driver.event_triggers()
        outputs = await driver.io_outputs()
        streams = await driver.stream_ids()
    finally:
        await driver.close()
    assert (info.model, info.firmware_version, info.hardware_id) == ("DS-2CD2142FWD-I", "V5.4.5", "aa:bb:cc:dd:ee:ff")
    assert [(t.event_type, t.channel, sorted(t.methods)) for t in triggers] == [
        ("VMD", 1, ["record"]), ("linedetection", 2, ["email"]), ("fielddetection", 3, ["beep"]),
        ("VMD", 4, ["center"]), ("VMD", 5, ["http"])]
    assert triggers[0].kind is DeviceEventKind.MOTION and triggers[1].kind is DeviceEventKind.OTHER
    assert outputs == {1: "Alarm Output 1"}
    assert streams == [101, 102, 201]


async def test_time_and_ntp(replay: Replay) -> None:
    replay.serve("GET", "/ISAPI/System/time/ntpServers", body("ntpServers.xml"))
    await replay.start()
    driver = replay.driver()
    try:
        reading = await driver.get_clock()
    finally:
        await driver.close()
    assert reading.device_time == datetime(2026, 3, 1, 0, 0, 5, tzinfo=UTC)
    assert (reading.time_zone, reading.ntp_enabled) == ("CST-8:00:00", True)
    assert reading.ntp_servers == ("ntp.aliyun.com", "10.20.0.1")


async def test_time_without_offset_takes_the_dst_zone(replay: Replay) -> None:
    replay.serve("GET", "/ISAPI/System/time", body("time_dst_no_offset.xml"))
    await replay.start()
    driver = replay.driver()
    try:
        reading = await driver.get_clock()
    finally:
        await driver.close()
    assert reading.device_time == datetime(2026, 7, 15, 16, 30, tzinfo=UTC)  # 12:30 EDT
    assert reading.ntp_enabled is False and reading.ntp_servers == ()  # no ntpServers on this replay: 404


async def test_search_pages_until_ok(replay: Replay) -> None:
    def page(request: web.Request) -> web.Response:
        first = b"<searchResultPostion>0</searchResultPostion>" in replay.bodies[-1]
        return xml(body("search_page1.xml" if first else "search_page2.xml"))

    replay.serve("POST", "/ISAPI/ContentMgmt/search", page)
    await replay.start()
    driver = replay.driver()
    start, end = datetime(2026, 2, 28, 16, tzinfo=UTC), datetime(2026, 3, 1, 16, tzinfo=UTC)
    try:
        segments = await driver.recordings(2, start, end)
    finally:
        await driver.close()
    searches = [b for b in replay.bodies if b.startswith(b"<?xml") and b"CMSearchDescription" in b]
    assert len(searches) == 2 and b"<searchResultPostion>2</searchResultPostion>" in searches[1]
    assert b"<trackID>201</trackID>" in searches[0] and b"<startTime>2026-03-01T00:00:00Z</startTime>" in searches[0]
    assert [(s.start, s.end) for s in segments] == [
        (datetime(2026, 2, 28, 16, 0, tzinfo=UTC), datetime(2026, 2, 28, 17, 12, 44, tzinfo=UTC)),
        (datetime(2026, 2, 28, 17, 12, 44, tzinfo=UTC), datetime(2026, 2, 28, 18, 30, tzinfo=UTC)),
        (datetime(2026, 2, 28, 19, 5, 10, tzinfo=UTC), datetime(2026, 2, 28, 19, 20, tzinfo=UTC))]
    assert [s.kind for s in segments] == [RecordingKind.CONTINUOUS, RecordingKind.CONTINUOUS, RecordingKind.EVENT]
    assert [s.size_bytes for s in segments] == [1073741824, 1073741824, 221249536]
    assert all(s.channel == 2 and "name=0000000040" in s.token for s in segments)


async def test_daily_distribution(replay: Replay) -> None:
    replay.serve("POST", "/ISAPI/ContentMgmt/record/tracks/101/dailyDistribution", body("dailyDistribution.xml"))
    await replay.start()
    driver = replay.driver()
    try:
        assert await driver.recording_days(1, 2026, 3) == {1: True, 2: False, 3: True}
        assert await driver.recording_days(2, 2026, 3) is None  # not on this device: 404
    finally:
        await driver.close()
    assert b"<year>2026</year><monthOfYear>3</monthOfYear>" in replay.bodies[-2]


async def test_storage(replay: Replay) -> None:
    replay.serve("GET", "/ISAPI/ContentMgmt/Storage", body("storage.xml"))
    await replay.start()
    driver = replay.driver()
    try:
        disks = await driver.storage()
    finally:
        await driver.close()
    assert [(d.id, d.status, d.raw_status, d.capacity_bytes, d.free_bytes) for d in disks] == [
        ("hdd1", DiskStatus.FULL, "ok", 3815447 * MIB, 0),
        ("hdd2", DiskStatus.ERROR, "smartFailed", 1907729 * MIB, 512000 * MIB),
        ("hdd3", DiskStatus.UNFORMATTED, "unformatted", 953869 * MIB, 953869 * MIB),
        ("nas9", DiskStatus.OK, "ok", 102400 * MIB, 51200 * MIB)]


async def test_log_search(replay: Replay) -> None:
    replay.serve("POST", "/ISAPI/ContentMgmt/logSearch", body("logSearch.xml"))
    await replay.start()
    driver = replay.driver()
    try:
        entries = await driver.audit_log(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    finally:
        await driver.close()
    assert [(e.log_type, e.action, e.user, e.address, e.channel) for e in entries] == [
        ("Operation/remoteLogin", "login", "admin", "10.0.0.99", None),
        ("Operation/remotePlayback", "playback", "operator1", "10.0.0.99", 3),
        ("Exception/illegalAccess", "other", "", "10.0.0.66", None)]
    assert entries[0].time == datetime(2026, 3, 1, 1, 15, 2, tzinfo=UTC)  # device-local despite the Z
    assert entries[2].detail == "invalid login"


async def test_alert_stream_in_small_chunks(replay: Replay) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "multipart/mixed; boundary=boundary"})
        await response.prepare(request)
        data = body("alertStream.multipart")
        for offset in range(0, len(data), 97):  # parts straddle chunk boundaries
            await response.write(data[offset:offset + 97])
            await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):  # a live stream stays open until the test ends
            await asyncio.wait_for(replay.closing.wait(), 10)
        return response

    replay.serve("GET", "/ISAPI/Event/notification/alertStream", stream)
    await replay.start()
    driver = replay.driver()
    events = driver.events()
    try:
        received = [await asyncio.wait_for(anext(events), 5) for _ in range(5)]
    finally:
        await events.aclose()
        await driver.close()
    assert [(e.kind, e.channel, e.active, e.raw) for e in received] == [
        (DeviceEventKind.TAMPER, 2, True, "shelteralarm"),
        (DeviceEventKind.DISK_FULL, None, True, "diskfull"),
        (DeviceEventKind.VIDEO_LOSS, 5, True, "videoloss"),
        (DeviceEventKind.TAMPER, 2, False, "shelteralarm"),
        (DeviceEventKind.RECORDING_FAILURE, 3, True, "recordingfailure")]
    assert received[0].time == datetime(2026, 3, 1, 0, 0, 3, tzinfo=UTC)
    assert received[0].time - received[-1].time == timedelta(seconds=-7)

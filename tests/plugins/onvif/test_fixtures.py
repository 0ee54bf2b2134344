"""Every recorded ONVIF reply in fixtures/ replayed over HTTP and read through the driver's own code path."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Endpoint
from watchkeeper.plugins.onvif import events, transport
from watchkeeper.plugins.onvif.driver import OnvifCamera
from watchkeeper.plugins.onvif.profileg import _aware
from watchkeeper.core.timezones import utc_offset
from watchkeeper.devices.safeparse import local_name, parse_xml

FIXTURES = Path(__file__).parent / "fixtures"
#: Operation name in a request → the recorded reply a real device gave to it.
BY_OPERATION = {
    "GetSystemDateAndTime": "agsh_GetSystemDateAndTime.xml",
    "GetServices": "agsh_GetServices.xml",
    "GetNTP": "agsh_device.GetNTP.xml",
    "GetDeviceInformation": "exonvif_get_device_information.xml",
    "GetProfiles": "agsh_GetProfiles.xml",
    "CreatePullPointSubscription": "exonvif_create_pull_point_subscription.xml",
}


@pytest_asyncio.fixture
async def replay():
    """A loopback server answering with recorded bodies: /replay/<file>, or by the operation asked for."""
    async def answer(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or BY_OPERATION[
            local_name(next(iter(next(c for c in parse_xml(await request.read(), "request")
                                      if local_name(c.tag) == "Body"))).tag)]
        body = (FIXTURES / name).read_bytes()
        status = 400 if b"Fault>" in body else 200
        return web.Response(body=body, status=status, headers={"Content-Type": "application/soap+xml; charset=utf-8"})

    app = web.Application()
    app.router.add_post("/replay/{name}", answer)
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]
    await runner.cleanup()


@pytest_asyncio.fixture
async def camera(replay):
    driver = OnvifCamera(Endpoint("onvif", "127.0.0.1", replay, "admin", "secret", timeout=5))
    yield driver
    await driver.close()


async def _read(port: int, service: str, fixture: str, operation: str, **params):
    http = transport.http_client(Endpoint("onvif", "127.0.0.1", port, "admin", "secret", timeout=5))
    try:
        proxy = await transport.service_proxy(service, f"http://127.0.0.1:{port}/replay/{fixture}",
                                              transport.BoundedTransport(http),
                                              transport.username_token("admin", "secret", 0))
        return await getattr(proxy, operation)(**params)
    finally:
        await http.aclose()


@pytest.mark.asyncio
async def test_clock_quirks_gsoap_camera(camera: OnvifCamera, replay: int) -> None:
    reading = await camera.get_clock()
    assert reading.device_time == datetime(2014, 12, 24, 19, 14, 37, tzinfo=timezone.utc)
    assert reading.time_zone == "MoroccoStandardTime0"  # non-POSIX: reported as is, not interpreted
    assert utc_offset("MoroccoStandardTime0") is None and utc_offset("CST-8").total_seconds() == 8 * 3600
    assert reading.ntp_enabled is False and reading.ntp_servers == ("192.168.1.168",)
    assert reading.offset < -10 * 365 * 86400  # a camera stuck in 2014 is measured, not refused
    # GetServices advertised 192.168.68.111; every service is reached at the configured address instead.
    assert camera._xaddrs and all(x == f"http://127.0.0.1:{replay}/onvif/services" for x in camera._xaddrs.values())


@pytest.mark.asyncio
async def test_device_information_and_profiles(camera: OnvifCamera) -> None:
    info = await camera.device_info()
    assert (info.manufacturer, info.model) == ("Milesight Technology Co.,Ltd.", "MS-C8165-PE")
    assert (info.serial_number, info.firmware_version, info.hardware_id) == ("EM82V102329001403", "61.8.0.3-r8", "V1.0")
    assert info.channels == 1 and camera._channels == [["main"]] and camera._sources == ["vidsrc0"]


@pytest.mark.asyncio
async def test_pull_point_subscription_address_is_rewritten(camera: OnvifCamera, replay: int) -> None:
    await camera._connect()
    subscription = await events._subscribe(camera, 60.0)
    address = f"http://127.0.0.1:{replay}/onvif/Events/PullSubManager_20250415T164937Z_0"
    # Pulled and renewed at the one address the device gave, reached at the configured host.
    assert subscription.pullpoint._binding_options["address"] == address
    assert subscription.manager._binding_options["address"] == address


@pytest.mark.asyncio
async def test_search_replies(replay: int) -> None:
    summary = await _read(replay, "search", "exonvif_get_recording_summary.xml", "GetRecordingSummary")
    assert summary.NumberRecordings == 8
    assert _aware(summary.DataFrom) is None  # DataFrom 1970-01-01: the epoch quirk is ignored
    assert _aware(summary.DataUntil) == datetime(2024, 12, 13, 8, 8, 49, tzinfo=timezone.utc)
    found = await _read(replay, "search", "exonvif_find_recordings.xml", "FindRecordings",
                        Scope={}, KeepAliveTime="PT10S")
    assert found == "RecordingSearchToken_1"


@pytest.mark.asyncio
async def test_recording_service_replies(replay: int) -> None:
    recordings = await _read(replay, "recording", "exonvif_get_recordings.xml", "GetRecordings")
    assert len(recordings) == 3 and recordings[0].RecordingToken == "SD_DISK_20200422_123501_A2388AB3"
    assert recordings[0].Configuration.Source.Name == "paolo"
    assert [t.TrackToken for t in recordings[0].Tracks.Track] == ["VIDEO001", "AUDIO001", "META001"]
    jobs = await _read(replay, "recording", "exonvif_get_recording_jobs.xml", "GetRecordingJobs")
    assert len(jobs) == 1 and jobs[0].JobConfiguration.Mode == "Active"
    assert jobs[0].JobConfiguration.Source[0].SourceToken.Token == "profile_1_h264"
    caps = await _read(replay, "recording", "exonvif_get_recording_service_capabilities.xml", "GetServiceCapabilities")
    assert caps.DynamicRecordings is False and "H264" in caps.Encoding


@pytest.mark.asyncio
async def test_service_capabilities(replay: int) -> None:
    media = await _read(replay, "media", "exonvif_get_media_service_capabilities.xml", "GetServiceCapabilities")
    assert media.SnapshotUri is True and media.ProfileCapabilities.MaximumNumberOfProfiles == 24
    replay_caps = await _read(replay, "replay", "exonvif_get_replay_service_capabilities.xml", "GetServiceCapabilities")
    assert replay_caps.ReversePlayback is False and replay_caps.RTP_RTSP_TCP is True
    event_caps = await _read(replay, "events", "exonvif_get_event_service_capabilities.xml", "GetServiceCapabilities")
    assert event_caps.WSPullPointSupport is True and event_caps.MaxPullPoints == 32
    device = await _read(replay, "devicemgmt", "agsh_GetServiceCapabilities.xml", "GetServiceCapabilities")
    assert device.Security.UsernameToken is True and device.Security.HttpDigest is False


@pytest.mark.asyncio
async def test_device_replies(replay: int) -> None:
    assert (await _read(replay, "devicemgmt", "agsh_GetHostname.xml", "GetHostname")).Name == "IPNC-RDK"
    assert (await _read(replay, "devicemgmt", "exonvif_get_hostname.xml", "GetHostname")).Name in (None, "")
    scopes = await _read(replay, "devicemgmt", "exonvif_get_scopes.xml", "GetScopes")
    assert len(scopes) == 10 and scopes[0].ScopeItem == "onvif://www.onvif.org/type/Network_Video_Transmitter"
    sources = await _read(replay, "media", "agsh_media.GetVideoSources.xml", "GetVideoSources")
    assert sources[0].token == "vidsrc0" and sources[0].Resolution.Width == 1920


@pytest.mark.asyncio
@pytest.mark.parametrize("fixture", ["agsh_GetEventProperties.xml", "exonvif_get_event_properties.xml"])
async def test_event_properties(replay: int, fixture: str) -> None:
    properties = await _read(replay, "events", fixture, "GetEventProperties")
    assert properties.FixedTopicSet is True
    assert "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" in properties.TopicExpressionDialect
    topics = {local_name(element.tag) for element in properties.TopicSet._value_1}
    assert ("Device" in topics) if fixture.startswith("agsh") else {"VideoSource", "RuleEngine"} <= topics


@pytest.mark.asyncio
async def test_soap_fault_is_protocol_error(replay: int) -> None:
    with pytest.raises(Exception) as caught:
        await _read(replay, "media", "exonvif_soap_fault.xml", "GetSnapshotUri", ProfileToken="nope")
    error = transport.map_error(caught.value, "GetSnapshotUri")
    assert error.kind is FindingKind.PROTOCOL_ERROR and "NoProfile" in error.reason

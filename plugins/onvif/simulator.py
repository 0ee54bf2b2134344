"""A simulated ONVIF camera/NVR on loopback: SOAP 1.2, WS-UsernameToken, Profile S/G/T services, faults."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree.ElementTree import Element

import attrs
import isodate
from aiohttp import web

from watchkeeper.drivers import DeviceError
from watchkeeper.faults import FaultProfile
from watchkeeper.models import DeviceEventKind, Endpoint
from watchkeeper.safeparse import local_name, parse_xml
from watchkeeper.scenes import jpeg, render
from watchkeeper.simhttp import HttpDevice, LoggedRequest, send_hostile

from . import simreplies as replies
from .simstate import EVENT_PAGE, RECORDING_PAGE, SUBSCRIPTION_SECONDS, DeviceState
from .soap import CONTENT_TYPE, NAMESPACES, UsernameTokenVerifier, envelope, fault, find, find_all, find_text, \
    not_authorized, parse_xml_time

MANUFACTURER, MODEL, FIRMWARE = "Watchkeeper Sim", "WK-ONVIF-NVR", "2.42.0-sim"
#: The longest a PullMessages call is held open, whatever Timeout the client asks for.
MAX_PULL_WAIT = 10.0
DEVICE_KEY: web.RequestKey["OnvifSimDevice"] = web.RequestKey("onvif_device", object)  # type: ignore[arg-type]


class SoapFault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.body, self.status = fault(code, subcode, reason), status


@attrs.define(eq=False)
class OnvifSimDevice:
    """One simulated ONVIF device: what `watchkeeper.testing.SimulatedDevice` asks for, and its state."""

    endpoint: Endpoint
    index: int
    advertise_host: str
    rtsp_port: int
    state: DeviceState
    http: HttpDevice
    tokens: UsernameTokenVerifier
    #: UDP port answering WS-Discovery Probes for this process's devices (0: not answering).
    discovery_port: int = 0
    #: False plays an older device that only knows GetCapabilities.
    get_services: bool = True

    @property
    def log(self) -> list[LoggedRequest]:
        return self.http.log

    @property
    def base_url(self) -> str:
        return f"http://{self.advertise_host}:{self.endpoint.port}"

    def set_faults(self, faults: FaultProfile, channel: int | None = None) -> None:
        self.state.faults[channel] = faults
        if channel is None:
            self.http.faults = faults
        if faults.disk_error:
            self.state.publish(DeviceEventKind.DISK_ERROR, channel or 1)

    async def trigger_event(self, kind: DeviceEventKind, channel: int) -> None:
        if kind is DeviceEventKind.REBOOT:
            self.state.reboot()
        else:
            self.state.publish(kind, channel)

    def snapshot(self, channel: int) -> bytes:
        faults = self.state.channel_faults(channel)
        tick = 0 if "frozen" in faults.image else int(time.time())
        return _snapshot(self.index * 100 + channel, faults.image, tick)


@functools.lru_cache(maxsize=256)
def _snapshot(seed: int, image_faults: frozenset, tick: int) -> bytes:
    return jpeg(render(seed, image_faults, tick))


# --- SOAP operations ---------------------------------------------------------------------------

Handler = Callable[[OnvifSimDevice, Element], Any]
OPERATIONS: dict[tuple[str, str], Handler] = {}


def operation(prefix: str, name: str) -> Callable[[Handler], Handler]:
    def decorate(function: Handler) -> Handler:
        OPERATIONS[(NAMESPACES[prefix], name)] = function
        return function
    return decorate


def _channel_of(device: OnvifSimDevice, token: str) -> int:
    digits = "".join(ch for ch in token.split("_")[1] if ch.isdigit()) if "_" in token else ""
    channel = int(digits) if digits else 0
    if not 1 <= channel <= device.state.channels:
        raise SoapFault("Sender", "ter:InvalidArgVal", f"no such token {token!r}")
    return channel


def _duration(text: str, default: float) -> float:
    try:
        return isodate.parse_duration(text).total_seconds() if text else default
    except (isodate.ISO8601Error, ValueError, AttributeError):
        raise SoapFault("Sender", "ter:InvalidArgVal", f"bad duration {text!r}") from None


@operation("tds", "GetSystemDateAndTime")
def _get_date_time(device: OnvifSimDevice, _: Element) -> str:
    state = device.state
    return replies.date_time(state.now(), state.reported_time_zone(), state.ntp_enabled)


@operation("tds", "SetSystemDateAndTime")
def _set_date_time(device: OnvifSimDevice, request: Element) -> str:
    state = device.state
    state.ntp_enabled = find_text(request, "DateTimeType") == "NTP"
    tz = find_text(request, "TimeZone", "TZ")
    if tz:
        state.time_zone = tz
    utc = find(request, "UTCDateTime")
    if utc is not None and not state.ntp_enabled:
        parts = [int(find_text(utc, *path) or 0) for path in (("Date", "Year"), ("Date", "Month"), ("Date", "Day"),
                                                               ("Time", "Hour"), ("Time", "Minute"), ("Time", "Second"))]
        state.set_clock(datetime(*parts, tzinfo=timezone.utc))
    return "<tds:SetSystemDateAndTimeResponse/>"


@operation("tds", "GetNTP")
def _get_ntp(device: OnvifSimDevice, _: Element) -> str:
    return replies.ntp(device.state.ntp_servers)


@operation("tds", "SetNTP")
def _set_ntp(device: OnvifSimDevice, request: Element) -> str:
    servers = [find_text(item, "DNSname") or find_text(item, "IPv4Address") for item in find_all(request, "NTPManual")]
    device.state.ntp_servers = [s for s in servers if s]
    device.state.ntp_enabled = bool(device.state.ntp_servers)
    return "<tds:SetNTPResponse/>"


OPERATIONS[(NAMESPACES["tds"], "GetDeviceInformation")] = lambda device, _: replies.device_information(
    MANUFACTURER, MODEL, FIRMWARE, f"WK{device.endpoint.port:05d}{device.index:04d}")


@operation("tds", "GetServices")
def _get_services(device: OnvifSimDevice, _: Element) -> str:
    if not device.get_services:
        raise SoapFault("Receiver", "ter:ActionNotSupported", "GetServices is not supported", 500)
    return replies.services(device.base_url)


OPERATIONS[(NAMESPACES["tds"], "GetCapabilities")] = lambda device, _: replies.capabilities(device.base_url)
OPERATIONS[(NAMESPACES["tds"], "GetScopes")] = lambda device, _: replies.scopes(f"wk-sim-{device.index}", MODEL)
OPERATIONS[(NAMESPACES["tds"], "GetHostname")] = lambda device, _: replies.hostname(f"wk-sim-{device.index}")
OPERATIONS[(NAMESPACES["trt"], "GetProfiles")] = lambda device, _: replies.profiles(device.state.channels)
OPERATIONS[(NAMESPACES["trt"], "GetVideoSources")] = lambda device, _: replies.video_sources(device.state.channels)
OPERATIONS[(NAMESPACES["trt"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "trt", 'SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false"')
OPERATIONS[(NAMESPACES["tse"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "tse", 'MetadataSearch="false" GeneralStartEvents="false"')
OPERATIONS[(NAMESPACES["trp"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "trp", 'ReversePlayback="false" RTP_RTSP_TCP="true"')
OPERATIONS[(NAMESPACES["tev"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "tev", 'WSSubscriptionPolicySupport="false" WSPullPointSupport="true" '
    'WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" MaxPullPoints="10"')


@operation("trt", "GetSnapshotUri")
def _snapshot_uri(device: OnvifSimDevice, request: Element) -> str:
    channel = _channel_of(device, find_text(request, "ProfileToken"))
    return replies.media_uri("GetSnapshotUri", f"{device.base_url}/onvif/snapshot/{channel}.jpg")


@operation("trt", "GetStreamUri")
def _stream_uri(device: OnvifSimDevice, request: Element) -> str:
    token = find_text(request, "ProfileToken")
    channel = _channel_of(device, token)
    stream = "sub" if token.endswith("_sub") else "main"
    uri = f"rtsp://{device.advertise_host}:{device.rtsp_port}/wk{device.index}/ch{channel}/{stream}"
    return replies.media_uri("GetStreamUri", uri)


@operation("tse", "GetRecordingSummary")
def _recording_summary(device: OnvifSimDevice, _: Element) -> str:
    pieces = [p for ch in range(1, device.state.channels + 1) for p in device.state.recorded(ch)]
    start = min((p[0] for p in pieces), default=device.state.started)
    until = max((p[1] for p in pieces), default=device.state.started)
    return replies.recording_summary(start, until, device.state.channels)


def _scoped_channels(device: OnvifSimDevice, request: Element) -> list[int]:
    scope = find(request, "Scope")
    recordings = [find_text(t) or (t.text or "").strip() for t in find_all(scope, "IncludedRecordings")]
    sources = [find_text(s, "Token") for s in find_all(scope, "IncludedSources")]
    if not recordings and not sources:
        return list(range(1, device.state.channels + 1))
    return sorted({_channel_of(device, token) for token in recordings + sources if token})


@operation("tse", "FindRecordings")
def _find_recordings(device: OnvifSimDevice, request: Element) -> str:
    results = [device.state.recording_information(ch) for ch in _scoped_channels(device, request)]
    token = device.state.start_search(results)
    return f"<tse:FindRecordingsResponse><tse:SearchToken>{token}</tse:SearchToken></tse:FindRecordingsResponse>"


@operation("tse", "FindEvents")
def _find_events(device: OnvifSimDevice, request: Element) -> str:
    try:
        start = parse_xml_time(find_text(request, "StartPoint"))
        end_text = find_text(request, "EndPoint")
        end = parse_xml_time(end_text) if end_text else device.state.now()
    except ValueError:
        raise SoapFault("Sender", "ter:InvalidArgVal", "bad StartPoint/EndPoint") from None
    start_state = find_text(request, "IncludeStartState").lower() == "true"
    results = [event for ch in _scoped_channels(device, request)
               for event in device.state.recording_events(ch, start, end, start_state)]
    token = device.state.start_search(results)
    return f"<tse:FindEventsResponse><tse:SearchToken>{token}</tse:SearchToken></tse:FindEventsResponse>"


def _search_page(device: OnvifSimDevice, request: Element, element: str, page: int) -> str:
    limit = min(int(find_text(request, "MaxResults") or page), page)
    found = device.state.page(find_text(request, "SearchToken"), max(limit, 1))
    if found is None:
        raise SoapFault("Sender", "ter:InvalidArgVal", "unknown search token")
    state, results = found
    return replies.search_results(element, state, results)


OPERATIONS[(NAMESPACES["tse"], "GetRecordingSearchResults")] = lambda device, request: _search_page(
    device, request, "GetRecordingSearchResults", RECORDING_PAGE)
OPERATIONS[(NAMESPACES["tse"], "GetEventSearchResults")] = lambda device, request: _search_page(
    device, request, "GetEventSearchResults", EVENT_PAGE)


@operation("tse", "EndSearch")
def _end_search(device: OnvifSimDevice, request: Element) -> str:
    device.state.searches.pop(find_text(request, "SearchToken"), None)
    return f"<tse:EndSearchResponse><tse:Endpoint>{replies.xml_time(device.state.now())}</tse:Endpoint></tse:EndSearchResponse>"


@operation("trp", "GetReplayUri")
def _replay_uri(device: OnvifSimDevice, request: Element) -> str:
    channel = _channel_of(device, find_text(request, "RecordingToken"))
    uri = f"rtsp://{device.advertise_host}:{device.rtsp_port}/wk{device.index}/replay/Recording_{channel}"
    return f"<trp:GetReplayUriResponse><trp:Uri>{uri}</trp:Uri></trp:GetReplayUriResponse>"


@operation("tev", "CreatePullPointSubscription")
def _create_pull_point(device: OnvifSimDevice, request: Element) -> str:
    seconds = _duration(find_text(request, "InitialTerminationTime"), SUBSCRIPTION_SECONDS)
    key = device.state.subscribe(seconds)
    subscription = device.state.subscriptions[key]
    return replies.pull_point(f"{device.base_url}/onvif/Subscription?Idx={key}", device.state.now(),
                              device.state.now() + (subscription.until - datetime.now(timezone.utc)))


def _subscription(device: OnvifSimDevice, key: str) -> Any:
    subscription = device.state.live_subscription(key)
    if subscription is None:
        raise SoapFault("Receiver", "wsrf-rw:ResourceUnknownFault", "subscription does not exist", 500)
    return subscription


async def _pull_messages(device: OnvifSimDevice, request: Element, key: str) -> str:
    subscription = _subscription(device, key)
    wait = min(_duration(find_text(request, "Timeout"), 1.0), MAX_PULL_WAIT)
    limit = int(find_text(request, "MessageLimit") or 10)
    if not subscription.queue:
        subscription.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscription.wake.wait(), wait)
    subscription = _subscription(device, key)  # a reboot while waiting loses it
    messages, subscription.queue[:] = subscription.queue[:limit], subscription.queue[limit:]
    now = device.state.now()
    return replies.pull_messages(now, now + (subscription.until - datetime.now(timezone.utc)), messages)


def _renew(device: OnvifSimDevice, request: Element, key: str) -> str:
    subscription = _subscription(device, key)
    seconds = _duration(find_text(request, "TerminationTime"), SUBSCRIPTION_SECONDS)
    subscription.until = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return replies.renew(device.state.now(), device.state.now() + timedelta(seconds=seconds))


def _unsubscribe(device: OnvifSimDevice, _: Element, key: str) -> str:
    _subscription(device, key)
    device.state.subscriptions.pop(key, None)
    return "<wsnt:UnsubscribeResponse/>"


SUBSCRIPTION_OPERATIONS = {"PullMessages": _pull_messages, "Renew": _renew, "Unsubscribe": _unsubscribe}


# --- HTTP --------------------------------------------------------------------------------------

def _soap_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": CONTENT_TYPE})


async def _handle_soap(device: OnvifSimDevice, request: web.Request) -> web.StreamResponse:
    try:
        document = parse_xml(await request.read(), "request")
    except DeviceError:
        return _soap_response(fault("Sender", "ter:WellFormed", "malformed request"), 400)
    header, body = find(document, "Header"), find(document, "Body")
    operation_element = next(iter(body), None) if body is not None else None
    if operation_element is None:
        return _soap_response(fault("Sender", "ter:WellFormed", "empty body"), 400)
    namespace, name = operation_element.tag[1:].partition("}")[::2]
    name = local_name(operation_element.tag)
    public = (namespace, name) == (NAMESPACES["tds"], "GetSystemDateAndTime")
    if not public:
        faults = device.state.device_faults
        password = device.http.password + ("-changed" if faults.wrong_password else "")
        if not device.tokens.check(header, password, device.state.now()):
            return _soap_response(not_authorized(), 400)
        if faults.hostile is not None:
            return await send_hostile(request, faults.hostile, "SOAP-ENV:Envelope")
    try:
        if request.path == "/onvif/Subscription" and name in SUBSCRIPTION_OPERATIONS:
            result = SUBSCRIPTION_OPERATIONS[name](device, operation_element, request.query.get("Idx", ""))
        else:
            handler = OPERATIONS.get((namespace, name))
            if handler is None:
                raise SoapFault("Receiver", "ter:ActionNotSupported", f"{name} is not supported", 500)
            result = handler(device, operation_element)
        if asyncio.iscoroutine(result):
            result = await result
    except SoapFault as soap_fault:
        return _soap_response(soap_fault.body, soap_fault.status)
    return _soap_response(envelope(result))


async def _handle_snapshot(device: OnvifSimDevice, request: web.Request) -> web.StreamResponse:
    faults = device.state.device_faults
    password = device.http.password + "-changed" if faults.wrong_password else None
    if not device.http.auth.check(request.method, request.headers.get("Authorization", ""), password):
        return web.Response(status=401, text="Unauthorized",
                            headers={"WWW-Authenticate": device.http.auth.challenge()})
    if faults.hostile is not None:
        return await send_hostile(request, faults.hostile, "html")
    channel = int(request.match_info["channel"])
    if not 1 <= channel <= device.state.channels:
        raise web.HTTPNotFound()
    return web.Response(body=device.snapshot(channel), content_type="image/jpeg")


def make_app(devices_by_port: dict[int, OnvifSimDevice]) -> web.Application:
    """One aiohttp app serving every simulated device; the listening port says which device."""

    @web.middleware
    async def faults_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        device = devices_by_port.get(sockname[1]) if sockname else None
        if device is None:
            raise web.HTTPNotFound()
        device.log.append(LoggedRequest(request.method, request.path_qs, request.headers.get("Authorization", ""),
                                        time.time()))
        del device.log[:-2_000]
        faults = device.state.device_faults
        if faults.offline or faults.drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError()
        if faults.slow:
            await asyncio.sleep(faults.slow)
        request[DEVICE_KEY] = device
        return await handler(request)

    async def soap(request: web.Request) -> web.StreamResponse:
        return await _handle_soap(request[DEVICE_KEY], request)

    async def snapshot(request: web.Request) -> web.StreamResponse:
        return await _handle_snapshot(request[DEVICE_KEY], request)

    app = web.Application(middlewares=[faults_middleware], client_max_size=256 * 1024)
    app.router.add_get(r"/onvif/snapshot/{channel:\d+}.jpg", snapshot)
    app.router.add_post("/onvif/{service}", soap)
    return app


@contextlib.asynccontextmanager
async def simulate(host: str = "127.0.0.1", port: int = 0, username: str = "admin",
                   password: str = "watchkeeper-sim", devices: int = 1, faults: FaultProfile | None = None,
                   channels: int = 1, advertise_host: str | None = None, rtsp_port: int = 8554,
                   discovery: bool = False, discovery_port: int = 0,
                   rtsp: bool = False) -> AsyncIterator[list[OnvifSimDevice]]:
    """Start `devices` simulated ONVIF devices in this process (the platform's SimulatorFactory)."""
    by_port: dict[int, OnvifSimDevice] = {}
    runner = web.AppRunner(make_app(by_port), access_log=None, handle_signals=False)
    await runner.setup()
    running: list[OnvifSimDevice] = []
    responder, rtsp_server = None, None
    try:
        for index in range(devices):
            site = web.TCPSite(runner, host, port + index if port else 0, reuse_address=True)
            await site.start()
            bound = site._server.sockets[0].getsockname()[1]  # aiohttp exposes no public accessor
            device = OnvifSimDevice(
                endpoint=Endpoint("onvif", host, bound, username, password, device_id=f"onvif-sim-{index + 1}"),
                index=index + 1, advertise_host=advertise_host or host, rtsp_port=rtsp_port,
                state=DeviceState(channels=channels),
                http=HttpDevice(username, password, realm="Watchkeeper ONVIF"),
                tokens=UsernameTokenVerifier(username))
            device.set_faults(faults or FaultProfile())
            by_port[bound] = device
            running.append(device)
        if rtsp:
            from .rtsp import start_rtsp
            rtsp_server, bound = await start_rtsp(running, host, username, password)
            for device in running:
                device.rtsp_port = bound
        if discovery:
            from .discovery import start_responder
            responder, bound = await start_responder(running, host, discovery_port)
            for device in running:
                device.discovery_port = bound
        yield running
    finally:
        if responder is not None:
            responder.close()
        if rtsp_server is not None:
            await rtsp_server.stop()
        await runner.cleanup()

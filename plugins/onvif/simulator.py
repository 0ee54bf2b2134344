"""A simulated ONVIF camera/NVR on loopback: SOAP 1.2, WS-UsernameToken, Profile S/G/T services, faults."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import attrs
from aiohttp import web

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import DeviceEventKind, Endpoint
from watchkeeper.devices.safeparse import local_name, parse_xml
from watchkeeper.simulation.scenes import hostile_picture, jpeg, render
from watchkeeper.simulation.simhttp import HttpDevice, LoggedRequest, send_hostile

from .simops import OPERATIONS, SUBSCRIPTION_OPERATIONS, SoapFault
from .simstate import DeviceState
from .soap import CONTENT_TYPE, NAMESPACES, UsernameTokenVerifier, envelope, fault, find, not_authorized

DEVICE_KEY: web.RequestKey["OnvifSimDevice"] = web.RequestKey("onvif_device", object)  # type: ignore[arg-type]


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
    #: Namespaces of services this device model lacks (a camera without recording search or replay, say):
    #: not advertised, and their operations refused as a device without them refuses them.
    missing_services: frozenset[str] = frozenset()
    #: False plays a Profile G recorder whose search service has no FindEvents (recording history):
    #: clients then know a recording only by its earliest and latest times.
    find_events: bool = True

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
        if faults.picture is not None:
            return hostile_picture(faults.picture)
        # A live camera never serves the same picture twice: the scene advances at 25 frames a second.
        tick = 0 if "frozen" in faults.image else int(time.time() * 25)
        return _snapshot(self.index * 100 + channel, faults.image, tick)


@functools.lru_cache(maxsize=256)
def _snapshot(seed: int, image_faults: frozenset, tick: int) -> bytes:
    return jpeg(render(seed, image_faults, tick))


# --- HTTP --------------------------------------------------------------------------------------

def _soap_response(body: bytes, status: int = 200, device: OnvifSimDevice | None = None) -> web.Response:
    headers = {"Content-Type": CONTENT_TYPE}
    if device is not None:  # as a device's web server does, the Date header shows the device's own clock
        headers["Date"] = email.utils.format_datetime(device.state.now(), usegmt=True)
    return web.Response(body=body, status=status, headers=headers)


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
    faults = device.state.device_faults
    # The standard lets anyone read the clock; the clock_needs_auth fault plays firmware that does not.
    public = (namespace, name) == (NAMESPACES["tds"], "GetSystemDateAndTime") and not faults.clock_needs_auth
    if not public:
        password = device.http.password + ("-changed" if faults.wrong_password else "")
        if not device.tokens.check(header, password, device.state.now()):
            return _soap_response(not_authorized(), 400, device)
        if faults.hostile is not None:
            return await send_hostile(request, faults.hostile, "SOAP-ENV:Envelope")
    try:
        if request.path == "/onvif/Subscription" and name in SUBSCRIPTION_OPERATIONS:
            result: Any = SUBSCRIPTION_OPERATIONS[name](device, operation_element, request.query.get("Idx", ""))
        else:
            handler = OPERATIONS.get((namespace, name)) if namespace not in device.missing_services else None
            if name == "FindEvents" and not device.find_events:
                handler = None
            if handler is None:
                raise SoapFault("Receiver", "ter:ActionNotSupported", f"{name} is not supported", 500)
            result = handler(device, operation_element)
        if asyncio.iscoroutine(result):
            result = await result
    except SoapFault as soap_fault:
        return _soap_response(soap_fault.body, soap_fault.status, device)
    return _soap_response(envelope(result), device=device)


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
                   rtsp: bool | str = False) -> AsyncIterator[list[OnvifSimDevice]]:
    """Start `devices` simulated ONVIF devices in this process (the platform's SimulatorFactory).

    `rtsp=True` also serves live and replay video over RTSP; `rtsp="auto"` does so where this
    machine has GStreamer's RTSP server, and goes without otherwise.
    """
    if rtsp == "auto":
        from .rtsp import rtsp_available
        rtsp = rtsp_available() is None
    by_port: dict[int, OnvifSimDevice] = {}
    runner = web.AppRunner(make_app(by_port), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    running: list[OnvifSimDevice] = []
    responder, rtsp_server = None, None
    try:
        for index in range(devices):
            site = web.TCPSite(runner, host, port + index if port else 0, reuse_address=True)
            await site.start()
            bound = getattr(site._server, "sockets")[0].getsockname()[1]  # aiohttp exposes no public accessor
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

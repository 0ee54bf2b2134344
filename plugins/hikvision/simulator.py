"""A Hikvision camera or NVR speaking ISAPI on loopback: routes, login audit and the factory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.typedefs import Middleware
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import Endpoint
from watchkeeper.simulation.simhttp import Handler, HttpDevice, device_middleware, start_site

from . import simcontent, simdocs, simsystem
from .simdevice import HIK, RUNNING, HikvisionDevice

_NONCE = re.compile(r'nonce="([^"]+)"')

ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/ISAPI/System/deviceInfo", simsystem.device_info),
    ("GET", "/ISAPI/System/status", simsystem.device_status),
    ("GET", "/ISAPI/System/time", simsystem.get_time),
    ("PUT", "/ISAPI/System/time", simsystem.put_time),
    ("GET", "/ISAPI/System/time/ntpServers", simsystem.get_ntp),
    ("PUT", "/ISAPI/System/time/ntpServers", simsystem.put_ntp),
    ("GET", "/ISAPI/System/Video/inputs/channels", simsystem.video_inputs),
    ("GET", "/ISAPI/System/Video/inputs/channels/{channel:\\d+}/motionDetection", simsystem.motion_detection),
    ("GET", "/ISAPI/ContentMgmt/InputProxy/channels", simsystem.input_proxy),
    ("GET", "/ISAPI/Streaming/channels", simsystem.streaming_channels),
    ("GET", "/ISAPI/Streaming/channels/{stream:\\d+}/picture", simsystem.picture),
    ("GET", "/ISAPI/Security/adminAccesses", simsystem.admin_accesses),
    ("GET", "/ISAPI/System/IO/outputs", simsystem.io_outputs),
    ("GET", "/ISAPI/Event/triggers", simsystem.event_triggers),
    ("GET", "/ISAPI/Event/notification/alertStream", simcontent.alert_stream),
    ("POST", "/ISAPI/ContentMgmt/search", simcontent.search),
    ("POST", "/ISAPI/ContentMgmt/record/tracks/{track:\\d+}/dailyDistribution", simcontent.daily_distribution),
    ("GET", "/ISAPI/ContentMgmt/Storage", simcontent.storage),
    # The ISAPI document says GET with a body; most clients POST. Devices accept both.
    ("GET", "/ISAPI/ContentMgmt/download", simcontent.download),
    ("POST", "/ISAPI/ContentMgmt/download", simcontent.download),
    ("POST", "/ISAPI/ContentMgmt/logSearch", simcontent.log_search),
)


def _audit_middleware(device: HikvisionDevice) -> Middleware:
    """Counts Basic attempts and writes the device's own log: logins and illegal access."""
    seen: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic"):
            device.basic_seen += 1
        response = await handler(request)
        nonce = _NONCE.search(header)
        address = request.remote or ""
        if response.status == 401 and header.lower().startswith("digest"):
            device.log_entry("Exception", "illegalAccess", device.http.username, address, None, "invalid login")
            await device.trigger_event_named("illaccess")
        elif nonce and response.status < 400 and nonce.group(1) not in seen:
            seen.add(nonce.group(1))
            if len(seen) > 5000:
                seen.clear()
            device.log_entry("Operation", "remoteLogin", device.http.username, address, None, "")
        return response

    return middleware


def build_app(device: HikvisionDevice) -> web.Application:
    app = web.Application(middlewares=[_audit_middleware(device), device_middleware(lambda request: device.http)],
                          client_max_size=1024 * 1024)
    app[HIK] = device
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_route("*", "/{tail:.*}", simcontent.not_found)
    return app


@asynccontextmanager
async def simulate(host: str = "127.0.0.1", port: int = 0, username: str = "admin",
                   password: str = "watchkeeper-sim", devices: int = 1, faults: FaultProfile | None = None,
                   channels: int = 1, heartbeat: float = 10.0,
                   resolution: tuple[int, int] = (640, 360)) -> AsyncIterator[list[HikvisionDevice]]:
    """Start `devices` simulated devices; `channels` > 1 makes each an NVR with that many channels;
    `resolution` (width, height) is the size of the pictures and clips they serve."""
    running: list[HikvisionDevice] = []
    try:
        for index in range(devices):
            http = HttpDevice(username=username, password=password, realm="IP Camera(83813)",
                              faults=faults or FaultProfile(), hostile_wrapper="DeviceInfo")
            device = HikvisionDevice(http=http, index=index + 1, channels=max(1, channels),
                                     endpoint=Endpoint("hikvision", host, 0), heartbeat=heartbeat,
                                     resolution=resolution)
            runner, bound = await start_site(build_app(device), host, port + index if port else 0)
            device.runner = runner
            device.endpoint = Endpoint("hikvision", host, bound, username, password,
                                       device_id=f"hikvision-sim-{index + 1}")
            running.append(device)
            RUNNING.add(device)
        yield running
    finally:
        for device in running:
            for queue in list(device.subscribers):
                queue.put_nowait(None)
            if device.runner is not None:
                await device.runner.cleanup()


__all__ = ["HikvisionDevice", "ROUTES", "build_app", "simdocs", "simulate"]

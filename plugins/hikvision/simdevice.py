"""The state of one simulated Hikvision device and the helpers its ISAPI handlers share."""

from __future__ import annotations

import asyncio
import time
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
from aiohttp import web
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.simulation.recordings import recorded_intervals
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import AuditAction, DeviceEventKind, Endpoint
from watchkeeper.devices.safeparse import parse_xml
from watchkeeper.simulation.simhttp import HttpDevice
from watchkeeper.core.timezones import DeviceZone, device_string, parse_zone

from . import simdocs
from .isapi import text

#: Every simulated device of this process, so a test session can check no request used Basic.
RUNNING: weakref.WeakSet[HikvisionDevice] = weakref.WeakSet()
EVENT_TYPES = {
    DeviceEventKind.VIDEO_LOSS: "videoloss", DeviceEventKind.TAMPER: "shelteralarm",
    DeviceEventKind.SCENE_CHANGE: "scenechangedetection", DeviceEventKind.DISK_ERROR: "diskerror",
    DeviceEventKind.DISK_FULL: "diskfull", DeviceEventKind.RECORDING_FAILURE: "recordingfailure",
    DeviceEventKind.ILLEGAL_ACCESS: "illaccess", DeviceEventKind.MOTION: "VMD",
}
DEFAULT_ZONE = "CST-8:00:00"
DEFAULT_RETENTION_DAYS = 30.0
SEGMENT = timedelta(hours=1)
#: Matches per search page at most, whatever maxResults asks: clients must page.
PAGE_LIMIT = 40
DISK_MIB = 3815447
#: The log minor type an operation at the device's own console leaves.
CONSOLE_MINORS = {AuditAction.PLAYBACK: "localPlayback", AuditAction.EXPORT: "localBackup",
                  AuditAction.DOWNLOAD: "localDownload", AuditAction.DELETION: "localDeleteFile"}


@attrs.define(eq=False)
class HikvisionDevice:
    """One simulated camera (channels=1) or NVR; `endpoint` reaches it with the right credentials."""

    http: HttpDevice
    index: int
    channels: int
    endpoint: Endpoint
    heartbeat: float = 10.0
    time_zone: str = DEFAULT_ZONE
    time_mode: str = "NTP"
    ntp: list[str] = attrs.field(factory=lambda: ["time.windows.com"])
    channel_faults: dict[int, FaultProfile] = attrs.field(factory=dict)
    subscribers: set[asyncio.Queue[bytes | None]] = attrs.field(factory=set)
    audit: list[tuple[datetime, str, str, str, str, int | None, str]] = attrs.field(factory=list)
    basic_seen: int = 0
    tick: int = 0
    booted: float = attrs.field(factory=time.monotonic)
    runner: web.AppRunner | None = None
    #: (width, height) of the pictures and clips it serves.
    resolution: tuple[int, int] = (640, 360)

    @property
    def faults(self) -> FaultProfile:
        return self.http.faults

    @property
    def is_recorder(self) -> bool:
        return self.channels > 1

    def set_faults(self, faults: FaultProfile, channel: int | None = None) -> None:
        if channel is None:
            self.http.faults = faults
            self.channel_faults.clear()
        else:
            self.channel_faults[channel] = faults

    def channel_profile(self, channel: int) -> FaultProfile:
        return self.channel_faults.get(channel, self.faults)

    def zone(self) -> DeviceZone:
        """The device's zone, as Hikvision writes it (a POSIX-style string; see core.timezones)."""
        setting = self.faults.time_zone
        zone = parse_zone(device_string(setting) if setting else self.time_zone)
        assert isinstance(zone, DeviceZone), "a Hikvision device only ever holds a POSIX-style zone"
        return zone

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.faults.clock_offset)

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.zone()).replace(microsecond=0)

    async def trigger_event(self, kind: DeviceEventKind, channel: int | None, active: bool = True) -> None:
        if kind is DeviceEventKind.REBOOT:
            await self.reboot()
            return
        event = EVENT_TYPES.get(DeviceEventKind(kind), "unknown")
        self.publish(simdocs.alert(event, "active" if active else "inactive", channel, self.local(self.now()),
                                   self.endpoint.host, self.endpoint.port, f"{event} alarm", 1))
        await asyncio.sleep(0)

    async def trigger_event_named(self, event_type: str, channel: int | None = None) -> None:
        """Emit an alert of a raw ISAPI eventType (device exceptions such as illaccess)."""
        self.publish(simdocs.alert(event_type, "active", channel, self.local(self.now()), self.endpoint.host,
                                   self.endpoint.port, f"{event_type} alarm", 1))

    def publish(self, body: bytes) -> None:
        for queue in list(self.subscribers):
            queue.put_nowait(body)

    async def reboot(self, down: float = 0.5) -> None:
        """Drop every connection (alert streams included) and refuse service for `down` seconds."""
        for queue in list(self.subscribers):
            queue.put_nowait(None)
        previous = self.faults
        self.http.faults = attrs.evolve(previous, offline=True)
        await asyncio.sleep(down)
        self.http.faults = previous
        self.booted = time.monotonic()
        self.log_entry("Exception", "reboot", "", "", None, "device restarted")

    def log_entry(self, major: str, minor: str, user: str, address: str, channel: int | None, info: str) -> None:
        self.audit.append((self.now(), major, minor, user, address, channel, info))
        del self.audit[:-2000]

    def console(self, action: AuditAction | str, channel: int, user: str = "admin",
                start: datetime | None = None, end: datetime | None = None) -> None:
        """Someone at the recorder's own monitor plays back, backs up to USB or deletes recordings of a
        channel: the device logs it like any operation, and deleted recordings are gone."""
        action = AuditAction(action)
        minor = CONSOLE_MINORS[action]
        if action is AuditAction.DELETION:
            end = end or self.now()
            start = start or end - SEGMENT
            profile = self.channel_profile(channel)
            self.set_faults(attrs.evolve(profile, gaps=profile.gaps + ((start, end),)), channel=channel)
        span = f"{self.local(start):%Y-%m-%d %H:%M:%S}~{self.local(end):%Y-%m-%d %H:%M:%S}" if start and end else ""
        self.log_entry("Operation", minor, user, "", channel, span)

    # --- recordings ------------------------------------------------------------------------------

    def recorded(self, channel: int, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Recorded pieces overlapping [start, end): hourly files from the retention edge to now, minus gaps."""
        return recorded_intervals(start, end, self.channel_profile(channel), self.now(), int(SEGMENT.total_seconds()),
                                  DEFAULT_RETENTION_DAYS)


def xml_reply(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": "application/xml"})


def not_supported(request: web.Request, status: int = 404) -> web.Response:
    return xml_reply(simdocs.response_status(request.path, 4, "Invalid Operation", "notSupport"), status)


def bad_xml(request: web.Request) -> web.Response:
    return xml_reply(simdocs.response_status(request.path, 6, "Invalid Content", "badXmlContent"), 400)


async def read_xml(request: web.Request) -> Any:
    try:
        return parse_xml(await request.read(), request.path)
    except DeviceError:
        return None


def channel_of(request: web.Request, key: str = "track") -> int | None:
    value = request.match_info.get(key, "")
    return int(value[:-2]) if value.isdigit() and len(value) > 2 else None


def search_time(device: HikvisionDevice, value: str | None) -> datetime | None:
    """Search times carry a `Z` but mean device-local time, as on the recorders in the field."""
    try:
        parsed = datetime.fromisoformat((value or "").strip().removesuffix("Z"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=device.zone()) if parsed.tzinfo is None else parsed


def search_stamp(device: HikvisionDevice, when: datetime) -> str:
    return device.local(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def uri_stamp(device: HikvisionDevice, when: datetime) -> str:
    return device.local(when).strftime("%Y%m%dT%H%M%SZ")


def page_position(root: Any) -> int:
    value = text(root, "searchResultPostion") or text(root, "searchResultPosition") or "0"
    return int(value) if value.isdigit() else 0


def page_limit(root: Any) -> int:
    value = text(root, "maxResults") or ""
    return max(1, min(PAGE_LIMIT, int(value))) if value.isdigit() else PAGE_LIMIT


#: Where each simulator app keeps its device.
HIK = web.AppKey("hik", HikvisionDevice)

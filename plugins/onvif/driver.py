"""The ONVIF camera/NVR driver on onvif-zeep-async: device, media, search (Profile G), replay and events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from watchkeeper.devices.drivers import CapabilityMissing, DeviceError, with_timeout
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.core.models import (
    Capability,
    ClockReading,
    DeviceEvent,
    DeviceInfo,
    DeviceKind,
    Disk,
    Endpoint,
    RecordingSegment,
)
from watchkeeper.devices.http import JPEG_TYPES, DeviceHttp
from watchkeeper.devices.safeparse import local_name, protocol_error

from . import transport as soap
from .profileg import find_all_pages, recording_token, segments_from_events, span_segment
from .timeparse import device_time_of

T = TypeVar("T")

#: Everything the driver can do against a device that offers the search, replay and event services.
FULL_CAPABILITIES = frozenset({
    Capability.SET_CLOCK, Capability.NTP, Capability.SNAPSHOT, Capability.STREAM,
    Capability.PLAYBACK, Capability.RECORDINGS, Capability.EVENTS,
})
#: Capabilities lost when GetServices does not list a service.
NEEDS_SERVICE = {"search": {Capability.RECORDINGS}, "replay": {Capability.PLAYBACK}, "events": {Capability.EVENTS}}
NAMESPACE_OF = {name: soap.SERVICES[name]["ns"] for name in
                ("devicemgmt", "media", "search", "replay", "recording", "events")}
STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


def rewrite_host(url: str, host: str, port: int | None = None) -> str:
    """Devices advertise LAN or stale addresses; reach them at the address the site configured."""
    parts = urlsplit(url)
    netloc_port = port if port is not None else parts.port
    netloc = f"{host}:{netloc_port}" if netloc_port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def required(value: T | None, what: str) -> T:
    """A part of a device's reply that must be there; its absence is the device's fault (PROTOCOL_ERROR), not
    an AttributeError further on, which would read as a bug."""
    if value is None or value == "":
        raise protocol_error(N_("{what}: missing from the device's reply", what=what))
    return value


def without_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def extension_xaddr(extension: Any, section: str) -> str | None:
    """XAddr of a GetCapabilities extension; zeep often leaves these as raw elements in the leading xs:any."""
    if extension is None:
        return None
    entry = getattr(extension, section, None)
    if entry is not None and getattr(entry, "XAddr", None):
        return entry.XAddr
    for element in getattr(extension, "_value_1", None) or []:
        if hasattr(element, "tag") and local_name(element.tag) == section:
            for child in element:
                if local_name(child.tag) == "XAddr" and child.text:
                    return child.text.strip()
    return None


class OnvifCamera:
    """One ONVIF device. Cheap to create: nothing is parsed or connected until the first call."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.capabilities: frozenset[Capability] = FULL_CAPABILITIES
        self.clock_offset = 0.0
        self._http: DeviceHttp | None = None
        self._transport: soap.BoundedTransport | None = None
        self._wsse: Any = None
        self._xaddrs: dict[str, str] = {}
        self._proxies: dict[tuple[str, str, bool], Any] = {}
        self._channels: list[list[str]] | None = None  # profile tokens per video source, in order
        self._recording_tokens: dict[int, str] = {}
        self._connect_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OnvifCamera({self.endpoint.label()}, user={self.endpoint.username!r})"

    @property
    def _base(self) -> str:
        return f"http://{self.endpoint.host}:{self.endpoint.port}"

    # --- plumbing -----------------------------------------------------------------------------

    async def _call(self, what: str, work: Callable[[], Awaitable[T]]) -> T:
        """Every device call: one deadline, every failure as a DeviceError."""
        async def guarded() -> T:
            try:
                return await work()
            except (DeviceError, CapabilityMissing, asyncio.CancelledError):
                raise
            except Exception as error:  # zeep, lxml and aiohttp raise a wide family; all become findings
                raise soap.map_error(error, what) from None
        return await with_timeout(guarded(), self.endpoint.timeout, what)

    async def _proxy(self, service: str, authenticated: bool = True, xaddr: str | None = None) -> Any:
        if self._http is None or self._transport is None:
            self._http = soap.http_client(self.endpoint)
            self._transport = soap.BoundedTransport(self._http)
            self._wsse = soap.username_token(self.endpoint.username, self.endpoint.password.reveal(), 0.0)
        address = xaddr or self._xaddrs.get(NAMESPACE_OF.get(service, ""), f"{self._base}/onvif/device_service")
        key = (service, address, authenticated)
        if key not in self._proxies:
            self._proxies[key] = await soap.service_proxy(
                service, address, self._transport, self._wsse if authenticated else None)
        return self._proxies[key]

    async def _read_clock(self) -> ClockReading:
        device = await self._proxy("devicemgmt", authenticated=False)
        sent_wall, sent = time.time(), time.monotonic()
        try:
            reply = await device.GetSystemDateAndTime()
        except Exception as error:
            if soap.map_error(error, "GetSystemDateAndTime").kind is not FindingKind.AUTH_FAILED:
                raise
            # The standard lets anyone read the clock (it is how a client learns the offset its
            # UsernameToken must follow); some firmware demands credentials anyway. Sign with the clock
            # the refusal's Date header showed, if it had one, and ask again.
            refused_at = self._transport.last_reply_date if self._transport is not None else None
            if refused_at is not None and self._wsse is not None:
                self._wsse.dt_diff = refused_at - datetime.now(timezone.utc)
            device = await self._proxy("devicemgmt")
            sent_wall, sent = time.time(), time.monotonic()
            reply = await device.GetSystemDateAndTime()
        round_trip = time.monotonic() - sent
        host_time = datetime.fromtimestamp(sent_wall + round_trip / 2, timezone.utc)
        device_time, zone = device_time_of(reply)
        reading = ClockReading(device_time=device_time, host_time=host_time, round_trip=round_trip,
                               time_zone=zone, ntp_enabled=getattr(reply, "DateTimeType", None) == "NTP")
        self.clock_offset = reading.offset
        if self._wsse is not None:
            self._wsse.dt_diff = device_time - host_time
        return reading

    async def _connect(self) -> None:
        """Clock first (its offset signs every later request), then the service addresses."""
        async with self._connect_lock:
            if self._xaddrs:
                return
            await self._read_clock()
            device = await self._proxy("devicemgmt")
            xaddrs: dict[str, str] = {}
            try:
                for service in await device.GetServices(IncludeCapability=False) or []:
                    if service.Namespace and service.XAddr:
                        xaddrs[service.Namespace] = rewrite_host(service.XAddr, self.endpoint.host, self.endpoint.port)
            except Exception as error:
                if soap.map_error(error, "GetServices").kind is not FindingKind.PROTOCOL_ERROR:
                    raise
            if not xaddrs:  # older devices: GetCapabilities only
                found = await device.GetCapabilities(Category="All")
                for name, section in (("devicemgmt", "Device"), ("media", "Media"), ("events", "Events")):
                    entry = getattr(found, section, None)
                    if entry is not None and entry.XAddr:
                        xaddrs[NAMESPACE_OF[name]] = rewrite_host(entry.XAddr, self.endpoint.host, self.endpoint.port)
                extension = getattr(found, "Extension", None)
                for name, section in (("search", "Search"), ("replay", "Replay"), ("recording", "Recording")):
                    xaddr = extension_xaddr(extension, section)
                    if xaddr:
                        xaddrs[NAMESPACE_OF[name]] = rewrite_host(xaddr, self.endpoint.host, self.endpoint.port)
            missing = {cap for name, caps in NEEDS_SERVICE.items() if NAMESPACE_OF[name] not in xaddrs for cap in caps}
            self.capabilities = FULL_CAPABILITIES - missing
            self._xaddrs = xaddrs

    async def _profiles(self) -> list[list[str]]:
        if self._channels is None:
            media = await self._proxy("media")
            by_source: dict[str, list[str]] = {}
            for profile in await media.GetProfiles() or []:
                source = profile.VideoSourceConfiguration.SourceToken if profile.VideoSourceConfiguration else ""
                by_source.setdefault(source or profile.token, []).append(profile.token)
            self._channels = list(by_source.values())
            self._sources = list(by_source)
        return self._channels

    async def _profile_token(self, channel: int, substream: bool = False) -> str:
        channels = await self._profiles()
        if not 1 <= channel <= len(channels):
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("channel {channel}: device has {count} channels",
                                                             channel=channel, count=len(channels)))
        tokens = channels[channel - 1]
        return tokens[1] if substream and len(tokens) > 1 else tokens[0]

    async def connect(self) -> None:
        """Reach the device and learn its services: afterwards `capabilities` is what it offers."""
        await self._call("GetServices", self._connect)

    def _require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise CapabilityMissing(N_("{device}: {capability} not offered by this device",
                                       device=self.endpoint.label(), capability=str(capability)))

    # --- the driver protocol ------------------------------------------------------------------

    async def device_info(self) -> DeviceInfo:
        async def work() -> DeviceInfo:
            await self._connect()
            info = required(await (await self._proxy("devicemgmt")).GetDeviceInformation(), "GetDeviceInformation")
            channels = len(await self._profiles())
            if not info.Manufacturer or not info.Model:
                raise protocol_error(N_("{what}: no manufacturer or model", what="GetDeviceInformation"))
            return DeviceInfo(manufacturer=info.Manufacturer, model=info.Model,
                              serial_number=info.SerialNumber or "", firmware_version=info.FirmwareVersion or "",
                              kind=DeviceKind.RECORDER if channels > 1 else DeviceKind.CAMERA,
                              channels=max(channels, 1), hardware_id=info.HardwareId or "")
        return await self._call("GetDeviceInformation", work)

    async def get_clock(self) -> ClockReading:
        async def work() -> ClockReading:
            reading = await self._read_clock()
            try:  # NTP settings need credentials; the clock itself does not
                await self._connect()
                ntp = await (await self._proxy("devicemgmt")).GetNTP()
            except Exception as error:  # a device failure here leaves the clock reading standing on its own
                soap.map_error(error, "GetNTP")  # (a programming error is raised from here)
                return reading
            if ntp is None:
                return reading
            servers = [entry.DNSname or entry.IPv4Address or entry.IPv6Address
                       for entry in (ntp.NTPManual or []) + (ntp.NTPFromDHCP or [])]
            return ClockReading(device_time=reading.device_time, host_time=reading.host_time,
                                round_trip=reading.round_trip, time_zone=reading.time_zone,
                                ntp_enabled=reading.ntp_enabled, ntp_servers=tuple(s for s in servers if s))
        return await self._call("GetSystemDateAndTime", work)

    async def set_clock(self, when: datetime) -> None:
        self._require(Capability.SET_CLOCK)
        utc = when.astimezone(timezone.utc)

        async def work() -> None:
            await self._connect()
            await (await self._proxy("devicemgmt")).SetSystemDateAndTime(
                DateTimeType="Manual", DaylightSavings=False,
                UTCDateTime={"Date": {"Year": utc.year, "Month": utc.month, "Day": utc.day},
                             "Time": {"Hour": utc.hour, "Minute": utc.minute, "Second": utc.second}})
            await self._read_clock()
        await self._call("SetSystemDateAndTime", work)

    async def set_ntp(self, servers: list[str]) -> None:
        self._require(Capability.NTP)

        async def work() -> None:
            await self._connect()
            device = await self._proxy("devicemgmt")
            await device.SetNTP(FromDHCP=False, NTPManual=[{"Type": "DNS", "DNSname": s} for s in servers])
            await device.SetSystemDateAndTime(DateTimeType="NTP", DaylightSavings=False)
        await self._call("SetNTP", work)

    async def snapshot(self, channel: int) -> bytes:
        self._require(Capability.SNAPSHOT)

        async def work() -> bytes:
            await self._connect()
            token = await self._profile_token(channel)
            reply = await (await self._proxy("media")).GetSnapshotUri(ProfileToken=token)
            uri = rewrite_host(without_credentials(required(getattr(reply, "Uri", None), "GetSnapshotUri.Uri")),
                               self.endpoint.host)
            assert self._http is not None  # _connect built it
            body = (await self._http.request("GET", uri, N_("snapshot"), expect=JPEG_TYPES)).body
            if not body.startswith(b"\xff\xd8"):
                raise protocol_error(N_("{what}: reply is not a JPEG", what=N_("snapshot")))
            return body
        return await self._call("GetSnapshotUri", work)

    async def stream_uri(self, channel: int, substream: bool = False) -> str:
        self._require(Capability.STREAM)

        async def work() -> str:
            await self._connect()
            token = await self._profile_token(channel, substream)
            reply = await (await self._proxy("media")).GetStreamUri(StreamSetup=STREAM_SETUP, ProfileToken=token)
            return without_credentials(required(getattr(reply, "Uri", None), "GetStreamUri.Uri"))
        return await self._call("GetStreamUri", work)

    async def _recording(self, channel: int) -> Any:
        """The RecordingInformation of a channel's recording, found through its video source."""
        await self._connect()
        self._require(Capability.RECORDINGS)  # GetServices may have shown there is no search service
        await self._profiles()
        source = self._sources[channel - 1] if 1 <= channel <= len(self._sources) else ""
        search = await self._proxy("search")
        scope = {"IncludedSources": [{"Token": source}]} if source else {}
        results = await find_all_pages(search, "FindRecordings", "GetRecordingSearchResults",
                                       {"Scope": scope, "KeepAliveTime": "PT10S"}, "RecordingInformation")
        found = recording_token(results, source)
        if found is None:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("channel {channel}: no recording for source {source!r}",
                                                             channel=channel, source=source))
        self._recording_tokens[channel] = found.RecordingToken
        return found

    async def recordings(self, channel: int, start: datetime, end: datetime) -> list[RecordingSegment]:
        self._require(Capability.RECORDINGS)

        async def work() -> list[RecordingSegment]:
            information = await self._recording(channel)
            search = await self._proxy("search")
            query = {"StartPoint": start.astimezone(timezone.utc), "EndPoint": end.astimezone(timezone.utc),
                     "Scope": {"IncludedRecordings": [information.RecordingToken]},
                     "SearchFilter": {},
                     "IncludeStartState": True, "KeepAliveTime": "PT10S"}
            try:
                events = await find_all_pages(search, "FindEvents", "GetEventSearchResults", query, "Result")
            except Exception as error:  # FindEvents is optional in Profile G; the span is the fallback
                if soap.map_error(error, "FindEvents").kind is not FindingKind.PROTOCOL_ERROR:
                    raise
                return span_segment(information, channel, start, end)
            return segments_from_events(events, channel, start, end, information)
        return await self._call("FindRecordings", work)

    async def playback_uri(self, channel: int, start: datetime, end: datetime) -> str:
        self._require(Capability.PLAYBACK)

        async def work() -> str:
            await self._connect()
            self._require(Capability.PLAYBACK)  # GetServices may have shown there is no replay service
            token = self._recording_tokens.get(channel) or (await self._recording(channel)).RecordingToken
            replay = await self._proxy("replay")
            uri = await replay.GetReplayUri(StreamSetup=STREAM_SETUP, RecordingToken=token)
            return without_credentials(str(required(uri, "GetReplayUri.Uri")))
        return await self._call("GetReplayUri", work)

    async def storage(self) -> list[Disk]:
        raise CapabilityMissing(N_("ONVIF has no standard disk status; storage failures arrive as events"))

    def events(self) -> AsyncIterator[DeviceEvent]:
        self._require(Capability.EVENTS)
        from .events import pull_events
        return pull_events(self)

    async def download_clip(self, channel: int, start: datetime, end: datetime, destination: Path) -> Path:
        raise CapabilityMissing(N_("ONVIF replay is RTSP only; clip download is not offered"))

    async def audit_log(self, start: datetime, end: datetime) -> list[Any]:
        # ONVIF defines no device log of playback or export (GetSystemLog is free text, optional and
        # unstructured): AUDIT_LOG is not declared, and R9 has no device-side evidence for this device.
        raise CapabilityMissing(N_("ONVIF defines no device audit log; AUDIT_LOG is not offered"))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._http, self._proxies, self._xaddrs = None, {}, {}

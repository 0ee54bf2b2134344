"""The Hikvision ISAPI camera/recorder driver: one device, one or many channels."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone, tzinfo
from pathlib import Path

import attrs
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.core.models import (
    AuditEntry,
    Capability,
    ClockReading,
    DeviceEvent,
    DeviceInfo,
    DeviceKind,
    Disk,
    Endpoint,
    RecordingSegment,
)
from watchkeeper.devices.http import JPEG_TYPES, XML_TYPES
from watchkeeper.devices.safeparse import decode_text, parse_xml, protocol_error
from watchkeeper.core.timezones import TimeZoneError, parse_zone

from . import parse
from .isapi import IsapiClient, document, element

CAPABILITIES = frozenset({
    Capability.SET_CLOCK, Capability.NTP, Capability.SNAPSHOT, Capability.STREAM, Capability.PLAYBACK,
    Capability.RECORDINGS, Capability.STORAGE, Capability.EVENTS, Capability.CLIP_DOWNLOAD,
    Capability.AUDIT_LOG,
})
#: A device that keeps answering MORE forever must not keep us paging forever.
MAX_PAGES = 200
PAGE_SIZE = 50
#: Cameras send a heartbeat on alertStream every ~10 s; this much silence means the stream is dead.
EVENT_IDLE_SECONDS = 30.0
#: Upper bound on a downloaded clip unless the endpoint says otherwise.
MAX_CLIP_BYTES = 4 * 1024 ** 3
JPEG_MAGIC = b"\xff\xd8"


class HikvisionDriver:
    """CameraDriver over ISAPI; every call is bounded by endpoint.timeout and raises only DeviceError."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.capabilities = CAPABILITIES
        self.isapi = IsapiClient(endpoint)
        # Recorders put a `Z` on search times that are really device-local; `search_times_utc` says otherwise.
        self._search_local = not endpoint.option("search_times_utc", False)
        self._zone: tzinfo | None = None
        self._rtsp_port: int | None = None
        self._channels: int | None = None

    def __repr__(self) -> str:
        return f"HikvisionDriver({self.endpoint.label()})"

    # --- identity and clock ---------------------------------------------------------------------

    async def device_info(self) -> DeviceInfo:
        root = await self.isapi.xml("GET", "/ISAPI/System/deviceInfo", N_("deviceInfo"))
        info = parse.device_info(root)
        if info.kind is DeviceKind.RECORDER:
            channels = await self._count_channels("/ISAPI/ContentMgmt/InputProxy/channels")
            channels = channels or await self._count_channels("/ISAPI/System/Video/inputs/channels")
            info = attrs.evolve(info, channels=max(1, channels))
        self._channels = info.channels
        return info

    async def _count_channels(self, path: str) -> int:
        try:
            return parse.channel_count(await self.isapi.xml("GET", path, N_("channels")))
        except DeviceError as error:
            if error.kind is not FindingKind.PROTOCOL_ERROR:
                raise
            return 0

    async def status(self) -> parse.DeviceStatus:
        """Uptime and the device's clock from /System/status (an uptime that drops means a reboot)."""
        zone = await self.zone()
        return parse.device_status(await self.isapi.xml("GET", "/ISAPI/System/status", N_("status")), zone)

    async def event_triggers(self) -> list[parse.EventTrigger]:
        """Which events the device acts on per channel; one without `center` never reaches events()."""
        return parse.event_triggers(await self.isapi.xml("GET", "/ISAPI/Event/triggers", N_("triggers")))

    async def io_outputs(self) -> dict[int, str]:
        return parse.io_outputs(await self.isapi.xml("GET", "/ISAPI/System/IO/outputs", N_("IO outputs")))

    async def stream_ids(self) -> list[int]:
        return parse.streaming_ids(await self.isapi.xml("GET", "/ISAPI/Streaming/channels", N_("streaming channels")))

    async def _time_settings(self) -> tuple[parse.TimeSettings, float, float]:
        started = time.time()
        root = await self.isapi.xml("GET", "/ISAPI/System/time", N_("time"))
        finished = time.time()
        return parse.time_settings(root), started, finished

    def _zone_of(self, settings: parse.TimeSettings) -> tzinfo:
        try:
            self._zone = parse_zone(settings.time_zone or "")
        except TimeZoneError:
            raise protocol_error(N_("{what}: unrecognised timeZone {zone!r}", what=N_("time"),
                                    zone=str(settings.time_zone)[:40])) from None
        return self._zone

    async def zone(self) -> tzinfo:
        """The device's time zone, read once per driver."""
        if self._zone is None:
            settings, _, _ = await self._time_settings()
            return self._zone_of(settings)
        return self._zone

    async def get_clock(self) -> ClockReading:
        settings, started, finished = await self._time_settings()
        zone = self._zone_of(settings)
        device = parse.device_time(settings.local_time, zone, N_("time"))
        servers: tuple[str, ...] = ()
        try:
            servers = parse.ntp_servers(await self.isapi.xml("GET", "/ISAPI/System/time/ntpServers", N_("ntpServers")))
        except DeviceError as error:
            if error.kind is not FindingKind.PROTOCOL_ERROR:
                raise
        # Device time has whole-second resolution; the midpoint of the exchange is its best host match.
        host = datetime.fromtimestamp((started + finished) / 2, timezone.utc)
        return ClockReading(device_time=device, host_time=host, round_trip=finished - started,
                            time_zone=settings.time_zone, ntp_enabled=(settings.mode or "").upper() == "NTP",
                            ntp_servers=servers)

    async def set_clock(self, when: datetime) -> None:
        zone = await self.zone()
        local = when.astimezone(zone).replace(microsecond=0)
        body = document("Time", timeMode="manual", localTime=local.isoformat(),
                        timeZone=getattr(zone, "text", ""))
        await self.isapi.put_xml("/ISAPI/System/time", N_("set time"), body)

    async def set_ntp(self, servers: list[str]) -> None:
        if not servers:
            raise ValueError("set_ntp needs at least one server")
        items = []
        for number, server in enumerate(servers, 1):
            numeric = server.replace(".", "").isdigit() or ":" in server
            address = {"ipAddress": server} if numeric else {"hostName": server}
            items.append(element("NTPServer", id=number,
                                 addressingFormatType="ipaddress" if numeric else "hostname",
                                 **address, portNo=123, synchronizeInterval=60))
        await self.isapi.put_xml("/ISAPI/System/time/ntpServers", N_("set ntpServers"),
                                 document("NTPServerList", *items))
        zone = await self.zone()
        await self.isapi.put_xml("/ISAPI/System/time", N_("set time mode"),
                                 document("Time", timeMode="NTP", timeZone=getattr(zone, "text", "")))

    # --- images and streams ---------------------------------------------------------------------

    async def snapshot(self, channel: int) -> bytes:
        reply = await self.isapi.call("GET", f"/ISAPI/Streaming/channels/{_track(channel)}/picture", N_("snapshot"),
                                      expect=JPEG_TYPES)
        if not reply.body.startswith(JPEG_MAGIC):
            raise protocol_error(N_("{what}: channel {channel} did not return a JPEG", what=N_("snapshot"), channel=channel))
        return reply.body

    async def _rtsp_base(self) -> str:
        if self._rtsp_port is None:
            port = self.endpoint.option("rtsp_port", 0)
            if not port:
                root = await self.isapi.xml("GET", "/ISAPI/Security/adminAccesses", N_("adminAccesses"))
                for item in parse.descendants(root, "AdminAccessProtocol"):
                    if (parse.text(item, "protocol") or "").upper() == "RTSP":
                        value = parse.text(item, "portNo") or ""
                        port = int(value) if value.isdigit() else 0
            self._rtsp_port = port or 554
        host = f"[{self.endpoint.host}]" if ":" in self.endpoint.host else self.endpoint.host
        return f"rtsp://{host}:{self._rtsp_port}"

    async def stream_uri(self, channel: int, substream: bool = False) -> str:
        return f"{await self._rtsp_base()}/Streaming/Channels/{_track(channel, 2 if substream else 1)}"

    async def playback_uri(self, channel: int, start: datetime, end: datetime) -> str:
        zone = await self.zone()
        begin, finish = (parse.format_search_time(when, zone, self._search_local).replace("-", "").replace(":", "")
                         for when in (start, end))
        return f"{await self._rtsp_base()}/Streaming/tracks/{_track(channel)}?starttime={begin}&endtime={finish}"

    # --- recordings -----------------------------------------------------------------------------

    def _search_body(self, channel: int, start: datetime, end: datetime, position: int, search_id: str,
                     zone: tzinfo) -> bytes:
        span = element("timeSpan", startTime=parse.format_search_time(start, zone, self._search_local),
                       endTime=parse.format_search_time(end, zone, self._search_local))
        # `searchResultPostion` is how the ISAPI schema spells it.
        return document("CMSearchDescription",
                        element("searchID", search_id),
                        element("trackIDList", element("trackID", _track(channel))),
                        element("timeSpanList", span),
                        element("maxResults", str(PAGE_SIZE)),
                        element("searchResultPostion", str(position)),
                        element("metadataList", element("metadataDescriptor", "//recordType.meta.std-cgi.com")))

    async def recordings(self, channel: int, start: datetime, end: datetime) -> list[RecordingSegment]:
        zone = await self.zone()
        search_id, position = str(uuid.uuid4()).upper(), 0
        found: list[RecordingSegment] = []
        for _ in range(MAX_PAGES):
            root = await self.isapi.xml("POST", "/ISAPI/ContentMgmt/search", N_("search"),
                                        self._search_body(channel, start, end, position, search_id, zone))
            page = parse.search_page(root, zone, self._search_local, channel)
            found.extend(page.segments)
            if page.status != "MORE":
                break
            if not page.segments:
                raise protocol_error(N_("{what}: device answered MORE with an empty page", what=N_("search")))
            position += len(page.segments)
        else:
            raise protocol_error(N_("{what}: still MORE after {pages} pages", what=N_("search"), pages=MAX_PAGES))
        unique = {(s.start, s.end, s.token): s for s in found if s.end > start and s.start < end}
        return sorted(unique.values(), key=lambda s: (s.start, s.end))

    async def recording_days(self, channel: int, year: int, month: int) -> dict[int, bool] | None:
        """Which days of a month hold recordings (dailyDistribution); None where the device lacks it."""
        body = document("trackDailyParam", year=year, monthOfYear=month)
        try:
            root = await self.isapi.xml("POST", f"/ISAPI/ContentMgmt/record/tracks/{_track(channel)}/dailyDistribution",
                                        N_("dailyDistribution"), body)
        except DeviceError as error:
            if error.kind is FindingKind.PROTOCOL_ERROR and "HTTP 4" in error.reason:
                return None
            raise
        return parse.record_days(root)

    async def storage(self) -> list[Disk]:
        return parse.storage(await self.isapi.xml("GET", "/ISAPI/ContentMgmt/Storage", N_("storage")))

    async def download_clip(self, channel: int, start: datetime, end: datetime, destination: Path) -> Path:
        uri = await self.playback_uri(channel, start, end)
        limit = self.endpoint.option("max_clip_bytes", MAX_CLIP_BYTES)
        partial = destination.with_name(destination.name + ".part")
        written = 0
        try:
            async with self.isapi.stream("POST", "/ISAPI/ContentMgmt/download", N_("download"), self.endpoint.timeout,
                                         document("downloadRequest", playbackURI=uri)) as response:
                if response.media_type in XML_TYPES:
                    raise protocol_error(N_("{what}: device answered XML instead of a clip", what=N_("download")))
                with partial.open("wb") as out:
                    async for chunk in response.chunks():
                        written += len(chunk)
                        if written > limit:
                            raise protocol_error(N_("{what}: clip exceeds {limit} bytes", what=N_("download"), limit=limit))
                        out.write(chunk)
            if not written:
                raise protocol_error(N_("{what}: empty clip", what=N_("download")))
            partial.replace(destination)
        finally:
            partial.unlink(missing_ok=True)
        return destination

    # --- events and log -------------------------------------------------------------------------

    async def _alert_stream(self) -> AsyncIterator[DeviceEvent]:
        idle = self.endpoint.option("event_idle_timeout", EVENT_IDLE_SECONDS)
        zone = await self.zone()
        async with self.isapi.stream("GET", "/ISAPI/Event/notification/alertStream", N_("alertStream"), idle) as response:
            buffer = b""
            async for chunk in response.chunks():
                buffer += chunk
                bodies, buffer = parse.split_parts(buffer)
                for body in bodies:
                    if not body.lstrip().startswith(b"<"):
                        continue  # JPEG parts of picture-carrying alerts are not events
                    decode_text(body, N_("alertStream"))
                    event = parse.alert(parse_xml(body, N_("alertStream")), zone)
                    if event is not None:
                        yield event

    async def events(self) -> AsyncIterator[DeviceEvent]:
        """Events as they come; after a drop or reboot, resubscribe with backoff. Wrong credentials end it."""
        backoff = 0.5
        while True:
            try:
                async for event in self._alert_stream():
                    backoff = 0.5
                    yield event
            except DeviceError as error:
                if error.kind is FindingKind.AUTH_FAILED:
                    raise
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def audit_log(self, start: datetime, end: datetime) -> list[AuditEntry]:
        """The device's own log for [start, end), all pages: logins, settings, exceptions, and every
        playback, download, backup or deletion done on it, locally or remotely."""
        zone = await self.zone()
        search_id, position, entries = str(uuid.uuid4()).upper(), 0, []
        span = element("timeSpan", startTime=parse.format_search_time(start, zone, self._search_local),
                       endTime=parse.format_search_time(end, zone, self._search_local))
        for _ in range(MAX_PAGES):
            body = document("CMSearchDescription", element("searchID", search_id),
                            element("metaId", "log.std-cgi.com"), element("timeSpanList", span),
                            element("maxResults", str(PAGE_SIZE)), element("searchResultPostion", str(position)))
            status, page = parse.log_page(await self.isapi.xml("POST", "/ISAPI/ContentMgmt/logSearch", N_("logSearch"), body),
                                          zone, self._search_local)
            entries.extend(page)
            if status != "MORE" or not page:
                return entries
            position += len(page)
        raise protocol_error(N_("{what}: still MORE after {pages} pages", what=N_("logSearch"), pages=MAX_PAGES))

    async def close(self) -> None:
        await self.isapi.aclose()


def _track(channel: int, stream: int = 1) -> str:
    """Channel 3, main stream → `301`; ISAPI numbers streams and tracks this way."""
    if not isinstance(channel, int) or channel < 1:
        raise ValueError(f"bad channel {channel!r}")
    return f"{channel}{stream:02d}"



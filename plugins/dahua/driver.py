"""The Dahua camera/recorder driver (also Amcrest, Lorex, EmpireTech): CGI on the shared client, aiodahua parsers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from aiodahua.parsers import parse_log_entries, parse_media_files, parse_storage_info

from watchkeeper.devices.drivers import CapabilityMissing, DeviceError
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
    DiskStatus,
    Endpoint,
    RecordingKind,
    RecordingSegment,
    audit_action,
)
from watchkeeper.devices.http import JPEG_TYPES
from watchkeeper.devices.safeparse import protocol_error

from . import cgi
from .events import CODE_KINDS, PartReader, parse_event
from .transport import DahuaSession, q

RTSP_PORT = 554
#: findNextFile page size; the device caps it at 100 anyway.
PAGE = 100
#: A device that keeps saying found>0 past this many pages is looping, not recording.
MAX_PAGES = 500
RECORDER_PREFIXES = ("NVR", "XVR", "DVR", "HCVR", "DHI-NVR", "DH-NVR", "NV", "IPC-NVR")
CONTINUOUS = {"regular"}
#: Backoff between event re-subscriptions; a rebooting device takes tens of seconds.
RESUBSCRIBE_DELAYS = (0.2, 0.5, 1, 2, 5, 10, 30)


class DahuaDriver:
    """A Dahua-family camera or NVR; every call is bounded by endpoint.timeout."""

    capabilities = frozenset({
        Capability.SET_CLOCK, Capability.NTP, Capability.SNAPSHOT, Capability.STREAM,
        Capability.PLAYBACK, Capability.RECORDINGS, Capability.STORAGE, Capability.EVENTS,
        Capability.CLIP_DOWNLOAD, Capability.AUDIT_LOG,
    })

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._cgi = DahuaSession(endpoint)
        self._zone: timezone | None = None

    def __repr__(self) -> str:
        return f"DahuaDriver({self.endpoint.label()})"

    def _require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise CapabilityMissing(capability)

    async def _kv(self, path: str, continuation: bool = False) -> dict[str, str]:
        what = path.partition("&")[0]
        return cgi.parse_kv(await self._cgi.text(path), what, continuation)

    # --- identity and clock -------------------------------------------------------------------

    async def device_info(self) -> DeviceInfo:
        system = await self._kv("magicBox.cgi?action=getSystemInfo")
        software = await self._kv("magicBox.cgi?action=getSoftwareVersion")
        model = system.get("deviceType") or cgi.require(
            await self._kv("magicBox.cgi?action=getDeviceType"), "type", "getDeviceType")
        try:
            vendor = (await self._kv("magicBox.cgi?action=getVendor")).get("vendor", "Dahua")
        except DeviceError as error:
            if error.kind is not FindingKind.PROTOCOL_ERROR:
                raise
            vendor = "Dahua"  # older firmware has no getVendor
        channels = cgi.parse_int(cgi.require(await self._kv("devVideoInput.cgi?action=getCollect"),
                                             "result", "getCollect"), "getCollect")
        recorder = channels > 1 or model.upper().startswith(RECORDER_PREFIXES)
        return DeviceInfo(
            manufacturer=vendor or "Dahua", model=model,
            serial_number=cgi.require(system, "serialNumber", "getSystemInfo"),
            firmware_version=cgi.require(software, "version", "getSoftwareVersion").split(",")[0],
            kind=DeviceKind.RECORDER if recorder else DeviceKind.CAMERA,
            channels=max(channels, 1), hardware_id=system.get("hardwareVersion", ""),
        )

    async def _ntp(self) -> dict[str, str]:
        table = await self._kv("configManager.cgi?action=getConfig&name=NTP")
        index = cgi.parse_int(cgi.require(table, "table.NTP.TimeZone", "NTP"), "NTP.TimeZone")
        self._zone = cgi.zone(index)
        return table

    async def zone(self) -> timezone:
        """The device's time zone, read once per driver (devices report local times)."""
        if self._zone is None:
            await self._ntp()
        assert self._zone is not None
        return self._zone

    async def get_clock(self) -> ClockReading:
        ntp = await self._ntp()
        sent = time.monotonic()
        host_before = datetime.now(timezone.utc)
        reply = await self._kv("global.cgi?action=getCurrentTime")
        round_trip = time.monotonic() - sent
        assert self._zone is not None
        device_time = cgi.parse_device_time(cgi.require(reply, "result", "getCurrentTime"),
                                            self._zone, "getCurrentTime")
        index = cgi.parse_int(ntp["table.NTP.TimeZone"], "NTP.TimeZone")
        address = ntp.get("table.NTP.Address", "")
        return ClockReading(
            device_time=device_time, host_time=host_before + timedelta(seconds=round_trip / 2),
            round_trip=round_trip, time_zone=cgi.zone_name(index),
            ntp_enabled=ntp.get("table.NTP.Enable", "").lower() == "true",
            ntp_servers=(address,) if address else (),
        )

    async def set_clock(self, when: datetime) -> None:
        text = cgi.format_device_time(when, await self.zone())
        cgi.expect_ok(await self._cgi.text(f"global.cgi?action=setCurrentTime&time={q(text)}"), "setCurrentTime")

    async def set_ntp(self, servers: list[str]) -> None:
        # The NTP table holds one server; the first is the one the site prefers.
        if not servers:
            raise ValueError("set_ntp needs at least one server")
        path = f"configManager.cgi?action=setConfig&NTP.Address={q(servers[0])}&NTP.Enable=true"
        cgi.expect_ok(await self._cgi.text(path), "setConfig NTP")

    # --- media ---------------------------------------------------------------------------------

    async def snapshot(self, channel: int) -> bytes:
        data = await self._cgi.binary(f"snapshot.cgi?channel={int(channel)}", JPEG_TYPES)
        if not data.startswith(b"\xff\xd8"):
            raise protocol_error(N_("{what}: reply is not a JPEG", what="snapshot.cgi"))
        return data

    async def stream_uri(self, channel: int, substream: bool = False) -> str:
        return f"{self._rtsp_base()}/cam/realmonitor?channel={int(channel)}&subtype={1 if substream else 0}"

    async def playback_uri(self, channel: int, start: datetime, end: datetime) -> str:
        zone = await self.zone()

        def stamp(when: datetime) -> str:
            return when.astimezone(zone).strftime("%Y_%m_%d_%H_%M_%S")

        return f"{self._rtsp_base()}/cam/playback?channel={int(channel)}&starttime={stamp(start)}&endtime={stamp(end)}"

    def _rtsp_base(self) -> str:
        port = self.endpoint.option("rtsp_port", RTSP_PORT)
        return f"rtsp://{self.endpoint.host}:{port}"

    # --- recordings ----------------------------------------------------------------------------

    async def recordings(self, channel: int, start: datetime, end: datetime) -> list[RecordingSegment]:
        zone = await self.zone()
        created = await self._kv("mediaFileFind.cgi?action=factory.create")
        finder = cgi.require(created, "result", "factory.create").strip()
        if not finder.isdigit():
            raise protocol_error(N_("{what}: object id is not a number", what="factory.create"))
        segments: list[RecordingSegment] = []
        try:
            found = await self._cgi.text(
                f"mediaFileFind.cgi?action=findFile&object={finder}&condition.Channel={int(channel)}"
                f"&condition.StartTime={q(cgi.format_device_time(start, zone))}"
                f"&condition.EndTime={q(cgi.format_device_time(end, zone))}")
            cgi.expect_ok(found, "findFile")
            for _ in range(MAX_PAGES):
                page = await self._cgi.text(f"mediaFileFind.cgi?action=findNextFile&object={finder}&count={PAGE}")
                cgi.parse_kv(page, "findNextFile")
                count, files = parse_media_files(page)
                if count == 0:
                    break
                segments += [self._segment(channel, item, zone) for item in files]
            else:
                raise protocol_error(N_("{what}: device never reported the end of the results", what="findNextFile"))
        finally:
            await asyncio.shield(self._close_finder(finder))
        overlapping = {(s.start, s.token): s for s in segments if s.end > start and s.start < end}
        return sorted(overlapping.values(), key=lambda s: (s.start, s.token))

    async def _close_finder(self, finder: str) -> None:
        # A finder left open holds one of the device's few search slots until it reboots.
        for action in ("close", "destroy"):
            try:
                await self._cgi.text(f"mediaFileFind.cgi?action={action}&object={finder}")
            except DeviceError:
                return

    @staticmethod
    def _segment(channel: int, item: dict, zone: timezone) -> RecordingSegment:
        begin = cgi.parse_device_time(item.get("start_time", ""), zone, "findNextFile StartTime")
        finish = cgi.parse_device_time(item.get("end_time", ""), zone, "findNextFile EndTime")
        if finish <= begin:
            raise protocol_error(N_("{what}: a file ends before it starts", what="findNextFile"))
        record_type = item.get("record_type", "unknown")
        kind = (RecordingKind.CONTINUOUS if record_type in CONTINUOUS
                else RecordingKind.UNKNOWN if record_type == "unknown" else RecordingKind.EVENT)
        if kind is RecordingKind.UNKNOWN and "flags[0]" in item:
            kind = RecordingKind.CONTINUOUS if item["flags[0]"] == "Timing" else RecordingKind.EVENT
        return RecordingSegment(channel=channel, start=begin, end=finish, kind=kind,
                                size_bytes=item.get("size_bytes"), token=item.get("path", ""))

    async def download_clip(self, channel: int, start: datetime, end: datetime, destination: Path) -> Path:
        files = await self.recordings(channel, start, end)
        if not files:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("no recording in the requested interval"))
        destination = Path(destination)
        with destination.open("wb") as sink:
            for segment in files:
                await self._load_file(segment, sink)
        return destination

    async def _load_file(self, segment: RecordingSegment, sink: BinaryIO) -> None:
        """RPC_Loadfile streams one recorded file; its size is known from the search."""
        limit = (segment.size_bytes or 0) + 1024 * 1024
        what = "RPC_Loadfile"
        path = f"RPC_Loadfile{quote(segment.token, safe='/')}"
        async with self._cgi.stream(path, what, self.endpoint.timeout) as response:
            received = 0
            async for chunk in response.chunks():
                received += len(chunk)
                if received > limit:
                    raise protocol_error(N_("{what}: file larger than the device said", what=what))
                sink.write(chunk)
        if segment.size_bytes is not None and received != segment.size_bytes:
            raise protocol_error(N_("{what}: got {received} bytes of {size}", what=what, received=received,
                                    size=segment.size_bytes))

    # --- storage, events, audit log ------------------------------------------------------------

    async def storage(self) -> list[Disk]:
        text = await self._cgi.text("storageDevice.cgi?action=getDeviceAllInfo")
        cgi.parse_kv(text, "getDeviceAllInfo")
        return [_disk(entry) for entry in parse_storage_info(text)]

    async def events(self) -> AsyncIterator[DeviceEvent]:
        """Attach to eventManager.cgi; a dropped stream (reboot, network) is re-attached with backoff."""
        heartbeat = max(1, min(60, int(self.endpoint.timeout)))
        codes = ",".join(CODE_KINDS)
        path = f"eventManager.cgi?action=attach&codes=[{codes}]&heartbeat={heartbeat}"
        failures = 0
        while True:
            try:
                # Silence past two heartbeats means the device is gone without a FIN.
                idle = 2 * heartbeat + self.endpoint.timeout
                async with self._cgi.stream(path, "eventManager.attach", idle) as response:
                    reader = PartReader()
                    async for chunk in response.chunks():
                        failures = 0
                        for body in reader.feed(chunk):
                            event = parse_event(body)
                            if event is not None:
                                yield event
            except DeviceError as error:
                if error.kind is FindingKind.AUTH_FAILED:
                    raise
            await asyncio.sleep(RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)])
            failures += 1

    async def audit_log(self, start: datetime, end: datetime) -> list[AuditEntry]:
        """The device's own log via log.cgi startFind/doFind/stopFind: logins, time changes, and every
        Playback, Download, Backup or deletion of recordings, its action read from the entry's Type."""
        zone = await self.zone()
        started = await self._kv(
            f"log.cgi?action=startFind&condition.StartTime={q(cgi.format_device_time(start, zone))}"
            f"&condition.EndTime={q(cgi.format_device_time(end, zone))}")
        token = cgi.require(started, "token", "log.startFind").strip()
        if not token.isdigit():
            raise protocol_error(N_("{what}: token is not a number", what="log.startFind"))
        entries: list[AuditEntry] = []
        try:
            for _ in range(MAX_PAGES):
                text = await self._cgi.text(f"log.cgi?action=doFind&token={token}&count={PAGE}")
                reply = cgi.parse_kv(text, "log.doFind", continuation=True)
                if cgi.parse_int(reply.get("found", "0"), "log.doFind") == 0:
                    break
                for item in parse_log_entries(text):
                    log_type = str(item.get("type", ""))
                    fields = item.get("detail_fields") or {}
                    channel = str(item.get("detail.Channel") or fields.get("Channel") or "")
                    entries.append(AuditEntry(
                        time=cgi.parse_device_time(str(item.get("time", "")), zone, "log.Time"), log_type=log_type,
                        action=audit_action(log_type), user=str(item.get("user", "")),
                        address=str(item.get("detail.Address", "")),
                        channel=int(channel) if channel.isdigit() else None, detail=str(item.get("detail", ""))))
        finally:
            await asyncio.shield(self._stop_log(token))
        return entries

    async def _stop_log(self, token: str) -> None:
        try:
            await self._cgi.text(f"log.cgi?action=stopFind&token={token}")
        except DeviceError:
            pass

    async def close(self) -> None:
        await self._cgi.close()


def _disk(entry: dict) -> Disk:
    state = str(entry.get("state") or "")
    if entry.get("partition_errors") or state.lower() in {"error", "failure"}:
        status = DiskStatus.ERROR
    elif state == "Success":
        status = DiskStatus.OK
    elif state.lower() in {"notexist", "absent"}:
        status = DiskStatus.ABSENT
    elif state.lower() in {"unformatted", "needformat"}:
        status = DiskStatus.UNFORMATTED
    else:
        status = DiskStatus.UNKNOWN
    return Disk(id=str(entry.get("name", "")), status=status, capacity_bytes=entry.get("total_bytes"),
                free_bytes=entry.get("free_bytes"), name=str(entry.get("name", "")), raw_status=state)

"""ISAPI documents → watchkeeper values: device info, time, search results, storage, alerts, logs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone, tzinfo
from urllib.parse import parse_qs, urlsplit

import attrs
from watchkeeper.core.i18n import N_
from watchkeeper.core.models import (
    AuditEntry,
    DeviceEvent,
    DeviceEventKind,
    DeviceInfo,
    DeviceKind,
    Disk,
    DiskStatus,
    RecordingKind,
    RecordingSegment,
    audit_action,
)
from watchkeeper.devices.safeparse import local_name, protocol_error

from .isapi import child, children, descendants, text

#: deviceType values that mean a recorder with many channels.
RECORDER_TYPES = ("NVR", "DVR", "HVR", "XVR", "NVS")

#: ISAPI eventType (lower case) → the driver's event kinds.
EVENT_KINDS: dict[str, DeviceEventKind] = {
    "videoloss": DeviceEventKind.VIDEO_LOSS,
    "shelteralarm": DeviceEventKind.TAMPER,
    "tamperdetection": DeviceEventKind.TAMPER,
    "defocus": DeviceEventKind.SCENE_CHANGE,
    "scenechangedetection": DeviceEventKind.SCENE_CHANGE,
    "diskerror": DeviceEventKind.DISK_ERROR,
    "hderror": DeviceEventKind.DISK_ERROR,
    "diskfull": DeviceEventKind.DISK_FULL,
    "hdfull": DeviceEventKind.DISK_FULL,
    "recordingfailure": DeviceEventKind.RECORDING_FAILURE,
    "recordexception": DeviceEventKind.RECORDING_FAILURE,
    "illaccess": DeviceEventKind.ILLEGAL_ACCESS,
    "illegalaccess": DeviceEventKind.ILLEGAL_ACCESS,
    "vmd": DeviceEventKind.MOTION,
}

#: Storage `status` → DiskStatus; anything unlisted is UNKNOWN and kept raw.
DISK_STATUSES: dict[str, DiskStatus] = {
    "ok": DiskStatus.OK, "normal": DiskStatus.OK, "idle": DiskStatus.OK, "sleeping": DiskStatus.OK,
    "error": DiskStatus.ERROR, "smartfailed": DiskStatus.ERROR, "abnormal": DiskStatus.ERROR,
    "mismatch": DiskStatus.ERROR, "offline": DiskStatus.ERROR, "exception": DiskStatus.ERROR,
    "unformatted": DiskStatus.UNFORMATTED, "uninitialized": DiskStatus.UNFORMATTED,
    "notexist": DiskStatus.ABSENT, "nonexistent": DiskStatus.ABSENT,
}

#: metadataDescriptor suffix of a search match → recording kind.
RECORD_KINDS = {"timing": RecordingKind.CONTINUOUS, "continuous": RecordingKind.CONTINUOUS,
                "allevent": RecordingKind.EVENT, "motion": RecordingKind.EVENT, "alarm": RecordingKind.EVENT,
                "motionoralarm": RecordingKind.EVENT, "motionandalarm": RecordingKind.EVENT,
                "smart": RecordingKind.EVENT, "vca": RecordingKind.EVENT, "manual": RecordingKind.EVENT}


def _require(root: ElementTree.Element, name: str, what: str) -> None:
    if local_name(root.tag) != name:
        raise protocol_error(N_("{what}: expected <{name}>, got <{got}>", what=what, name=name, got=local_name(root.tag)[:40]))


def device_info(root: ElementTree.Element, channels: int = 1) -> DeviceInfo:
    _require(root, "DeviceInfo", N_("deviceInfo"))
    model = text(root, "model")
    if not model:
        raise protocol_error(N_("{what}: no model", what=N_("deviceInfo")))
    device_type = (text(root, "deviceType") or "").upper()
    recorder = any(kind in device_type for kind in RECORDER_TYPES)
    return DeviceInfo(
        manufacturer=text(root, "manufacturer") or "Hikvision",
        model=model,
        serial_number=text(root, "serialNumber") or "",
        firmware_version=" ".join(p for p in (text(root, "firmwareVersion"), text(root, "firmwareReleasedDate")) if p),
        kind=DeviceKind.RECORDER if recorder else DeviceKind.CAMERA,
        channels=max(1, channels),
        hardware_id=text(root, "macAddress") or text(root, "deviceID") or "",
    )


def channel_count(root: ElementTree.Element) -> int:
    """InputProxyChannelList (NVR IP channels) or VideoInputChannelList (camera/DVR inputs)."""
    return sum(1 for item in root if local_name(item.tag) in {"InputProxyChannel", "VideoInputChannel"})


def device_time(value: str | None, zone: tzinfo, what: str = N_("time")) -> datetime:
    """An ISAPI timestamp; one without an offset is device-local and takes the device's zone."""
    if not value:
        raise protocol_error(N_("{what}: no time", what=what))
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise protocol_error(N_("{what}: bad time {value!r}", what=what, value=value[:40])) from None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def search_time(value: str | None, zone: tzinfo, local: bool) -> datetime:
    """Search and log times carry a `Z` that, on most recorders, still means device-local time."""
    if local and value:
        value = value.strip().removesuffix("Z")
    return device_time(value, zone, N_("search result"))


def format_search_time(when: datetime, zone: tzinfo, local: bool) -> str:
    shown = when.astimezone(zone) if local else when.astimezone(timezone.utc)
    return shown.strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class TimeSettings:
    local_time: str | None
    time_zone: str | None
    mode: str | None


def time_settings(root: ElementTree.Element) -> TimeSettings:
    _require(root, "Time", N_("time"))
    return TimeSettings(text(root, "localTime"), text(root, "timeZone"), text(root, "timeMode"))


def ntp_servers(root: ElementTree.Element) -> tuple[str, ...]:
    servers = []
    for server in descendants(root, "NTPServer"):
        kind = (text(server, "addressingFormatType") or "").lower()
        address = text(server, "ipAddress") if kind == "ipaddress" else text(server, "hostName")
        address = address or text(server, "hostName") or text(server, "ipAddress") or text(server, "ipv6Address")
        if address and address not in {"0.0.0.0", "::"}:
            servers.append(address)
    return tuple(servers)


@attrs.frozen
class SearchPage:
    status: str
    matches: int
    segments: tuple[RecordingSegment, ...]


def search_page(root: ElementTree.Element, zone: tzinfo, local: bool, fallback_channel: int) -> SearchPage:
    _require(root, "CMSearchResult", N_("search"))
    status = (text(root, "responseStatusStrg") or "").upper()
    segments = []
    for item in descendants(root, "searchMatchItem"):
        track = text(item, "trackID") or ""
        channel = int(track[:-2]) if track.isdigit() and len(track) > 2 else fallback_channel
        start = search_time(text(item, "timeSpan", "startTime"), zone, local)
        end = search_time(text(item, "timeSpan", "endTime"), zone, local)
        if end <= start:
            continue
        uri = text(item, "mediaSegmentDescriptor", "playbackURI") or ""
        size = parse_qs(urlsplit(uri).query).get("size", [""])[0]
        descriptor = text(item, "metadataMatches", "metadataDescriptor") or ""
        kind = RECORD_KINDS.get(descriptor.rsplit("/", 1)[-1].lower(), RecordingKind.UNKNOWN)
        segments.append(RecordingSegment(channel=channel, start=start, end=end, kind=kind,
                                         size_bytes=int(size) if size.isdigit() else None, token=uri))
    matches = text(root, "numOfMatches")
    return SearchPage(status, int(matches) if matches and matches.isdigit() else len(segments), tuple(segments))


def record_days(root: ElementTree.Element) -> dict[int, bool]:
    """trackDailyDistribution → {day of month: has recordings}."""
    _require(root, "trackDailyDistribution", N_("dailyDistribution"))
    days = {}
    for day in descendants(root, "day"):
        number = text(day, "dayOfMonth") or text(day, "id")
        if number and number.isdigit():
            days[int(number)] = (text(day, "record") or "").lower() == "true"
    return days


def storage(root: ElementTree.Element) -> list[Disk]:
    """`storage` with hddList (and nasList); capacities are in MiB on the wire."""
    if local_name(root.tag) not in {"storage", "hddList"}:
        raise protocol_error(N_("{what}: unexpected <{got}>", what=N_("storage"), got=local_name(root.tag)[:40]))
    disks: list[Disk] = []
    for kind, prefix in (("hdd", "hdd"), ("nas", "nas")):
        for item in descendants(root, kind):
            raw = text(item, "status") or ""
            capacity, free = _mebibytes(text(item, "capacity")), _mebibytes(text(item, "freeSpace"))
            status = DISK_STATUSES.get(raw.lower(), DiskStatus.UNKNOWN)
            if status is DiskStatus.OK and free == 0 and capacity:
                status = DiskStatus.FULL
            disks.append(Disk(id=f"{prefix}{text(item, 'id') or len(disks) + 1}", status=status,
                              capacity_bytes=capacity, free_bytes=free,
                              name=text(item, f"{kind}Name") or "", raw_status=raw))
    return disks


def _mebibytes(value: str | None) -> int | None:
    return int(value) * 1024 * 1024 if value and value.isdigit() else None


def alert(root: ElementTree.Element, zone: tzinfo) -> DeviceEvent | None:
    """EventNotificationAlert → DeviceEvent; None for the inactive videoloss heartbeat."""
    _require(root, "EventNotificationAlert", N_("alertStream"))
    raw = text(root, "eventType") or ""
    state = (text(root, "eventState") or "active").lower()
    if raw.lower() == "videoloss" and state == "inactive":
        return None  # cameras send this every few seconds as a keep-alive
    channel_text = text(root, "channelID") or text(root, "dynChannelID") or text(root, "videoInputChannelID")
    channel = int(channel_text) if channel_text and channel_text.isdigit() and int(channel_text) > 0 else None
    return DeviceEvent(kind=EVENT_KINDS.get(raw.lower(), DeviceEventKind.OTHER),
                       time=device_time(text(root, "dateTime"), zone, N_("alert")),
                       channel=channel, active=state == "active", raw=raw)


_PART_HEAD = re.compile(rb"--boundary\r?\n(.*?)\r?\n\r?\n", re.S)


def split_parts(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Cut complete multipart parts out of an alertStream buffer; returns bodies and the rest."""
    bodies: list[bytes] = []
    while True:
        head = _PART_HEAD.search(buffer)
        if head is None:
            return bodies, buffer[-65536:]
        length = re.search(rb"Content-Length:\s*(\d+)", head.group(1), re.I)
        start = head.end()
        if length:
            end = start + int(length.group(1))
        else:
            following = buffer.find(b"--boundary", start)
            if following < 0:
                return bodies, buffer[head.start():]
            end = following
        if len(buffer) < end:
            return bodies, buffer[head.start():]
        bodies.append(buffer[start:end].strip())
        buffer = buffer[end:]


def log_page(root: ElementTree.Element, zone: tzinfo, local: bool) -> tuple[str, list[AuditEntry]]:
    """One logSearch page: metaId `log.std-cgi.com/<major>/<minor>` becomes log type `<major>/<minor>`,
    its action read from the minor type (`remotePlayback`, `remoteDownload`, `localBackup`, `formatHdd`)."""
    _require(root, "CMSearchResult", N_("logSearch"))
    entries = []
    for item in descendants(root, "logDescriptor"):
        meta = text(item, "metaId") or ""
        parts = meta.split("/")
        major, minor = (parts[-2], parts[-1]) if len(parts) >= 3 else ("", meta)
        channel = text(item, "ChannelID") or text(item, "channelID")
        entries.append(AuditEntry(
            time=search_time(text(item, "StartDateTime"), zone, local), log_type=f"{major}/{minor}" if major else minor,
            action=audit_action(minor), user=text(item, "userName") or "", address=text(item, "ipAddress") or "",
            channel=int(channel) if channel and channel.isdigit() else None,
            detail=text(item, "infoContent") or ""))
    return (text(root, "responseStatusStrg") or "").upper(), entries


@attrs.frozen
class DeviceStatus:
    """/System/status: the device's own clock reading and how long it has been up (a drop means a reboot)."""

    device_time: datetime
    uptime_seconds: int | None
    reboots: int | None


def device_status(root: ElementTree.Element, zone: tzinfo) -> DeviceStatus:
    _require(root, "DeviceStatus", N_("status"))
    uptime, reboots = text(root, "deviceUpTime"), text(root, "totalRebootCount")
    return DeviceStatus(device_time=device_time(text(root, "currentDeviceTime"), zone, N_("status")),
                        uptime_seconds=int(uptime) if uptime and uptime.isdigit() else None,
                        reboots=int(reboots) if reboots and reboots.isdigit() else None)


@attrs.frozen
class EventTrigger:
    """An event the device is configured to act on, and how (`center` means: tell the alert stream)."""

    event_type: str
    channel: int | None
    methods: frozenset[str]

    @property
    def kind(self) -> DeviceEventKind:
        return EVENT_KINDS.get(self.event_type.lower(), DeviceEventKind.OTHER)


def event_triggers(root: ElementTree.Element) -> list[EventTrigger]:
    _require(root, "EventTriggerList", N_("triggers"))
    triggers = []
    for item in descendants(root, "EventTrigger"):
        event_type = text(item, "eventType")
        if not event_type:
            continue
        channel = text(item, "videoInputChannelID") or text(item, "dynVideoInputChannelID")
        methods = frozenset(
            (text(n, "notificationMethod") or "").lower() for n in descendants(item, "EventTriggerNotification")
        ) - {""}
        triggers.append(EventTrigger(event_type, int(channel) if channel and channel.isdigit() else None, methods))
    return triggers


def io_outputs(root: ElementTree.Element) -> dict[int, str]:
    """IOOutputPortList → {port id: name}: alarm outputs a rule may drive (sirens, strobes)."""
    _require(root, "IOOutputPortList", N_("IO outputs"))
    ports = {}
    for item in descendants(root, "IOOutputPort"):
        number = text(item, "id")
        if number and number.isdigit():
            ports[int(number)] = text(item, "outputName") or text(item, "name") or ""
    return ports


def streaming_ids(root: ElementTree.Element) -> list[int]:
    """StreamingChannelList → stream ids (`101` is channel 1 main stream, `102` its sub stream)."""
    _require(root, "StreamingChannelList", N_("streaming channels"))
    ids = (text(item, "id") or "" for item in descendants(root, "StreamingChannel"))
    return sorted(int(value) for value in ids if value.isdigit())


__all__ = ["DeviceStatus", "EventTrigger", "event_triggers", "device_status", "io_outputs", "streaming_ids", "AuditEntry", "SearchPage", "TimeSettings", "alert", "channel_count", "child", "children",
           "device_info", "device_time", "format_search_time", "log_page", "ntp_servers", "record_days",
           "search_page", "search_time", "split_parts", "storage", "time_settings"]

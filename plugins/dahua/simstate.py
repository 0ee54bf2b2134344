"""What a simulated Dahua device knows: clock, zone, recorded files, disks, finders and its log."""

from __future__ import annotations

import itertools
import struct
import zlib
import zoneinfo
from datetime import datetime, timedelta, timezone

import attrs

from watchkeeper.faults import FaultProfile

from . import cgi

#: Recorders write one file per hour per channel (continuous, "[R]"); cameras do the same on SD.
FILE_SECONDS = 3600
#: A healthy device keeps this much footage.
DEFAULT_RETENTION_DAYS = 30
#: Bytes of the synthetic DHAV stream per recorded second: small enough to download in tests.
BYTES_PER_SECOND = 16
FRAME_SECONDS = 60
MAX_FINDERS = 16


@attrs.frozen
class RecordedFile:
    channel: int
    start: datetime  # aware UTC
    end: datetime
    path: str

    @property
    def length(self) -> int:
        return clip_length(self.start, self.end)


def clip_length(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds()) * BYTES_PER_SECOND


def clip_bytes(channel: int, start: datetime, end: datetime) -> bytes:
    """A DHAV-framed stream: one frame per minute, 'DHAV' header, checksum, 'dhav' trailer."""
    total = clip_length(start, end)
    frames, stamp = [], int(start.timestamp())
    remaining = total
    while remaining > 0:
        size = min(FRAME_SECONDS * BYTES_PER_SECOND, remaining)
        header = b"DHAV" + struct.pack("<IIH", stamp, size, channel)
        payload_size = size - len(header) - 8
        if payload_size < 0:  # a last sliver too short for a frame is padding
            frames.append(b"\x00" * size)
            break
        payload = (struct.pack("<I", stamp) * (payload_size // 4 + 1))[:payload_size]
        frames.append(header + payload + struct.pack("<I", zlib.crc32(payload)) + b"dhav")
        remaining -= size
        stamp += FRAME_SECONDS
    return b"".join(frames)


def device_zone(faults: FaultProfile, now: datetime) -> int:
    """The NTP.TimeZone index a device set to the fault's zone reports (default Beijing)."""
    name = faults.time_zone
    if not name:
        return cgi.BEIJING
    text = name.strip().upper().removeprefix("UTC").removeprefix("GMT")
    if text[:1] in "+-" and text[1:2].isdigit():
        hours, _, minutes = text[1:].partition(":")
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return cgi.zone_index(offset if text[0] == "+" else -offset)
    if not text:
        return 0
    return cgi.zone_index(now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() or timedelta())


def file_path(channel: int, start_local: datetime, end_local: datetime, mount: str) -> str:
    day = start_local.strftime("%Y-%m-%d")
    return (f"{mount}/{day}/{channel:03d}/dav/{start_local:%H}/"
            f"{start_local:%H.%M.%S}-{end_local:%H.%M.%S}[R][0@0][0].dav")


def recorded_files(channel: int, start: datetime, end: datetime, faults: FaultProfile,
                   now: datetime, zone: timezone, mount: str) -> list[RecordedFile]:
    """Continuous hourly files in [start, end), cut by gaps, retention and the present."""
    retention = faults.retention_days if faults.retention_days is not None else DEFAULT_RETENTION_DAYS
    oldest = now - timedelta(days=retention)
    start, end = max(start, oldest), min(end, now)
    if start >= end:
        return []
    epoch = int(start.timestamp()) // FILE_SECONDS * FILE_SECONDS
    files = []
    for slot in itertools.count(epoch, FILE_SECONDS):
        begin = datetime.fromtimestamp(slot, timezone.utc)
        if begin >= end:
            break
        pieces = [(max(begin, oldest), min(begin + timedelta(seconds=FILE_SECONDS), now))]
        for gap_start, gap_end in faults.gaps:
            gap_start, gap_end = gap_start.astimezone(timezone.utc), gap_end.astimezone(timezone.utc)
            cut = []
            for a, b in pieces:
                if gap_end <= a or gap_start >= b:
                    cut.append((a, b))
                    continue
                if a < gap_start:
                    cut.append((a, gap_start))
                if gap_end < b:
                    cut.append((gap_end, b))
            pieces = cut
        for a, b in pieces:
            a, b = a.replace(microsecond=0), b.replace(microsecond=0)
            if b > a and b > start and a < end:
                files.append(RecordedFile(channel, a, b, file_path(
                    channel, a.astimezone(zone), b.astimezone(zone), mount)))
    return files


@attrs.define
class Finder:
    """One mediaFileFind object: created, given a condition, paged, closed, destroyed."""

    files: list[RecordedFile] | None = None
    cursor: int = 0


@attrs.define
class LogEntry:
    time: datetime
    type: str
    user: str
    address: str
    detail_type: str = "CGI"


@attrs.define
class Sessions:
    """Search sessions a device keeps open (finders and log tokens), with small hard limits."""

    finders: dict[int, Finder] = attrs.field(factory=dict)
    logs: dict[int, list[LogEntry]] = attrs.field(factory=dict)
    _ids: itertools.count = attrs.field(factory=lambda: itertools.count(3_000_001))

    def create_finder(self) -> int | None:
        if len(self.finders) >= MAX_FINDERS:
            return None
        number = next(self._ids)
        self.finders[number] = Finder()
        return number

    def open_log(self, entries: list[LogEntry]) -> int | None:
        if len(self.logs) >= MAX_FINDERS:
            return None
        number = next(self._ids) % 1000
        self.logs[number] = entries
        return number

"""What a simulated Dahua device knows: clock, zone, recorded files, disks, finders and its log."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo

import attrs

from watchkeeper.core.timezones import parse_zone
from watchkeeper.simulation.faults import FaultProfile

from . import cgi

#: Recorders write one file per hour per channel (continuous, "[R]"); cameras do the same on SD.
FILE_SECONDS = 3600
#: A healthy device keeps this much footage.
DEFAULT_RETENTION_DAYS = 30
#: The recorded stream keeps one picture every FRAME_SECONDS, each in a fixed budget of bytes, so a
#: file's size follows from its duration (the search reports it) without drawing the pictures.
FRAME_SECONDS = 60
BYTES_PER_SECOND = 1024
#: DHAV (Dahua's .dav): 24-byte header, extension, payload, then 'dhav' and the chunk's length.
DHAV_HEADER = struct.Struct("<4sBBBBIII")  # magic, type, subtype, channel, subnumber, number, length, date
VIDEO_I_FRAME, AUXILIARY = 0xFD, 0xF1
CODEC_MJPEG = 0x03
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


def dhav_date(moment: datetime) -> int:
    """DHAV's packed local date: seconds, minutes, hours, day, month, years since 2000."""
    return (moment.second | moment.minute << 6 | moment.hour << 12 | moment.day << 17 | moment.month << 22
            | (moment.year - 2000) << 26)


def _chunk(kind: int, channel: int, number: int, date: int, extension: bytes, payload: bytes) -> bytes:
    length = 24 + len(extension) + len(payload) + 8
    header = DHAV_HEADER.pack(b"DHAV", kind, 0, channel - 1, 0, number, length, date)
    checksum = sum(header) & 0xFF
    return (header + struct.pack("<HBB", 0, len(extension), checksum) + extension + payload
            + b"dhav" + struct.pack("<I", length))


def _filler(channel: int, number: int, date: int, size: int) -> bytes:
    """Exactly `size` bytes that a DHAV reader skips: an auxiliary chunk, or zeros if too small for one."""
    if size < 32:
        return b"\0" * size
    return _chunk(AUXILIARY, channel, number, date, b"", b"\0" * (size - 32))


def clip_bytes(channel: int, start: datetime, end: datetime, seed: int = 0,
               image: frozenset = frozenset(), zone: tzinfo | None = None) -> bytes:
    """A real DHAV stream, as the recorder stores it: one MJPEG picture of the channel's scene per
    FRAME_SECONDS, each padded to its byte budget with an auxiliary chunk (FFmpeg's dhav demuxer reads it)."""
    return b"".join(clip_frames(channel, start, end, seed, image, zone))


def clip_frames(channel: int, start: datetime, end: datetime, seed: int = 0,
                image: frozenset = frozenset(), zone: tzinfo | None = None) -> Iterator[bytes]:
    """clip_bytes one frame at a time, so a download can be streamed as a device streams it."""
    from watchkeeper.simulation.scenes import HEIGHT, WIDTH, jpeg, render

    total, budget = clip_length(start, end), FRAME_SECONDS * BYTES_PER_SECOND
    extension = bytes([0x80, 0, WIDTH // 8, HEIGHT // 8, 0x81, 0, CODEC_MJPEG, 1])
    moment, number = start, 0
    while total > 0:
        size = min(budget, total)
        local = moment.astimezone(zone) if zone else moment
        picture, scene = b"", render(seed, image, int(moment.timestamp()))  # rendered once, encoded till it fits
        for quality in (80, 60, 40, 25):
            picture = jpeg(scene, quality)
            if 24 + len(extension) + len(picture) + 8 + 32 <= size:
                break
        else:
            picture = b""
        if picture:
            video = _chunk(VIDEO_I_FRAME, channel, number, dhav_date(local), extension, picture)
            yield video + _filler(channel, number, dhav_date(local), size - len(video))
        else:  # a last sliver too short for a picture
            yield _filler(channel, number, dhav_date(local), size)
        total -= size
        moment += timedelta(seconds=FRAME_SECONDS)
        number += 1


def device_zone(faults: FaultProfile, now: datetime) -> int:
    """The NTP.TimeZone index a device set to the fault's zone reports (default Beijing)."""
    if not faults.time_zone:
        return cgi.BEIJING
    # Any notation (UTC+08:00, GMT+08:00, CST-8, Asia/Shanghai), read as core.timezones reads devices.
    return cgi.zone_index(now.astimezone(parse_zone(faults.time_zone)).utcoffset() or timedelta())


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
    channel: int | None = None


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

"""Simulator handlers for /ISAPI/ContentMgmt (search, storage, download, log) and the alert stream."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
from aiohttp import web
from watchkeeper.simulation.scenes import LARGE_SCENES, render

from . import simdocs
from .isapi import child, text
from .simdevice import (
    DISK_MIB,
    HIK,
    HikvisionDevice,
    bad_xml,
    channel_of,
    not_supported,
    page_limit,
    page_position,
    read_xml,
    search_stamp,
    search_time,
    uri_stamp,
    xml_reply,
)

#: A downloaded clip holds at most this many frames (one per second of the interval).
CLIP_FRAMES = 8
#: Bytes the playbackURI `size=` claims per hour of recording (about 4 Mbit/s).
BYTES_PER_HOUR = 1_800_000_000


async def search(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    root = await read_xml(request)
    if root is None:
        return bad_xml(request)
    track = text(root, "trackIDList", "trackID") or ""
    channel = int(track[:-2]) if track.isdigit() and len(track) > 2 else 0
    span = child(root, "timeSpanList", "timeSpan")
    start, end = search_time(device, text(span, "startTime")), search_time(device, text(span, "endTime"))
    search_id = text(root, "searchID") or ""
    if not 1 <= channel <= device.channels or start is None or end is None or end <= start:
        return bad_xml(request)
    pieces = device.recorded(channel, start, end)
    position, limit = page_position(root), page_limit(root)
    page = pieces[position:position + limit]
    status = "NO MATCHES" if not pieces else "MORE" if position + limit < len(pieces) else "OK"
    host = device.endpoint.host
    items = []
    for number, (a, b) in enumerate(page, position):
        size = int(BYTES_PER_HOUR * (b - a).total_seconds() / 3600)
        uri = (f"rtsp://{host}:554/Streaming/tracks/{track}/?starttime={uri_stamp(device, a)}"
               f"&endtime={uri_stamp(device, b)}&name=ch{channel:02d}_{number:08d}&size={size}")
        items.append(simdocs.search_item(track, search_stamp(device, a), search_stamp(device, b), uri))
    return xml_reply(simdocs.search_result(search_id, status, items))


async def daily_distribution(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    channel = channel_of(request)
    root = await read_xml(request)
    year, month = text(root, "year") if root is not None else None, text(root, "monthOfYear") if root is not None else None
    if channel is None or not 1 <= channel <= device.channels or not (year or "").isdigit() or not (month or "").isdigit():
        return bad_xml(request)
    zone = device.zone()
    first = datetime(int(year or 0), int(month or 0), 1, tzinfo=zone)
    following = (first + timedelta(days=32)).replace(day=1)
    days = {}
    day = first
    while day < following:
        days[day.day] = bool(device.recorded(channel, day, day + timedelta(days=1)))
        day += timedelta(days=1)
    return xml_reply(simdocs.daily_distribution(days))


async def storage(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    faults = device.faults
    disks = []
    for number in range(1, (2 if device.is_recorder else 1) + 1):
        broken = faults.disk_error and number == 1
        free = 0 if faults.disk_full else DISK_MIB // (3 + number)
        disks.append({"id": number, "hddName": f"hdd{number}", "hddPath": "", "hddType": "SATA",
                      "status": "error" if broken else "ok", "capacity": DISK_MIB,
                      "freeSpace": 0 if broken else free, "property": "RW"})
    return xml_reply(simdocs.storage(disks))


def _encode_clip(path: Path, seed: int, faults: frozenset, frames: int, size: tuple[int, int]) -> bytes:
    """An MJPEG AVI of `frames` scene ticks, one a second, written to path and returned."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 1.0, size)
    try:
        for tick in range(frames):
            writer.write(render(seed, faults, tick, size))
    finally:
        writer.release()
    return path.read_bytes()


def _write_clip(path: Path, seed: int, faults: frozenset, frames: int, size: tuple[int, int] = (640, 360)) -> bytes:
    if size != (640, 360):
        return _large_clip(seed % LARGE_SCENES, faults, frames, size)
    return _encode_clip(path, seed, faults, frames, size)


@lru_cache(maxsize=4 * LARGE_SCENES)
def _large_clip(seed: int, faults: frozenset, frames: int, size: tuple[int, int]) -> bytes:
    """A large clip, kept: a thousand simulated 1080p recorders should not encode one each."""
    with tempfile.TemporaryDirectory() as folder:
        return _encode_clip(Path(folder) / "clip.avi", seed, faults, frames, size)


async def download(request: web.Request) -> web.StreamResponse:
    """Answers with an MJPEG AVI of the interval (real devices send Hikvision PS; a test can decode this)."""
    device: HikvisionDevice = request.app[HIK]
    root = await read_xml(request)
    uri = text(root, "playbackURI") if root is not None else None
    if not uri:
        return bad_xml(request)
    parts = urlsplit(uri)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    track = parts.path.rstrip("/").rsplit("/", 1)[-1]
    channel = int(track[:-2]) if track.isdigit() and len(track) > 2 else 0
    try:
        start, end = (datetime.strptime(query[k], "%Y%m%dT%H%M%SZ").replace(tzinfo=device.zone())
                      for k in ("starttime", "endtime"))
    except (KeyError, ValueError):
        return bad_xml(request)
    if not 1 <= channel <= device.channels or not device.recorded(channel, start, end):
        return xml_reply(simdocs.response_status(request.path, 4, "Invalid Operation", "noRecord"), 404)
    frames = max(1, min(CLIP_FRAMES, int((end - start).total_seconds())))
    with tempfile.TemporaryDirectory() as folder:
        data = await asyncio.to_thread(_write_clip, Path(folder) / "clip.avi", device.index * 100 + channel,
                                       device.channel_profile(channel).image, frames, device.resolution)
    device.log_entry("Operation", "remoteDownload", device.http.username, request.remote or "", channel, uri)
    return web.Response(body=data, headers={"Content-Type": "video/x-msvideo",
                                            "Content-Disposition": f'attachment; filename="ch{channel:02d}.avi"'})


async def log_search(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    root = await read_xml(request)
    span = child(root, "timeSpanList", "timeSpan") if root is not None else None
    start, end = search_time(device, text(span, "startTime")), search_time(device, text(span, "endTime"))
    if start is None or end is None:
        return bad_xml(request)
    matching = [entry for entry in device.audit if start <= entry[0] < end]
    position, limit = page_position(root), page_limit(root)
    page = matching[position:position + limit]
    status = "NO MATCHES" if not matching else "MORE" if position + limit < len(matching) else "OK"
    items = [simdocs.log_item(search_stamp(device, when), major, minor, user, address, channel, info)
             for when, major, minor, user, address, channel, info in page]
    return xml_reply(simdocs.search_result(text(root, "searchID") or "", status, items))


async def alert_stream(request: web.Request) -> web.StreamResponse:
    """multipart/mixed with the literal `boundary` separator; a videoloss-inactive heartbeat keeps it alive."""
    device: HikvisionDevice = request.app[HIK]
    response = web.StreamResponse(headers={"Content-Type": "multipart/mixed; boundary=boundary",
                                           "Connection": "close"})
    await response.prepare(request)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    device.subscribers.add(queue)
    try:
        while True:
            try:
                body = await asyncio.wait_for(queue.get(), device.heartbeat)
            except TimeoutError:
                body = simdocs.alert("videoloss", "inactive", 1, device.local(device.now()), device.endpoint.host,
                                     device.endpoint.port, "videoloss alarm", 0)
            if body is None:
                break
            part = (b'--boundary\r\nContent-Type: application/xml; charset="UTF-8"\r\n'
                    + f"Content-Length: {len(body)}\r\n\r\n".encode() + body + b"\r\n")
            await response.write(part)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        device.subscribers.discard(queue)
        with contextlib.suppress(Exception):
            if request.transport is not None:
                request.transport.close()
    return response


async def not_found(request: web.Request) -> web.Response:
    return not_supported(request)

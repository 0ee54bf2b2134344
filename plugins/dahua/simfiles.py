"""The simulated Dahua device's key=value CGI replies, and its recordings and log: mediaFileFind sessions,
RPC_Loadfile and loadfile.cgi downloads, log.cgi searches (each download leaves a log line)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from aiohttp import web

from . import cgi
from .simstate import Finder, LogEntry, clip_bytes, clip_frames, clip_length, recorded_files

if TYPE_CHECKING:
    from .simulator import SimulatedDahua

#: What Dahua firmware answers to a CGI call it cannot do (status 400).
BAD_REQUEST = "Error\r\nBad Request!\r\n"
#: The most items one findNextFile page holds, whatever `count` asks (firmware caps it).
MAX_PAGE = 100


def kv_reply(pairs: dict[str, object] | list[tuple[str, object]]) -> web.Response:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return web.Response(text="".join(f"{k}={v}\r\n" for k, v in items), content_type="text/plain", charset="utf-8")


def ok() -> web.Response:
    return web.Response(text="OK\r\n", content_type="text/plain", charset="utf-8")


def bad_request() -> web.Response:
    return web.Response(status=400, text=BAD_REQUEST, content_type="text/plain", charset="utf-8")


# --- mediaFileFind: create → findFile → findNextFile… → close → destroy


async def finder_create(device: SimulatedDahua, request: web.Request) -> web.Response:
    number = device.sessions.create_finder()
    return bad_request() if number is None else kv_reply({"result": number})


def _finder(device: SimulatedDahua, request: web.Request) -> Finder | None:
    text = request.query.get("object", "")
    return device.sessions.finders.get(int(text)) if text.isdigit() else None


async def find_file(device: SimulatedDahua, request: web.Request) -> web.Response:
    finder, query = _finder(device, request), request.query
    channel = query.get("condition.Channel", "")
    start, end = device.local(query.get("condition.StartTime", "")), device.local(query.get("condition.EndTime", ""))
    if finder is None or not channel.isdigit() or not 1 <= int(channel) <= device.channels or not start or not end:
        return bad_request()
    files = recorded_files(int(channel), start, end, device.faults_for(int(channel)),
                           datetime.now(timezone.utc), device.zone(), device.mount())
    finder.files, finder.cursor = files, 0
    return ok()


async def find_next(device: SimulatedDahua, request: web.Request) -> web.Response:
    finder, count = _finder(device, request), request.query.get("count", "100")
    if finder is None or finder.files is None or not count.isdigit():
        return bad_request()
    page = finder.files[finder.cursor:finder.cursor + min(int(count), MAX_PAGE)]
    finder.cursor += len(page)
    lines: list[tuple[str, object]] = [("found", len(page))]
    zone = device.zone()
    for i, item in enumerate(page):
        device.served_files[item.path] = item
        seconds = int((item.end - item.start).total_seconds())
        lines += [(f"items[{i}].{k}", v) for k, v in (
            ("Channel", item.channel - 1), ("Cluster", 0), ("Compressed", "false"), ("Disk", 0),
            ("Duration", seconds), ("EndTime", cgi.format_device_time(item.end, zone)),
            ("FilePath", item.path), ("Flags[0]", "Timing"), ("Length", item.length),
            ("Overwrites", 0), ("Partition", 0), ("Redundant", "false"), ("Repeat", 0),
            ("StartTime", cgi.format_device_time(item.start, zone)), ("Type", "dav"),
            ("VideoStream", "Main"), ("WorkDir", device.mount()), ("WorkDirSN", 0))]
    if len(device.served_files) > 20_000:
        device.served_files.clear()
    return kv_reply(lines)


async def finder_close(device: SimulatedDahua, request: web.Request) -> web.Response:
    finder = _finder(device, request)
    if finder is None:
        return bad_request()
    finder.files = None
    return ok()


async def finder_destroy(device: SimulatedDahua, request: web.Request) -> web.Response:
    text = request.query.get("object", "")
    return ok() if text.isdigit() and device.sessions.finders.pop(int(text), None) is not None else bad_request()


async def load_file(device: SimulatedDahua, request: web.Request) -> web.StreamResponse:
    item = device.served_files.get("/" + request.match_info["path"])
    if item is None:
        return bad_request()
    device.log.append(LogEntry(datetime.now(timezone.utc), "Download", device.user(request), request.remote or "",
                             channel=item.channel))
    # Streamed frame by frame as a recorder streams a file, not held back until the whole hour is made.
    frames = clip_frames(item.channel, item.start, item.end, device.scene_seed(item.channel),
                         device.faults_for(item.channel).image, device.zone())
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = clip_length(item.start, item.end)
    await response.prepare(request)
    while (frame := await asyncio.to_thread(next, frames, None)) is not None:
        await response.write(frame)
    await response.write_eof()
    return response


async def load_range(device: SimulatedDahua, request: web.Request) -> web.Response:
    channel = request.query.get("channel", "")
    start, end = device.local(request.query.get("startTime", "")), device.local(request.query.get("endTime", ""))
    if not channel.isdigit() or not 1 <= int(channel) <= device.channels or not start or not end or end <= start:
        return bad_request()
    files = recorded_files(int(channel), start, end, device.faults_for(int(channel)),
                           datetime.now(timezone.utc), device.zone(), device.mount())
    # Firmware opens the reply with a binary preamble of varying length before the first frame.
    image, seed = device.faults_for(int(channel)).image, device.scene_seed(int(channel))
    clips = [await asyncio.to_thread(clip_bytes, f.channel, max(f.start, start), min(f.end, end), seed, image,
                                     device.zone()) for f in files]
    body = os.urandom(97).replace(b"D", b"d") + b"".join(clips)
    device.log.append(LogEntry(datetime.now(timezone.utc), "Download", device.user(request), request.remote or "",
                             channel=int(channel)))
    return web.Response(body=body, content_type="application/http")

# --- log.cgi


async def log_start(device: SimulatedDahua, request: web.Request) -> web.Response:
    start = device.local(request.query.get("condition.StartTime", ""))
    end = device.local(request.query.get("condition.EndTime", ""))
    if not start or not end:
        return bad_request()
    token = device.sessions.open_log([e for e in device.log if start <= e.time <= end])
    return bad_request() if token is None else kv_reply({"token": token})


async def log_find(device: SimulatedDahua, request: web.Request) -> web.Response:
    token, count = request.query.get("token", ""), request.query.get("count", "100")
    entries = device.sessions.logs.get(int(token)) if token.isdigit() else None
    if entries is None or not count.isdigit():
        return bad_request()
    page, device.sessions.logs[int(token)] = entries[:int(count)], entries[int(count):]
    zone = device.zone()
    lines: list[tuple[str, object]] = [("found", len(page))]
    for i, entry in enumerate(page):
        lines += [(f"items[{i}].Detail.Address", entry.address)]
        if entry.channel is not None:
            lines += [(f"items[{i}].Detail.Channel", entry.channel)]
        lines += [(f"items[{i}].Detail.Type", entry.detail_type),
                  (f"items[{i}].Level", 0), (f"items[{i}].Time", cgi.format_device_time(entry.time, zone)),
                  (f"items[{i}].Type", entry.type), (f"items[{i}].User", entry.user)]
    return kv_reply(lines)


async def log_stop(device: SimulatedDahua, request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    return ok() if token.isdigit() and device.sessions.logs.pop(int(token), None) is not None else bad_request()

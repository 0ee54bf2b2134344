"""Simulator handlers for /ISAPI/System, /Streaming, /Security and /Event/triggers."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import attrs
from aiohttp import web
from watchkeeper.simulation.scenes import hostile_picture, snapshot
from watchkeeper.core.timezones import DeviceZone, TimeZoneError, parse_zone

from . import simdocs
from .isapi import text
from .simdevice import HIK, HikvisionDevice, bad_xml, channel_of, not_supported, read_xml, search_time, xml_reply


async def device_info(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    model, kind = ("DS-7616NI-K2", "NVR") if device.is_recorder else ("DS-2CD2155FWD-I", "IPCamera")
    serial = f"{model}{20170725 + device.index}CCRR{700000000 + device.index:09d}WCVU"
    return xml_reply(simdocs.device_info("Network Video Recorder" if device.is_recorder else "IP CAMERA", serial, model,
                                    kind, f"44:19:b6:00:00:{device.index % 256:02x}",
                                    f"a0b1c2d3-{device.index:04d}-11e7-8000-4419b6000001"))


async def device_status(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    return xml_reply(simdocs.device_status(device.local(device.now()), int(time.monotonic() - device.booted)))


async def get_time(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    return xml_reply(simdocs.time_doc(device.time_mode, device.local(device.now()), device.zone().text))


async def put_time(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    root = await read_xml(request)
    if root is None:
        return bad_xml(request)
    zone_text = text(root, "timeZone")
    if zone_text:
        try:  # the device takes only its own POSIX-style notation, not IANA names
            if not isinstance(parse_zone(zone_text), DeviceZone):
                return bad_xml(request)
        except TimeZoneError:
            return bad_xml(request)
        device.time_zone = zone_text
        device.http.faults = attrs.evolve(device.faults, time_zone=None)
    mode = text(root, "timeMode") or device.time_mode
    device.time_mode = "NTP" if mode.upper() == "NTP" else "manual"
    local_time = text(root, "localTime")
    if device.time_mode == "manual" and local_time:
        when = search_time(device, local_time)
        if when is None:
            return bad_xml(request)
        offset = (when - datetime.now(timezone.utc)).total_seconds()
        device.http.faults = attrs.evolve(device.faults, clock_offset=offset)
    elif device.time_mode == "NTP" and device.ntp:
        device.http.faults = attrs.evolve(device.faults, clock_offset=0.0)  # the first sync lands at once
    device.log_entry("Operation", "remoteCfgParm", device.http.username, request.remote or "", None, "time")
    return xml_reply(simdocs.response_status(request.path))


async def get_ntp(request: web.Request) -> web.Response:
    return xml_reply(simdocs.ntp_servers(request.app[HIK].ntp))


async def put_ntp(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    root = await read_xml(request)
    if root is None:
        return bad_xml(request)
    servers = []
    for server in root.iter():
        if server.tag.endswith("NTPServer"):
            address = text(server, "hostName") or text(server, "ipAddress")
            if address and address != "0.0.0.0":
                servers.append(address)
    if not servers:
        return bad_xml(request)
    device.ntp = servers
    return xml_reply(simdocs.response_status(request.path))


async def video_inputs(request: web.Request) -> web.Response:
    device = request.app[HIK]
    return xml_reply(simdocs.channel_list("VideoInputChannelList", "VideoInputChannel", device.channels, device.endpoint.host))


async def input_proxy(request: web.Request) -> web.Response:
    device = request.app[HIK]
    if not device.is_recorder:
        return not_supported(request)
    return xml_reply(simdocs.channel_list("InputProxyChannelList", "InputProxyChannel", device.channels, device.endpoint.host))


async def motion_detection(request: web.Request) -> web.Response:
    return xml_reply(simdocs.motion_detection(int(request.match_info["channel"])))


async def streaming_channels(request: web.Request) -> web.Response:
    return xml_reply(simdocs.streaming_channels(request.app[HIK].channels))


async def admin_accesses(request: web.Request) -> web.Response:
    return xml_reply(simdocs.admin_accesses(request.app[HIK].endpoint.port, 554))


async def io_outputs(request: web.Request) -> web.Response:
    return xml_reply(simdocs.io_outputs(4 if request.app[HIK].is_recorder else 1))


async def event_triggers(request: web.Request) -> web.Response:
    return xml_reply(simdocs.event_triggers(request.app[HIK].channels))


async def picture(request: web.Request) -> web.Response:
    device: HikvisionDevice = request.app[HIK]
    channel = channel_of(request, "stream")
    if channel is None or not 1 <= channel <= device.channels:
        return not_supported(request)
    picture = device.channel_profile(channel).picture
    if picture is not None:
        data = hostile_picture(picture)
    else:
        device.tick += 1
        data = await asyncio.to_thread(snapshot, device.index * 100 + channel, device.channel_profile(channel).image,
                                       device.tick, device.resolution)
    return web.Response(body=data, headers={"Content-Type": "image/jpeg"})

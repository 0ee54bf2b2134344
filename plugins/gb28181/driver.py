"""The GB/T 28181 camera/recorder driver: a device registered to watchkeeper's SIP platform.

The endpoint's host and port are where the platform listens (devices are configured to register
there); its username is the device's 20-digit ID and its password the device's SIP password. One
platform per listening address is shared by every driver in the process; it runs while a driver
uses it (under `watchkeeper run`, always: each device keeps an event subscription open).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2

from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import (Capability, ClockReading, DeviceEvent, DeviceEventKind, DeviceInfo,
                                     DeviceKind, Endpoint, RecordingKind, RecordingSegment)
from watchkeeper.core.i18n import N_, error_text
from watchkeeper.devices.drivers import CapabilityMissing, DeviceError

from . import manscdp, media
from .platform import SipPlatform

DEFAULT_PLATFORM_ID = "34020000002000000001"
DEFAULT_DOMAIN = "3402000000"
#: A device that has sent nothing (keepalive, reply, alarm) for this long is offline; the standard's
#: default keepalive is 60 s and three missed ones mean offline.
OFFLINE_AFTER_SECONDS = 180.0
#: How long a device asked to register again (for its time) may take beyond its timeout: its next
#: keepalive, at the standard's 60 s interval, gets the answer that makes it register.
REREGISTER_WAIT_SECONDS = 65.0
#: (AlarmMethod, AlarmType) → event (GB/T 28181-2016 A.2.5): method 2 is a device alarm (1 video
#: loss, 2 tamper, 3 disk full), 5 a video alarm (2 motion, 11 video anomaly), 6 a device fault
#: (1 disk fault). Anything else is kept as OTHER with its description.
ALARM_EVENTS = {("2", "1"): DeviceEventKind.VIDEO_LOSS, ("2", "2"): DeviceEventKind.TAMPER,
                ("2", "3"): DeviceEventKind.DISK_FULL, ("6", "1"): DeviceEventKind.DISK_ERROR,
                ("5", "2"): DeviceEventKind.MOTION, ("5", "11"): DeviceEventKind.SCENE_CHANGE}

_platforms: dict[tuple[int, str, int], SipPlatform] = {}
#: One lock per event loop: an asyncio.Lock binds to the first loop it waits in, and the next loop
#: (another test, a worker thread's) to contend for it would raise "bound to a different event loop".
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _starting() -> asyncio.Lock:
    return _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


async def platform_for(endpoint: Endpoint) -> SipPlatform:
    """The running platform on this event loop for the endpoint's listening address (started once)."""
    key = (id(asyncio.get_running_loop()), endpoint.host, endpoint.port)
    async with _starting():
        platform = _platforms.get(key)
        if platform is None:
            platform = SipPlatform(endpoint.host, endpoint.port,
                                   str(endpoint.options.get("platform_id", DEFAULT_PLATFORM_ID)),
                                   str(endpoint.options.get("domain", DEFAULT_DOMAIN)),
                                   str(endpoint.options.get("time_zone", "Asia/Shanghai")))
            try:
                await platform.start()
            except OSError as error:
                raise DeviceError(FindingKind.UNREACHABLE,
                                  N_("cannot listen for GB/T 28181 devices on {host}:{port}: {error}",
                                     host=endpoint.host, port=endpoint.port, error=error_text(error))) from None
            _platforms[key] = platform
        platform.users += 1
    return platform


async def release(platform: SipPlatform) -> None:
    async with _starting():
        platform.users -= 1
        if platform.users <= 0:
            for key, running in list(_platforms.items()):
                if running is platform:
                    del _platforms[key]
            await platform.stop()


#: MANSCDP queries as a reason names them (the CmdType is the wire's word, not the reader's).
QUERY_LABELS = {"DeviceInfo": N_("device information query"), "DeviceStatus": N_("device status query"),
                "Catalog": N_("channel catalog query"), "RecordInfo": N_("recording query")}


class Gb28181Driver:
    """CameraDriver over GB/T 28181 signalling: identity, clock, channels, recordings and alarms."""

    capabilities = frozenset({Capability.RECORDINGS, Capability.EVENTS, Capability.SNAPSHOT,
                              Capability.CLIP_DOWNLOAD, Capability.SET_CLOCK})

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.device_id = endpoint.username
        self._platform: SipPlatform | None = None
        self._channels: list[str] | None = None

    async def _ready(self) -> SipPlatform:
        """The platform, once this device has registered to it (within the endpoint's timeout)."""
        if self._platform is None:
            self._platform = await platform_for(self.endpoint)
        platform = self._platform
        platform.passwords[self.device_id] = self.endpoint.password.reveal()
        deadline = time.monotonic() + self.endpoint.timeout
        async with platform.registered:
            while not self._live(platform):
                failure = platform.auth_failures.get(self.device_id)
                if failure:
                    raise DeviceError(FindingKind.AUTH_FAILED, N_("device {device}: {problem}", device=self.device_id,
                                                                      problem=failure))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeviceError(FindingKind.UNREACHABLE, N_(
                        "device {device} has not registered to {host}:{port} within {timeout:g} s (or stopped "
                        "sending keepalives)", device=self.device_id, host=self.endpoint.host,
                        port=self.endpoint.port, timeout=self.endpoint.timeout))
                try:
                    await asyncio.wait_for(platform.registered.wait(), min(remaining, 0.5))
                except TimeoutError:
                    continue
        return platform

    def _live(self, platform: SipPlatform) -> bool:
        registration = platform.registrations.get(self.device_id)
        now = time.monotonic()
        return registration is not None and registration.expires_at > now and \
            now - registration.last_seen < OFFLINE_AFTER_SECONDS

    async def _ask(self, cmd_type: str, fields: Sequence[tuple[str, Any]] = (), target: str | None = None
                   ) -> list[manscdp.Body]:
        platform = await self._ready()
        what = QUERY_LABELS.get(cmd_type, cmd_type)
        try:
            return await platform.query(self.device_id, cmd_type, list(fields), self.endpoint.timeout, target)
        except TimeoutError:
            raise DeviceError(FindingKind.UNREACHABLE, N_("{what}: no answer from {device} within {timeout:g} s",
                                                          what=what, device=self.device_id,
                                                          timeout=self.endpoint.timeout)) from None
        except (PermissionError, LookupError, ValueError) as error:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: {problem}", what=what,
                                                             problem=error_text(error))) from None

    async def device_info(self) -> DeviceInfo:
        body = (await self._ask("DeviceInfo"))[0]
        channels = body.text("Channel", "1")
        count = int(channels) if channels.isdigit() else 1
        return DeviceInfo(body.text("Manufacturer"), body.text("Model"), self.device_id, body.text("Firmware"),
                          DeviceKind.RECORDER if count > 1 else DeviceKind.CAMERA, count)

    async def get_clock(self) -> ClockReading:
        started = time.monotonic()
        before = datetime.now(timezone.utc)
        body = (await self._ask("DeviceStatus"))[0]
        round_trip = time.monotonic() - started
        text = body.text("DeviceTime")
        if not text:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: the reply carries no {field}", what=QUERY_LABELS["DeviceStatus"],
                                                             field="DeviceTime"))
        try:
            device_time = manscdp.parse_time(text, self._platform.zone if self._platform else timezone.utc)
        except manscdp.ManscdpError as error:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: {problem}", what=QUERY_LABELS["DeviceStatus"],
                                                             problem=error_text(error))) from None
        # GB/T 28181 times carry no zone: the device keeps the platform's (the site's legal time).
        return ClockReading(device_time, before + timedelta(seconds=round_trip / 2), round_trip,
                            time_zone=str(self._platform.zone) if self._platform else None)

    async def channels(self) -> list[str]:
        """Channel IDs from the Catalog, in the device's order (channel 1 is the first)."""
        if self._channels is None:
            pages = await self._ask("Catalog")
            self._channels = [item.get("DeviceID", "") for page in pages for item in page.items("DeviceList")
                              if item.get("DeviceID")]
        return self._channels

    async def recordings(self, channel: int, start: datetime, end: datetime) -> list[RecordingSegment]:
        channels = await self.channels()
        if not 1 <= channel <= len(channels):
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("channel {channel}: the device's catalog lists {count} channels",
                                                             channel=channel, count=len(channels)))
        zone = self._platform.zone if self._platform else timezone.utc
        pages = await self._ask("RecordInfo", [
            ("StartTime", manscdp.format_time(start, zone)), ("EndTime", manscdp.format_time(end, zone)),
            ("Secrecy", 0), ("Type", "all")], target=channels[channel - 1])
        segments = []
        for page in pages:
            for item in page.items("RecordList"):
                try:
                    begin = manscdp.parse_time(item.get("StartTime", ""), zone)
                    finish = manscdp.parse_time(item.get("EndTime", ""), zone)
                except manscdp.ManscdpError as error:
                    raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: {problem}", what=QUERY_LABELS["RecordInfo"],
                                                                         problem=error_text(error))) from None
                size = item.get("FileSize", "")
                kind = {"time": RecordingKind.CONTINUOUS, "alarm": RecordingKind.EVENT,
                        "manual": RecordingKind.EVENT}.get(item.get("Type", "").lower(), RecordingKind.UNKNOWN)
                segments.append(RecordingSegment(channel, begin, finish, kind,
                                                 int(size) if size.isdigit() else None))
        return sorted(segments, key=lambda segment: segment.start)

    async def events(self) -> AsyncIterator[DeviceEvent]:
        platform = await self._ready()
        queue = platform.alarms.setdefault(self.device_id, asyncio.Queue(maxsize=1000))
        channels = await self.channels()
        while True:
            body = await queue.get()
            # Devices write the type inside <Info> (as the 2016 edition says) or beside AlarmMethod.
            alarm_type = body.text("Info/AlarmType") or body.text("AlarmType")
            kind = ALARM_EVENTS.get((body.text("AlarmMethod"), alarm_type), DeviceEventKind.OTHER)
            channel = channels.index(body.device_id) + 1 if body.device_id in channels else None
            when = body.text("AlarmTime")
            try:
                moment = manscdp.parse_time(when, platform.zone) if when else datetime.now(timezone.utc)
            except manscdp.ManscdpError:
                moment = datetime.now(timezone.utc)
            yield DeviceEvent(kind, moment, channel, True, body.text("AlarmDescription")[:200])

    async def set_clock(self, when: datetime) -> None:
        """Correct the clock by re-registration: GB/T 28181 §9.10 has devices take their time from the
        Date of the platform's 200 OK to REGISTER, and offers no command to set it.

        The platform answers the device's next Keepalive with 403, as platforms answer a device they
        hold unregistered; the device registers again at once and its 200 OK carries `when` (moved
        on by the time since this call). TeleBoot would also make it register, by rebooting it and
        losing recording meanwhile, which no platform does to set a clock. The wait is bounded by one
        keepalive interval (the standard's 60 s) on top of the device's timeout.
        """
        platform = await self._ready()
        registration = platform.registrations[self.device_id]
        platform.date_shift[self.device_id] = (when - datetime.now(timezone.utc)).total_seconds()
        registration.refresh_wanted = True
        deadline = time.monotonic() + self.endpoint.timeout + REREGISTER_WAIT_SECONDS
        async with platform.registered:
            while platform.registrations.get(self.device_id) is registration:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    registration.refresh_wanted = False
                    raise DeviceError(FindingKind.UNREACHABLE, N_(
                        "device {device} was asked to register again (to take the time from the platform's Date) "
                        "and did not within {timeout:g} s", device=self.device_id,
                        timeout=self.endpoint.timeout + REREGISTER_WAIT_SECONDS))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(platform.registered.wait(), min(remaining, 0.5))

    async def set_ntp(self, servers: list[str]) -> None:
        raise CapabilityMissing(N_("GB/T 28181 has no NTP setting"))

    async def _session(self, channel: int, playback: tuple[datetime, datetime] | None,
                       enough: Callable[[media.RtpReceiver], bool]) -> bytes:
        """INVITE a channel's live video (or a recorded interval), gather its PS over RTP until
        `enough` says so or the stream stops, then BYE. Bounded in time and bytes."""
        channels = await self.channels()
        if not 1 <= channel <= len(channels):
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("channel {channel}: the device's catalog lists {count} channels",
                                                             channel=channel, count=len(channels)))
        platform = await self._ready()
        ssrc = ("1" if playback else "0") + f"{self.device_id[3:8]}{secrets.randbelow(10_000):04d}"
        host = str(self.endpoint.options.get("media_address", platform.host))
        transport = self._media_transport()
        registration = platform.registrations.get(self.device_id)
        try:
            receiver, port = await media.open_receiver(host, self._rtp_ports(), int(ssrc), transport,
                                                       registration.address[0] if registration else None)
        except OSError as error:
            raise DeviceError(FindingKind.UNREACHABLE, N_("cannot receive media: {error}", error=error_text(error))) from None
        offer = media.Offer(channels[channel - 1], host, port, ssrc,
                            (int(playback[0].timestamp()), int(playback[1].timestamp())) if playback else None,
                            transport)
        dialog = None
        try:
            dialog = await platform.invite(self.device_id, offer.channel_id, offer.sdp(platform.platform_id),
                                           f"{offer.channel_id}:{ssrc},{platform.platform_id}:0",
                                           self.endpoint.timeout)
            if isinstance(receiver, media.TcpRtpReceiver):
                # TCP passive: the device connects to us; one that never does is known within the timeout.
                try:
                    await asyncio.wait_for(receiver.connected.wait(), self.endpoint.timeout)
                except TimeoutError:
                    raise DeviceError(FindingKind.PROTOCOL_ERROR, N_(
                        "{device} accepted the INVITE but never connected to TCP media port {port} within {timeout:g} s",
                        device=self.device_id, port=port, timeout=self.endpoint.timeout)) from None
            deadline = time.monotonic() + self.endpoint.timeout + (
                (playback[1] - playback[0]).total_seconds() if playback else 0)
            while not enough(receiver):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                receiver.arrived.clear()
                try:
                    # A stream that stops for a second has ended (a clip sent whole, or a dead feed).
                    await asyncio.wait_for(receiver.arrived.wait(), min(remaining, 1.0 if receiver.size else remaining))
                except TimeoutError:
                    if receiver.size:
                        break
            return receiver.stream()
        except TimeoutError:
            raise DeviceError(FindingKind.UNREACHABLE, N_("{what}: no answer from {device}", what="INVITE",
                                                          device=self.device_id)) from None
        except (PermissionError, LookupError) as error:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: {problem}", what="INVITE",
                                                             problem=error_text(error))) from None
        finally:
            receiver.close()
            if dialog is not None:
                await platform.bye(dialog, min(self.endpoint.timeout, 2.0))

    def _media_transport(self) -> str:
        text = str(self.endpoint.options.get("media_transport", "udp")).lower()
        if text not in media.TRANSPORTS:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("options.media_transport {value!r} is not udp or tcp",
                                                             value=text[:40]))
        return text

    def _rtp_ports(self) -> range:
        text = str(self.endpoint.options.get("rtp_ports", "30000-30999"))
        first, _, last = text.partition("-")
        if not (first.isdigit() and last.isdigit() and 1024 <= int(first) <= int(last) <= 65535):
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("options.rtp_ports {value!r} is not a range like 30000-30999",
                                                             value=text[:40]))
        return range(int(first), int(last) + 1)

    async def snapshot(self, channel: int) -> bytes:
        """A JPEG of the live picture: the first frame decoded from a Play session's PS."""
        frames: list = []

        def decoded(receiver: media.RtpReceiver) -> bool:
            # A frame is whole once the next one has begun: FFmpeg would also show a truncated
            # keyframe, concealed, which looks the same in every session (only its top rows).
            if receiver.size:
                frames[:] = media.decode(receiver.stream(), limit=2)
            return len(frames) >= 2

        stream = await self._session(channel, None, decoded)
        if len(frames) < 2:
            frames = await asyncio.to_thread(media.decode, stream, 2)
        if not frames:
            raise DeviceError(FindingKind.PROTOCOL_ERROR,
                              N_("live video of channel {channel}: {size} bytes, no picture decoded", channel=channel,
                                 size=len(stream)))
        ok, jpeg = cv2.imencode(".jpg", frames[0], [cv2.IMWRITE_JPEG_QUALITY, 90])
        return jpeg.tobytes()

    async def download_clip(self, channel: int, start: datetime, end: datetime, destination: Path) -> Path:
        """The recorded interval as the PS the device sends (a Playback session), written to a .mpg."""
        if end <= start:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("clip ends before it starts"))
        stream = await self._session(channel, (start, end), lambda receiver: receiver.size >= media.MAX_STREAM_BYTES)
        if not stream:
            raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("playback of channel {channel}: no media arrived", channel=channel))
        target = Path(destination).with_suffix(".mpg")
        await asyncio.to_thread(target.write_bytes, stream)
        return target

    async def stream_uri(self, channel: int, substream: bool = False) -> str:
        raise CapabilityMissing(N_("GB/T 28181 has no RTSP URI"))

    async def playback_uri(self, channel: int, start: datetime, end: datetime) -> str:
        raise CapabilityMissing(N_("GB/T 28181 has no RTSP URI"))

    async def storage(self) -> list:
        raise CapabilityMissing(N_("GB/T 28181 reports no disks"))

    async def audit_log(self, start: datetime, end: datetime) -> list[Any]:
        # GB/T 28181 has no query for a device's own log of playback, export or deletion: AUDIT_LOG
        # is not declared, and R9 has no device-side evidence for these devices.
        raise CapabilityMissing(N_("GB/T 28181 defines no device audit log; AUDIT_LOG is not offered"))

    async def close(self) -> None:
        if self._platform is not None:
            platform, self._platform = self._platform, None
            await release(platform)

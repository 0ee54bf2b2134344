"""The simulated GB/T 28181 device's media sessions: INVITE answered with SDP, PS over RTP sent live
(s=Play) or from the recorder's files (s=Playback), over UDP or TCP, until BYE."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from watchkeeper.simulation import scenes
from watchkeeper.simulation.recordings import recorded_intervals

from . import media, sip

if TYPE_CHECKING:
    from .simulator import SimulatedGb28181

#: An accepted INVITE awaiting its ACK: RTP target, recorded interval (None for live), channel, SSRC,
#: transport ("udp" or "tcp").
Offer = tuple[tuple[str, int], "tuple[datetime, datetime] | None", int, int, str]


class MediaSessions:
    """One device's media sessions: the offers it answered and the streams it is sending."""

    def __init__(self, device: SimulatedGb28181) -> None:
        self.device = device
        self.offers: dict[str, Offer] = {}
        self.streams: dict[str, asyncio.Task[None]] = {}

    def request(self, message: sip.SipMessage, address: tuple[str, int]) -> None:
        """Answer an INVITE with the device's SDP (404 for an unknown channel or nothing recorded), start
        the stream at its ACK, stop it at BYE."""
        call_id = message.call_id
        if message.method == "BYE":
            task = self.streams.pop(call_id, None)
            if task is not None:
                task.cancel()
            self.offers.pop(call_id, None)
            self.device.reply(sip.response_to(message, 200, sip.tag()), address)
            return
        if message.method == "ACK":
            offer = self.offers.get(call_id)
            if offer is not None and call_id not in self.streams:
                self.device.log.append("Playback" if offer[1] else "Play")
                self.device.media_transports.append(offer[4])
                self.streams[call_id] = asyncio.get_running_loop().create_task(self._stream(*offer))
            return
        channel_id = sip.uri_user(message.uri + "@") if "@" not in message.uri else message.uri.split(":")[1].split("@")[0]
        try:
            sdp = media.parse_sdp(message.body.decode("ascii", "replace"))
        except media.SdpError:
            self.device.reply(sip.response_to(message, 488, sip.tag()), address)
            return
        if channel_id not in self.device.channel_ids():
            self.device.reply(sip.response_to(message, 404, sip.tag()), address)
            return
        interval = media.playback_interval(sdp.get("time", "")) if sdp.get("session") == "Playback" else None
        channel = self.device.channel_ids().index(channel_id) + 1
        if interval is not None and not recorded_intervals(*interval, self.device.faults_for(channel),
                                                           datetime.now(timezone.utc)):
            self.device.reply(sip.response_to(message, 404, sip.tag()), address)  # nothing recorded then
            return
        target = (sdp["address"], int(sdp["port"]))
        ssrc = sdp.get("ssrc", "0")
        # TCP passive offered (GB/T 28181-2016 Annex: TCP/RTP/AVP, a=setup:passive): the device connects.
        transport = "tcp" if sdp.get("protocol") == "TCP/RTP/AVP" and sdp.get("setup") == "passive" else "udp"
        self.offers[call_id] = (target, interval, channel, int(ssrc) if ssrc.isdigit() else 0, transport)
        host, port = self.device.transport.get_extra_info("sockname")[:2] if self.device.transport else ("127.0.0.1", 0)
        media_line = (["m=video 9 TCP/RTP/AVP 96"] if transport == "tcp" else [f"m=video {port} RTP/AVP 96"])
        setup = ["a=setup:active", "a=connection:new"] if transport == "tcp" else []
        answer = "\r\n".join(["v=0", f"o={channel_id} 0 0 IN IP4 {host}", f"s={sdp.get('session', 'Play')}",
                               f"c=IN IP4 {host}", f"t={sdp.get('time', '0 0')}", *media_line,
                               "a=sendonly", "a=rtpmap:96 PS/90000", *setup, f"y={ssrc}", ""])
        self.device.reply(sip.response_to(message, 200, sip.tag(), [("Content-Type", "APPLICATION/SDP"),
                                                              ("Contact", f"<sip:{channel_id}@{host}:{port}>")],
                                    answer.encode("ascii")), address)

    def _scene(self, channel: int, moment: datetime) -> Any:
        seed = int(self.device.channel_ids()[channel - 1][-7:]) * 31 + 17
        return scenes.render(seed, self.device.faults_for(channel).image, int(moment.timestamp() * 25))

    async def _stream(self, target: tuple[str, int], interval: tuple[datetime, datetime] | None, channel: int,
                      ssrc: int, transport: str = "udp") -> None:
        """Live: a GOP of the scene now, then a frame every 40 ms until BYE. Playback: the interval's
        recorded pieces, one frame a second of recording (timed so), sent whole, then a MediaStatus notify.
        Over TCP the device connects to the platform's port and frames each packet (RFC 4571)."""
        sequence = 0
        writer: asyncio.StreamWriter | None = None
        if transport == "tcp":
            if ("Playback" if interval else "Play") in self.device.refuses_tcp_media:
                return
            try:
                _reader, writer = await asyncio.open_connection(*target)
            except OSError:
                return  # nobody listens there: the platform gave up on this session
        datagrams = self.device.transport

        def send(packet: bytes) -> None:
            if writer is not None:
                writer.write(media.framed(packet))
            elif datagrams is not None:
                datagrams.sendto(packet, target)

        try:
            if interval is None:
                while True:
                    now = datetime.now(timezone.utc)
                    images = [self._scene(channel, now + timedelta(milliseconds=40 * index)) for index in range(10)]
                    stream = await asyncio.to_thread(media.encode, images)
                    for packet in media.packets(stream, ssrc, sequence, int(now.timestamp() * 90000)):
                        send(packet)
                        sequence += 1
                    if writer is not None:
                        await writer.drain()
                    await asyncio.sleep(0.4)
            start, end = interval
            # The recorder's files overlapping the interval, cut to it: what a Playback session sends.
            pieces = [(max(a, start), min(b, end))
                      for a, b in recorded_intervals(start, end, self.device.faults_for(channel), datetime.now(timezone.utc))]
            moments = [a + timedelta(seconds=second) for a, b in pieces if b > a
                       for second in range(0, max(1, int((b - a).total_seconds())), 1)][:600]
            images = [self._scene(channel, moment) for moment in moments]
            stream = await asyncio.to_thread(media.encode, images, 1)  # one frame per recorded second
            for index, packet in enumerate(media.packets(stream, ssrc)):
                send(packet)
                if index % 20 == 19:
                    if writer is not None:
                        await writer.drain()
                    await asyncio.sleep(0.001)  # pace the burst a little, as a device's sender does
            if writer is not None:
                await writer.drain()
            await self.device.notify("MediaStatus", [("NotifyType", 121)], about=self.device.channel_ids()[channel - 1])
        except ConnectionError:
            pass  # the platform closed the media connection: the session is over
        finally:
            if writer is not None:
                writer.close()

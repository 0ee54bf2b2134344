"""GB/T 28181 media: the SDP of an INVITE, PS (MPEG-2 program stream) over RTP, and decoding it with PyAV.

Devices send H.264 in a PS, cut into RTP packets of payload type 96 (`a=rtpmap:96 PS/90000`); the
SSRC is the `y=` line's ten digits (GB/T 28181 Annex F). The packets come over UDP, or over TCP
with the platform passive (`TCP/RTP/AVP`, `a=setup:passive`: the device connects to the offered
port and sends each packet after a 2-byte length, RFC 4571). The platform reorders packets by
sequence number, joins the payloads back into the PS and lets FFmpeg's `mpeg` demuxer read it.
"""

from __future__ import annotations

import asyncio
import io
import re
import struct
from collections.abc import Iterator
from datetime import datetime

import attrs
import av
import numpy as np
from watchkeeper.core.i18n import N_

RTP_HEADER = struct.Struct("!BBHII")
PAYLOAD_TYPE = 96
#: One session's stream is bounded: a snapshot needs a GOP, a clip its seconds of low bit rate.
MAX_STREAM_BYTES = 32 * 1024 * 1024
MAX_RTP_PAYLOAD = 1400
#: How the device sends the RTP: UDP, or TCP with the platform passive (RFC 4571 framing).
TRANSPORTS = ("udp", "tcp")


@attrs.frozen
class Offer:
    """What an INVITE's SDP says: who wants which channel, live or a recorded interval, sent where."""

    channel_id: str
    address: str
    port: int
    ssrc: str
    playback: tuple[int, int] | None = None  # (start, end) as Unix seconds
    transport: str = "udp"  # or "tcp": TCP passive, the device connects (RFC 4571 framing)

    def sdp(self, platform_id: str) -> str:
        name, timing = ("Playback", f"{self.playback[0]} {self.playback[1]}") if self.playback else ("Play", "0 0")
        lines = ["v=0", f"o={platform_id} 0 0 IN IP4 {self.address}", f"s={name}"]
        if self.playback:
            lines.append(f"u={self.channel_id}:0")
        protocol = "TCP/RTP/AVP" if self.transport == "tcp" else "RTP/AVP"
        lines += [f"c=IN IP4 {self.address}", f"t={timing}", f"m=video {self.port} {protocol} {PAYLOAD_TYPE}",
                  "a=recvonly", f"a=rtpmap:{PAYLOAD_TYPE} PS/90000"]
        if self.transport == "tcp":
            # RFC 4145: we listen, the device opens a new connection for this session.
            lines += ["a=setup:passive", "a=connection:new"]
        lines.append(f"y={self.ssrc}")
        return "\r\n".join(lines) + "\r\n"


class SdpError(ValueError):
    """An SDP without the address, port or payload a PS stream needs."""


def parse_sdp(text: str) -> dict[str, str]:
    """The fields a GB/T 28181 exchange needs: session name, address, media port, time, SSRC, direction."""
    found: dict[str, str] = {}
    for line in text.splitlines()[:100]:
        key, _, value = line.strip().partition("=")
        if key == "s":
            found["session"] = value.strip()
        elif key == "c":
            found["address"] = value.split()[-1] if value.split() else ""
        elif key == "m" and value.startswith("video"):
            parts = value.split()
            found["port"] = parts[1] if len(parts) > 1 else ""
            found["protocol"] = parts[2].upper() if len(parts) > 2 else ""
        elif key == "a" and value.startswith("setup:"):
            found["setup"] = value[6:].strip().lower()
        elif key == "t":
            found["time"] = value.strip()
        elif key == "y":
            found["ssrc"] = value.strip()
        elif key == "u":
            found["uri"] = value.strip()
    if not found.get("address") or not found.get("port", "").isdigit():
        raise SdpError("SDP has no connection address or video port")
    return found


def packets(stream: bytes, ssrc: int, first_sequence: int = 0, timestamp: int = 0) -> Iterator[bytes]:
    """RTP packets (RFC 3550, PT 96, marker on the last) carrying a PS."""
    chunks = [stream[offset:offset + MAX_RTP_PAYLOAD] for offset in range(0, len(stream), MAX_RTP_PAYLOAD)]
    for index, chunk in enumerate(chunks):
        marker = 0x80 if index == len(chunks) - 1 else 0
        yield RTP_HEADER.pack(0x80, marker | PAYLOAD_TYPE, (first_sequence + index) & 0xFFFF,
                              timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF) + chunk


def framed(packet: bytes) -> bytes:
    """An RTP packet as RFC 4571 sends it over TCP: its length in two bytes, then the packet."""
    return struct.pack("!H", len(packet)) + packet


def rtp_payload(packet: bytes) -> tuple[int, int, bytes] | None:
    """(sequence, ssrc, payload) of an RTP packet, skipping CSRCs, extension and padding; None if not RTP."""
    if len(packet) < RTP_HEADER.size:
        return None
    first, second, sequence, _timestamp, ssrc = RTP_HEADER.unpack_from(packet)
    if first >> 6 != 2 or second & 0x7F != PAYLOAD_TYPE:
        return None
    offset = RTP_HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    end = len(packet)
    if first & 0x20 and end > offset:  # padding
        end -= packet[-1]
    return (sequence, ssrc, packet[offset:end]) if end > offset else None


class RtpReceiver(asyncio.DatagramProtocol):
    """Gathers one session's packets (by SSRC) until enough bytes or time; reorders by sequence."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.payloads: dict[int, bytes] = {}
        self.size = 0
        self.first: int | None = None
        self.arrived = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, address: tuple[str, int]) -> None:
        parsed = rtp_payload(data)
        if parsed is None or parsed[1] != self.ssrc or self.size >= MAX_STREAM_BYTES:
            return
        sequence, _ssrc, payload = parsed
        if self.first is None:
            self.first = sequence
        # Unwrap the 16-bit sequence relative to the first packet, so a wrap keeps its order.
        relative = (sequence - self.first) & 0xFFFF
        if relative not in self.payloads:
            self.payloads[relative] = payload
            self.size += len(payload)
            self.arrived.set()

    def stream(self) -> bytes:
        return b"".join(self.payloads[key] for key in sorted(self.payloads))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpRtpReceiver(RtpReceiver):
    """TCP passive (RFC 4571): listens on the offered port for the device's one connection, and reads
    each RTP packet after its 2-byte length. Connections from another host than the device's, or
    after the first, are closed unread; a session's bytes stay bounded as over UDP."""

    def __init__(self, ssrc: int, peer_host: str | None) -> None:
        super().__init__(ssrc)
        self.peer_host = peer_host
        self.connected = asyncio.Event()
        self.server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        if self.connected.is_set() or (self.peer_host and peer[0] != self.peer_host):
            writer.close()
            return
        self.connected.set()
        self._writer = writer
        try:
            while self.size < MAX_STREAM_BYTES:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                self.datagram_received(await reader.readexactly(length), peer[:2])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the device ended the session (or the connection broke): what came is kept
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self._writer is not None:
            self._writer.close()


async def open_receiver(host: str, ports: range, ssrc: int, transport: str = "udp",
                        peer_host: str | None = None) -> tuple[RtpReceiver, int]:
    """A receiver bound to the first free port of the configured range (UDP, or TCP listening)."""
    loop = asyncio.get_running_loop()
    for port in ports:
        try:
            if transport == "tcp":
                listener = TcpRtpReceiver(ssrc, peer_host)
                listener.server = await asyncio.start_server(listener.serve, host, port)
                return listener, port
            _transport, receiver = await loop.create_datagram_endpoint(lambda: RtpReceiver(ssrc),
                                                                       local_addr=(host, port))
        except OSError:
            continue
        return receiver, port
    raise OSError(N_("no free {transport} media port in {first}-{last}", transport=transport.upper(), first=ports.start,
                     last=ports.stop - 1))


def decode(stream: bytes, limit: int = 25) -> list[np.ndarray]:
    """Up to `limit` BGR frames from a PS (H.264 inside), as the frame checks take them."""
    frames: list[np.ndarray] = []
    if not stream:
        return frames
    try:
        with av.open(io.BytesIO(stream), mode="r", format="mpeg") as container:
            if not container.streams.video:
                return frames
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="bgr24"))
                if len(frames) >= limit:
                    break
    except (av.error.FFmpegError, ValueError):
        pass  # whatever decoded before the damage is kept; none at all is the caller's error
    return frames


def encode(images: list[np.ndarray], fps: int = 25) -> bytes:
    """A PS of H.264 frames (what a GB/T 28181 device sends), from BGR images; the simulator's media."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="vob") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def playback_interval(time_line: str) -> tuple[datetime, datetime] | None:
    """The `t=start end` of a Playback SDP as aware UTC datetimes (Unix seconds)."""
    from datetime import timezone

    match = re.fullmatch(r"\s*(\d+)\s+(\d+)\s*", time_line or "")
    if not match or match.group(1) == "0":
        return None
    return (datetime.fromtimestamp(int(match.group(1)), timezone.utc),
            datetime.fromtimestamp(int(match.group(2)), timezone.utc))

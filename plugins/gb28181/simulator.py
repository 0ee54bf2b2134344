"""A simulated GB/T 28181 camera or NVR: it registers to a platform and answers it as devices do.

It REGISTERs over UDP (or TCP) with digest authentication, retrying until the platform answers,
takes its clock from the 200 OK's Date (plus its fault's offset), sends Keepalive every few seconds,
and answers Catalog, DeviceInfo, DeviceStatus and RecordInfo with a 200 OK and then a Response
MESSAGE in GB2312, RecordInfo paged a few items at a time with SumNum, the SN echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from watchkeeper.core.models import DeviceEventKind, Endpoint
from watchkeeper.simulation.faults import FaultProfile, Hostile, hostile_body
from watchkeeper.simulation.recordings import recorded_intervals

from . import manscdp, sip
from .simmedia import MediaSessions

#: Items per Response page, as devices page RecordInfo and Catalog (many send 2 to 4).
PAGE_ITEMS = 4
#: A real device retries registration every 30-60 s; the simulator does it fast so a test's platform,
#: started after the device, sees it register within a second.
REGISTER_WAIT = 1.0
REGISTER_RETRY = 0.2
DOMAIN = "3402000000"
PLATFORM_ID = "34020000002000000001"
#: Event → (AlarmMethod, AlarmType) as devices send them (GB/T 28181-2016 A.2.5).
ALARMS = {DeviceEventKind.VIDEO_LOSS: ("2", "1"), DeviceEventKind.TAMPER: ("2", "2"),
          DeviceEventKind.DISK_FULL: ("2", "3"), DeviceEventKind.DISK_ERROR: ("6", "1"),
          DeviceEventKind.MOTION: ("5", "2")}


def device_id(index: int) -> str:
    """A 20-digit ID: centre code 34020000, industry 00, type 132 (IPC) or 118 (NVR), serial."""
    return f"3402000000132{index + 1:07d}"


class SimulatedGb28181:
    """One device: its own UDP socket, registration loop and query answers."""

    def __init__(self, index: int, platform: tuple[str, int], password: str, channels: int = 1,
                 keepalive_seconds: float = 2.0, time_zone: str = "Asia/Shanghai") -> None:
        self.device_id = device_id(index) if channels == 1 else f"3402000000118{index + 1:07d}"
        self.platform, self.password, self.channels = platform, password, channels
        self.keepalive_seconds = keepalive_seconds
        self.zone = ZoneInfo(time_zone)
        self.faults = FaultProfile()
        self.channel_faults: dict[int, FaultProfile] = {}
        self.registered = asyncio.Event()
        self.clock_from_platform: datetime | None = None
        #: The device clock minus true time. Every registration sets it from the platform's Date
        #: (GB/T 28181 §9.10); a fault's clock_offset sets it as if by hand, see set_faults.
        self.clock_error = 0.0
        self._injected_clock: float | None = None
        self.log: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None
        self._pending: dict[tuple[str, int], asyncio.Future[sip.SipMessage]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sn = 0
        self._cseq = 0
        #: Sessions ("Play", "Playback") whose TCP-passive INVITE the device accepts but for which it
        #: never connects (a firewall in the way, a firmware that only streams live over TCP).
        self.refuses_tcp_media: set[str] = set()
        #: How each media session's RTP went ("udp" or "tcp"), in order.
        self.media_transports: list[str] = []
        self.media = MediaSessions(self)
        self._register_call_id = f"{secrets.token_hex(8)}@127.0.0.1"
        self._register_tag = sip.tag()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("gb28181", self.platform[0], self.platform[1], self.device_id, self.password, 5.0,
                        options={"platform_id": PLATFORM_ID, "domain": DOMAIN})

    def channel_ids(self) -> list[str]:
        if self.channels == 1:
            return [self.device_id[:10] + "131" + self.device_id[13:]]  # the IPC's one video channel
        return [f"{self.device_id[:10]}131{index:07d}" for index in range(1, self.channels + 1)]

    def set_faults(self, faults: FaultProfile, channel: int | None = None) -> None:
        """The device's profile, or one channel's (its pictures and recordings; the clock is the device's)."""
        if channel is None:
            self.faults = faults
            # The clock is now off by the fault's offset. Injected before the device has registered,
            # it stands in for drift after that first registration, whose Date would otherwise undo it.
            if self.registered.is_set():
                self.clock_error = faults.clock_offset
            else:
                self._injected_clock = faults.clock_offset
        else:
            self.channel_faults[channel] = faults

    def faults_for(self, channel: int) -> FaultProfile:
        return self.channel_faults.get(channel, self.faults)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_error)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=("127.0.0.1", 0))
        self._tasks.append(asyncio.create_task(self._register_loop()))

    async def stop(self) -> None:
        for task in [*self._tasks, *self.media.streams.values()]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.transport is not None:
            self.transport.close()

    # --- towards the platform ---------------------------------------------------------------

    def _headers(self, method: str, to_user: str, call_id: str = "", from_tag: str = "") -> list[tuple[str, str]]:
        host, port = self.transport.get_extra_info("sockname")[:2] if self.transport else ("127.0.0.1", 0)
        self._cseq += 1
        return [("Via", f"SIP/2.0/UDP {host}:{port};rport;branch={sip.branch()}"),
                ("From", f"<sip:{self.device_id}@{DOMAIN}>;tag={from_tag or sip.tag()}"),
                ("To", f"<sip:{to_user}@{DOMAIN}>"), ("Call-ID", call_id or f"{secrets.token_hex(8)}@{host}"),
                ("CSeq", f"{self._cseq} {method}"), ("Max-Forwards", "70"),
                ("Contact", f"<sip:{self.device_id}@{host}:{port}>"), ("User-Agent", "watchkeeper-sim GB28181")]

    async def _send(self, message: sip.SipMessage, timeout: float = 4.0) -> sip.SipMessage | None:
        """Send a request and wait for its final response, retransmitting over UDP as RFC 3261's
        timer E does for non-INVITE requests (0.5 s, doubling, at most 4 s apart)."""
        future: asyncio.Future[sip.SipMessage] = asyncio.get_running_loop().create_future()
        key = (message.call_id, message.cseq[0])
        self._pending[key] = future
        deadline = asyncio.get_running_loop().time() + timeout
        interval = 0.5
        try:
            while True:
                if self.transport is not None:
                    self.transport.sendto(message.encode(), self.platform)
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                done, _ = await asyncio.wait({future}, timeout=min(interval, remaining))
                if done:
                    return future.result()
                interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop(key, None)

    async def _register_once(self) -> bool:
        uri = f"sip:{PLATFORM_ID}@{DOMAIN}"
        # RFC 3261 §10.2: every REGISTER of one registration keeps its Call-ID (and From tag), with
        # a growing CSeq; a registrar may refuse a challenge answered under another Call-ID.
        dialog = {"call_id": self._register_call_id, "from_tag": self._register_tag}
        headers = self._headers("REGISTER", self.device_id, **dialog) + [("Expires", "3600")]
        reply = await self._send(sip.SipMessage(f"REGISTER {uri} SIP/2.0", headers), REGISTER_WAIT)
        if reply is None or reply.status != 401:
            return reply is not None and reply.status == 200
        password = "not-the-password" if self.faults.wrong_password else self.password
        answer = sip.authorization(self.device_id, password, "REGISTER", uri, reply.header("WWW-Authenticate") or "")
        headers = self._headers("REGISTER", self.device_id, **dialog) + [("Expires", "3600"),
                                                                          ("Authorization", answer)]
        reply = await self._send(sip.SipMessage(f"REGISTER {uri} SIP/2.0", headers))
        if reply is None or reply.status != 200:
            return False
        date = reply.header("Date")
        if date:
            with contextlib.suppress(manscdp.ManscdpError):
                self.clock_from_platform = manscdp.parse_time(date, self.zone)
                # Half the round trip is lost, as on a device: the Date is read once it has arrived.
                self.clock_error = (self.clock_from_platform - datetime.now(timezone.utc)).total_seconds()
        if self._injected_clock is not None:
            self.clock_error, self._injected_clock = self._injected_clock, None
        return True

    async def _register_loop(self) -> None:
        while True:
            if self.faults.offline:
                self.registered.clear()
                await asyncio.sleep(0.5)
                continue
            if not self.registered.is_set():
                if await self._register_once():
                    self.registered.set()
                else:
                    await asyncio.sleep(REGISTER_RETRY)
                    continue
            await asyncio.sleep(self.keepalive_seconds)
            await self.notify("Keepalive", [("Status", "OK")])

    async def notify(self, cmd_type: str, fields: list[tuple[str, Any]], about: str | None = None) -> None:
        self._sn += 1
        body = manscdp.encode("Notify", cmd_type, self._sn, about or self.device_id, fields)
        reply = await self._send(sip.SipMessage(f"MESSAGE sip:{PLATFORM_ID}@{DOMAIN} SIP/2.0",
                                                self._headers("MESSAGE", PLATFORM_ID)
                                                + [("Content-Type", manscdp.CONTENT_TYPE)], body))
        if reply is not None and reply.status in (403, 404):
            self.registered.clear()  # the platform forgot us (or wants a fresh Date): register again

    async def trigger_event(self, kind: DeviceEventKind, channel: int) -> None:
        """An Alarm notification for a channel, once the device is registered (as a device would);
        REBOOT restarts the device instead."""
        if kind is DeviceEventKind.REBOOT:
            await self.reboot()
            return
        await asyncio.wait_for(self.registered.wait(), 10)
        method, alarm_type = ALARMS.get(kind, ("7", "1"))
        await self.notify("Alarm", [
            ("AlarmPriority", 1), ("AlarmMethod", method),
            ("AlarmTime", self.now().astimezone(self.zone).strftime(manscdp.TIME_FORMAT)),
            ("AlarmDescription", str(kind)), ("Info", (("AlarmType", alarm_type),))],
            about=self.channel_ids()[channel - 1])

    async def reboot(self, down: float = 1.0) -> None:
        """Go silent for `down` seconds, then register afresh in a new dialog, as a restarted device does."""
        saved = self.faults
        self.faults = attrs.evolve(saved, offline=True)
        await asyncio.sleep(down)
        self._register_call_id, self._register_tag = f"{secrets.token_hex(8)}@127.0.0.1", sip.tag()
        self.registered.clear()
        self.faults = saved

    # --- answering the platform -------------------------------------------------------------

    def received(self, data: bytes, address: tuple[str, int]) -> None:
        try:
            message = sip.parse(data)
        except sip.SipError:
            return
        if not message.is_request:
            future = self._pending.get((message.call_id, message.cseq[0]))
            if future is not None and not future.done():
                future.set_result(message)
            return
        if self.faults.drop or self.faults.offline:
            return
        if message.method in ("INVITE", "ACK", "BYE"):
            self.media.request(message, address)
            return
        if message.method != "MESSAGE":
            self.reply(sip.response_to(message, 405, sip.tag()), address)
            return
        try:
            query = manscdp.decode(message.body)
        except manscdp.ManscdpError:
            self.reply(sip.response_to(message, 400, sip.tag()), address)
            return
        self.log.append(query.cmd_type)
        self.reply(sip.response_to(message, 200, sip.tag()), address)
        asyncio.get_running_loop().create_task(self._answer(query))

    def reply(self, message: sip.SipMessage, address: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(message.encode(), address)

    async def _respond(self, query: manscdp.Body, fields: list[tuple[str, Any]]) -> None:
        if self.faults.slow:
            await asyncio.sleep(self.faults.slow)
        body = manscdp.encode("Response", query.cmd_type, query.sn, query.device_id, fields)
        content_type = manscdp.CONTENT_TYPE
        if self.faults.hostile is Hostile.HUGE_BODY:
            body = b"<Response>" + b"A" * (60_000) + b"</Response>"  # as much as one datagram carries
        elif self.faults.hostile is not None:
            body, content_type = hostile_body(self.faults.hostile, "Response")
            if self.faults.hostile is not Hostile.WRONG_CONTENT_TYPE:
                content_type = manscdp.CONTENT_TYPE
        await self._send(sip.SipMessage(f"MESSAGE sip:{PLATFORM_ID}@{DOMAIN} SIP/2.0",
                                        self._headers("MESSAGE", PLATFORM_ID)
                                        + [("Content-Type", content_type)], body))

    async def _answer(self, query: manscdp.Body) -> None:
        local = self.now().astimezone(self.zone).strftime(manscdp.TIME_FORMAT)
        if query.cmd_type == "DeviceInfo":
            await self._respond(query, [("DeviceName", "模拟设备"), ("Result", "OK"),
                                        ("Manufacturer", "watchkeeper-sim"),
                                        ("Model", "IPC" if self.channels == 1 else "NVR"),
                                        ("Firmware", "V1.0.0"), ("Channel", self.channels)])
        elif query.cmd_type == "DeviceStatus":
            await self._respond(query, [("Result", "OK"), ("Online", "ONLINE"), ("Status", "OK"),
                                        ("Encode", "ON"), ("Record", "ON"), ("DeviceTime", local)])
        elif query.cmd_type == "Catalog":
            items = [[("DeviceID", channel), ("Name", f"通道{index}"), ("Manufacturer", "watchkeeper-sim"),
                      ("Model", "IPC"), ("Owner", "Owner"), ("CivilCode", DOMAIN[:6]), ("Address", "Address"),
                      ("Parental", 0), ("ParentID", self.device_id), ("SafetyWay", 0), ("RegisterWay", 1),
                      ("Secrecy", 0), ("Status", "ON")] for index, channel in enumerate(self.channel_ids(), 1)]
            await self._paged(query, "DeviceList", items)
        elif query.cmd_type == "RecordInfo":
            try:
                start = manscdp.parse_time(query.text("StartTime"), self.zone)
                end = manscdp.parse_time(query.text("EndTime"), self.zone)
            except manscdp.ManscdpError:
                await self._respond(query, [("SumNum", 0), ("RecordList", [])])
                return
            shift = timedelta(seconds=self.clock_error)
            ids = self.channel_ids()
            profile = self.faults_for(ids.index(query.device_id) + 1) if query.device_id in ids else self.faults
            pieces = recorded_intervals(start, end, profile, datetime.now(timezone.utc))
            items = [[("DeviceID", query.device_id), ("Name", "录像"), ("FilePath", f"/rec/{a:%Y%m%d%H%M%S}.ps"),
                      ("Address", "Address"),
                      ("StartTime", (a + shift).astimezone(self.zone).strftime(manscdp.TIME_FORMAT)),
                      ("EndTime", (b + shift).astimezone(self.zone).strftime(manscdp.TIME_FORMAT)),
                      ("Secrecy", 0), ("Type", "time"), ("FileSize", int((b - a).total_seconds()) * 250_000)]
                     for a, b in pieces]
            await self._paged(query, "RecordList", items)

    async def _paged(self, query: manscdp.Body, list_tag: str, items: list[list[tuple[str, Any]]]) -> None:
        if not items:
            await self._respond(query, [("SumNum", 0), (list_tag, [])])
            return
        for first in range(0, len(items), PAGE_ITEMS):
            await self._respond(query, [("SumNum", len(items)), (list_tag, items[first:first + PAGE_ITEMS])])


def free_udp_and_tcp_port(host: str) -> int:
    """A port free for both UDP and TCP: the platform listens on both (GB/T 28181 §4.4)."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stream:
            stream.bind((host, 0))
            port = stream.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
                try:
                    datagram.bind((host, port))
                except OSError:
                    continue
        return port
    raise OSError("no port free for both UDP and TCP")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, device: SimulatedGb28181) -> None:
        self.device = device

    def datagram_received(self, data: bytes, address: tuple[str, int]) -> None:
        self.device.received(data, address)


@contextlib.asynccontextmanager
async def simulate(host: str = "127.0.0.1", port: int = 0, username: str = "", password: str = "watchkeeper-sim",
                   devices: int = 1, faults: FaultProfile | None = None, channels: int = 1,
                   keepalive_seconds: float = 2.0) -> AsyncIterator[list[SimulatedGb28181]]:
    """The Platform.simulator factory: devices that register to the platform at host:port.

    With port 0 a free port is chosen for the platform; each device's `.endpoint` names it, so the
    driver built from that endpoint listens where the devices register.
    """
    if port == 0:
        port = free_udp_and_tcp_port(host)
    running: list[SimulatedGb28181] = []
    try:
        for index in range(devices):
            device = SimulatedGb28181(index, (host, port), password, channels, keepalive_seconds)
            if faults is not None:
                device.set_faults(attrs.evolve(faults))
            await device.start()
            running.append(device)
        yield running
    finally:
        for device in running:
            await device.stop()

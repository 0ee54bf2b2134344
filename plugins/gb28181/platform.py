"""watchkeeper as the GB/T 28181 platform: the SIP server devices register to, over UDP and TCP.

Devices REGISTER with digest authentication; the 200 OK carries the platform's `Date` (GB/T 28181
§9.10: devices set their clocks from it). They send Keepalive and Alarm notifications; the platform
sends MESSAGE queries (Catalog, DeviceInfo, DeviceStatus, RecordInfo) and gathers the device's
Response messages by SN, page by page, until SumNum items have come.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from watchkeeper.core.i18n import N_, error_text

from . import manscdp, sip

log = logging.getLogger(__name__)
NONCE_SECONDS = 300
MAX_NONCES = 4096
MAX_TCP_CONNECTIONS = 256
#: Unreadable messages from one address logged per window; a flood costs a parse attempt and no log
#: line. Strangers (unknown device IDs) get 403 without a challenge, so they leave no state either.
FLOOD_LIMIT = 20
FLOOD_WINDOW = 10.0


@attrs.define
class Registration:
    device_id: str
    address: tuple[str, int]
    transport: str
    expires_at: float
    last_seen: float
    registered_at: datetime
    writer: asyncio.StreamWriter | None = None
    #: The platform wants this device to register again (to give it the time in the 200 OK's Date).
    refresh_wanted: bool = False


@attrs.define
class _Gathering:
    """The Response pages of one query (matched by device, CmdType and SN)."""

    pages: list[manscdp.Body] = attrs.field(factory=list)
    items: int = 0
    done: asyncio.Event = attrs.field(factory=asyncio.Event)
    #: Why the device's answer could not be read, when it could not.
    failure: str = ""


class SipPlatform:
    """One listening address (UDP and TCP on the same port) shared by every GB/T 28181 device."""

    def __init__(self, host: str, port: int, platform_id: str, domain: str, time_zone: str = "Asia/Shanghai",
                 list_tag: Callable[[str], str] | None = None) -> None:
        self.host, self.port, self.platform_id, self.domain = host, port, platform_id, domain
        self.zone = ZoneInfo(time_zone)
        self.passwords: dict[str, str] = {}
        self.registrations: dict[str, Registration] = {}
        self.auth_failures: dict[str, str] = {}
        self.alarms: dict[str, asyncio.Queue[manscdp.Body]] = {}
        self.registered = asyncio.Condition()
        self._nonces: dict[str, float] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[sip.SipMessage]] = {}
        self._gatherings: dict[tuple[str, str, int], _Gathering] = {}
        self._sn = secrets.randbelow(100000)
        self._cseq = 1
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._noise: dict[str, tuple[float, int]] = {}
        #: Seconds added to the host clock in the Date given to a device: the clock rule sets it so
        #: the Date carries standard time (the NTP reference), not the host's opinion of it.
        self.date_shift: dict[str, float] = {}
        self.users = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(self.host, self.port))
        self.port = self._udp.get_extra_info("sockname")[1]
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port, limit=sip.MAX_MESSAGE_BYTES)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
        for registration in self.registrations.values():
            if registration.writer is not None:
                registration.writer.close()
        for future in self._pending.values():
            future.cancel()

    # --- receiving ---------------------------------------------------------------------------

    def _noisy(self, address: tuple[str, int]) -> bool:
        started, count = self._noise.get(address[0], (time.monotonic(), 0))
        if time.monotonic() - started > FLOOD_WINDOW:
            started, count = time.monotonic(), 0
        self._noise[address[0]] = (started, count + 1)
        return count + 1 > FLOOD_LIMIT

    def received(self, data: bytes, address: tuple[str, int], transport: str,
                 writer: asyncio.StreamWriter | None = None) -> None:
        try:
            message = sip.parse(data)
        except sip.SipError as error:
            if not self._noisy(address):
                log.info("gb28181: unreadable SIP from %s: %s", address[0], error)
            return
        if not message.is_request:
            if message.status < 200:  # 100 Trying, 180: the final answer is still to come
                return
            future = self._pending.pop((message.call_id, message.cseq[0]), None)
            if future is not None and not future.done():
                future.set_result(message)
            return
        reply = {"REGISTER": self._register, "MESSAGE": self._message}.get(message.method)
        if reply is None:
            self.send(sip.response_to(message, 200 if message.method in ("BYE", "ACK") else 405, sip.tag()),
                      address, transport, writer)
            return
        response = reply(message, address, transport, writer)
        if response is not None:
            self.send(response, address, transport, writer)

    def send(self, message: sip.SipMessage, address: tuple[str, int], transport: str,
             writer: asyncio.StreamWriter | None) -> None:
        data = message.encode()
        if transport == "tcp" and writer is not None:
            writer.write(data)
        elif self._udp is not None:
            self._udp.sendto(data, address)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")[:2]
        buffer = bytearray()
        try:
            while chunk := await reader.read(8192):
                buffer += chunk
                for data in sip.frames(buffer):
                    self.received(data, address, "tcp", writer)
        except (sip.SipError, ConnectionError) as error:
            log.info("gb28181: TCP connection from %s closed: %s", address[0], error)
        finally:
            writer.close()

    def _register(self, message: sip.SipMessage, address: tuple[str, int], transport: str,
                  writer: asyncio.StreamWriter | None) -> sip.SipMessage:
        device_id = sip.uri_user(message.header("From") or "")
        password = self.passwords.get(device_id)
        if password is None:
            return sip.response_to(message, 403, sip.tag())
        credentials = message.header("Authorization")
        nonce = sip.digest_params(credentials or "").get("nonce", "")
        fresh = self._nonces.get(nonce, 0) > time.monotonic()
        if not credentials or not fresh:
            if len(self._nonces) > MAX_NONCES:  # challenges nobody answered: forget the expired ones
                now = time.monotonic()
                self._nonces = {key: until for key, until in self._nonces.items() if until > now}
            nonce = secrets.token_hex(16)
            self._nonces[nonce] = time.monotonic() + NONCE_SECONDS
            challenge = f'Digest realm="{self.domain}", nonce="{nonce}", algorithm=MD5'
            return sip.response_to(message, 401, sip.tag(), [("WWW-Authenticate", challenge)])
        if not sip.verify(credentials, password, "REGISTER", nonce, self.domain, device_id):
            self.auth_failures[device_id] = N_("the device's digest does not match the configured password")
            return sip.response_to(message, 403, sip.tag())
        self.auth_failures.pop(device_id, None)
        expires_text = message.header("Expires") or "3600"
        expires = int(expires_text) if expires_text.isdigit() else 3600
        now = time.monotonic()
        if expires == 0:
            self.registrations.pop(device_id, None)
        else:
            self.registrations[device_id] = Registration(device_id, address, transport, now + expires, now,
                                                         datetime.now(timezone.utc), writer)
            asyncio.get_running_loop().create_task(self._announce())
        moment = datetime.now(self.zone) + timedelta(seconds=self.date_shift.get(device_id, 0.0))
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        return sip.response_to(message, 200, sip.tag(), [("Date", stamp), ("Expires", str(expires))])

    async def _announce(self) -> None:
        async with self.registered:
            self.registered.notify_all()

    def _message(self, message: sip.SipMessage, address: tuple[str, int], transport: str,
                 writer: asyncio.StreamWriter | None) -> sip.SipMessage:
        device_id = sip.uri_user(message.header("From") or "")
        registration = self.registrations.get(device_id)
        if registration is None:
            return sip.response_to(message, 403, sip.tag())  # a device that must register first
        content_type = (message.header("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type != manscdp.CONTENT_TYPE.lower():
                raise manscdp.ManscdpError(N_("Content-Type {type!r} is not {expected}", type=content_type[:60],
                                              expected=manscdp.CONTENT_TYPE))
            body = manscdp.decode(message.body)
        except manscdp.ManscdpError as error:
            log.info("gb28181: %s sent a bad MANSCDP message: %s", device_id, error)
            # The SN cannot be read from a bad body: every question waiting on this device fails.
            for (waiting_device, _cmd, _sn), gathering in self._gatherings.items():
                if waiting_device == device_id:
                    gathering.failure = error_text(error)
                    gathering.done.set()
            return sip.response_to(message, 400, sip.tag())
        if registration.refresh_wanted and body.root == "Notify" and body.cmd_type == "Keepalive":
            # As platforms answer the keepalive of a device they hold unregistered: the device
            # registers again at once, and takes its time from that registration's Date.
            return sip.response_to(message, 403, sip.tag())
        registration.last_seen = time.monotonic()
        if body.root == "Notify" and body.cmd_type == "Alarm":
            queue = self.alarms.setdefault(device_id, asyncio.Queue(maxsize=1000))
            if not queue.full():
                queue.put_nowait(body)
        elif body.root == "Response":
            answering = self._gatherings.get((device_id, body.cmd_type, body.sn))
            if answering is not None:
                answering.pages.append(body)
                listed = _listed_items(body)
                answering.items += listed
                total = body.text("SumNum")
                if not total.isdigit() or answering.items >= int(total) or listed == 0:
                    answering.done.set()
        return sip.response_to(message, 200, sip.tag())

    # --- asking -----------------------------------------------------------------------------

    async def query(self, device_id: str, cmd_type: str, fields: list[tuple[str, Any]], timeout: float,
                    target: str | None = None) -> list[manscdp.Body]:
        """Send a Query MESSAGE and return every Response page for it (SN matched), within timeout."""
        registration = self.registrations.get(device_id)
        if registration is None:
            raise LookupError(N_("device {device} is not registered", device=device_id))
        self._sn = (self._sn + 1) % 1_000_000
        sn = self._sn
        body = manscdp.encode("Query", cmd_type, sn, target or device_id, fields)
        gathering = self._gatherings[(device_id, cmd_type, sn)] = _Gathering()
        try:
            accepted = await self._request(registration, "MESSAGE", body, timeout)
            if accepted.status != 200:
                raise PermissionError(N_("the device answered {status}", status=accepted.status))
            await asyncio.wait_for(gathering.done.wait(), timeout)
            if gathering.failure:
                raise ValueError(N_("the device's answer is unreadable: {problem}", problem=gathering.failure))
            return gathering.pages
        finally:
            self._gatherings.pop((device_id, cmd_type, sn), None)

    def _new_request(self, registration: Registration, method: str, uri: str, body: bytes, content_type: str,
                     dialog: Dialog | None = None, extra: tuple[tuple[str, str], ...] = ()) -> sip.SipMessage:
        if dialog is None:
            self._cseq += 1
            call_id, from_tag, to, cseq = (f"{secrets.token_hex(10)}@{self.host}", sip.tag(),
                                           f"<sip:{uri.split(':', 1)[1].split('@')[0]}@{self.domain}>", self._cseq)
        else:
            call_id, from_tag, to, cseq = dialog.call_id, dialog.from_tag, dialog.to, dialog.next_cseq(method)
        transport = registration.transport.upper()
        headers = [("Via", f"SIP/2.0/{transport} {self.host}:{self.port};rport;branch={sip.branch()}"),
                   ("From", f"<sip:{self.platform_id}@{self.domain}>;tag={from_tag}"), ("To", to),
                   ("Call-ID", call_id), ("CSeq", f"{cseq} {method}"), ("Max-Forwards", "70"),
                   ("User-Agent", "watchkeeper"), *extra]
        if body:
            headers.append(("Content-Type", content_type))
        return sip.SipMessage(f"{method} {uri} SIP/2.0", headers, body)

    async def _request(self, registration: Registration, method: str, body: bytes, timeout: float,
                       uri: str | None = None, content_type: str = manscdp.CONTENT_TYPE,
                       dialog: Dialog | None = None, extra: tuple[tuple[str, str], ...] = ()) -> sip.SipMessage:
        uri = uri or f"sip:{registration.device_id}@{registration.address[0]}:{registration.address[1]}"
        request = self._new_request(registration, method, uri, body, content_type, dialog, extra)
        key = (request.call_id, request.cseq[0])
        future: asyncio.Future[sip.SipMessage] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            # UDP has no delivery: resend as RFC 3261 timers A/E do (0.5 s, doubling) until answered.
            interval = 0.5
            deadline = time.monotonic() + timeout
            while True:
                self.send(request, registration.address, registration.transport, registration.writer)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                wait = remaining if registration.transport == "tcp" else min(interval, remaining)
                done, _ = await asyncio.wait({future}, timeout=wait)
                if done:
                    return future.result()
                interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop(key, None)

    # --- media sessions (INVITE, ACK, BYE) -----------------------------------------------------

    async def invite(self, device_id: str, channel_id: str, sdp: str, subject: str, timeout: float) -> Dialog:
        """Open a media session for a channel; returns the dialog once the device said 200 and was ACKed."""
        registration = self.registrations.get(device_id)
        if registration is None:
            raise LookupError(N_("device {device} is not registered", device=device_id))
        uri = f"sip:{channel_id}@{registration.address[0]}:{registration.address[1]}"
        answer = await self._request(registration, "INVITE", sdp.encode("ascii"), timeout, uri, "APPLICATION/SDP",
                                     extra=(("Subject", subject), ("Contact",
                                            f"<sip:{self.platform_id}@{self.host}:{self.port}>")))
        if answer.status != 200:
            raise PermissionError(N_("the device answered {status} {phrase!r}", status=answer.status,
                                     phrase=answer.start[12:40].strip()))
        request_cseq = answer.cseq[0]
        dialog = Dialog(registration, uri, answer.call_id, sip.uri_tag(answer.header("From") or ""),
                        answer.header("To") or "", request_cseq, answer.body.decode("utf-8", "replace"))
        ack = self._new_request(registration, "ACK", uri, b"", "", dialog)
        self.send(ack, registration.address, registration.transport, registration.writer)
        return dialog

    async def bye(self, dialog: Dialog, timeout: float) -> None:
        """End a media session; a device that does not answer the BYE has ended it anyway."""
        with contextlib.suppress(TimeoutError, OSError):
            await self._request(dialog.registration, "BYE", b"", timeout, dialog.uri, dialog=dialog)


@attrs.define
class Dialog:
    """An INVITE dialog (RFC 3261 §12): what ACK and BYE must repeat, and the device's SDP answer."""

    registration: Registration
    uri: str
    call_id: str
    from_tag: str
    to: str
    cseq: int
    answer: str = ""

    def next_cseq(self, method: str) -> int:
        if method == "ACK":
            return self.cseq  # an ACK carries its INVITE's CSeq number
        self.cseq += 1
        return self.cseq


def _listed_items(body: manscdp.Body) -> int:
    for tag in ("DeviceList", "RecordList", "Alarmstatus"):
        container = body.element.find(tag)
        if container is not None:
            return len(container.findall("Item"))
    return 0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, platform: SipPlatform) -> None:
        self.platform = platform

    def datagram_received(self, data: bytes, address: tuple[str, int]) -> None:
        self.platform.received(data, address, "udp")

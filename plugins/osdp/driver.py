"""OSDP door driver: a libosdp control panel for one reader, secure channel enforced, events bridged to asyncio."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import osdp_sys
from osdp import Capability as OsdpCapability
from osdp import Command, CommandLEDColor, CompletionStatus, Event, EventNotification, LibFlag, PDInfo, StatusReportType

from watchkeeper.core.i18n import N_
from watchkeeper.devices.drivers import DeviceError, door_findings, with_timeout
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.models import Capability, CredentialKind, CredentialRead, DoorStatus, Endpoint, Secret

from .credentials import CardRejected, PinBuffer, decode_card
from .link import RefreshThread, SerialChannel, TcpClientChannel, setup_context

log = logging.getLogger("watchkeeper.osdp")

#: OSDP output control code 5: temporary on for timer_count × 100 ms, then back to the permanent state.
OUTPUT_TEMPORARY_ON = 5
#: LED control code 2: set the temporary state; buzzer tone code 2: the reader's default tone.
LED_TEMPORARY, BUZZER_DEFAULT_TONE = 2, 2
SHORT_BEEP, LONG_BEEP = 2, 10  # in 100 ms units
DENY_LED_SECONDS = 2.0


def parse_scbk(secret: Secret) -> bytes:
    """The 16-byte SCBK from its hex form; the error never repeats the value."""
    text = secret.reveal().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise DeviceError(FindingKind.AUTH_FAILED, N_("the reader key (SCBK) must be 32 hex digits"))
    return key


def _ticks(seconds: float) -> int:
    return max(1, min(0xFFFF, round(seconds * 10)))


class Panel:
    """One libosdp ControlPanel talking to one reader; callbacks arrive on the refresh thread."""

    def __init__(self, endpoint: Endpoint, scbk: bytes, install_mode: bool = False) -> None:
        self.address = endpoint.option("address", 0)
        self.offline_after = endpoint.option("offline_after", 1.0)
        self.retry_after = endpoint.option("retry_seconds", 2.0)
        if endpoint.option("serial_port", ""):
            self.channel = SerialChannel(endpoint.option("serial_port", ""), endpoint.option("baudrate", 9600))
        else:
            self.channel = TcpClientChannel(endpoint.host, endpoint.port, endpoint.timeout)
        flags = [LibFlag.EnableNotification]
        # Install mode: try the given key, fall back to SCBK-D and let libosdp send KEYSET with it.
        flags.append(LibFlag.InstallMode if install_mode else LibFlag.EnforceSecure)
        info = PDInfo(self.address, self.channel, scbk=scbk, name=endpoint.label(), flags=flags).get()
        self.ctx = setup_context(lambda: osdp_sys.ControlPanel([info]))
        self.on_event = lambda event: None
        self.on_completion = lambda command, status: None
        self.ctx.set_event_callback(self._event)
        self.ctx.set_command_completion_callback(lambda pd, command, status: self.on_completion(command, status))
        self.sc_with_default_key = False
        #: The last attempt ended without a session although the reader answered during it.
        self.refused = False
        self._attempt_started = time.monotonic()
        self._re_enable = False
        self.thread = RefreshThread(f"osdp-cp-{endpoint.label()}", self._tick)

    def _event(self, pd: int, event: dict) -> int:
        if event.get("event") == Event.Notification and event.get("type") == EventNotification.SecureChannelStatus:
            self.sc_with_default_key = bool(event.get("arg0")) and bool(event.get("arg1"))
        self.on_event(event)
        return 0

    def _tick(self) -> None:
        self.ctx.refresh()
        online = bool(self.ctx.status() & 1)
        now = time.monotonic()
        if self._re_enable:
            self._re_enable = False
            self.ctx.enable_pd(0)
        elif not online and now - self._attempt_started >= self.retry_after:
            # libosdp 3.2 waits 300 s before retrying an offline reader; a door cannot.
            self.refused = self.channel.last_rx > self._attempt_started
            self._attempt_started = now
            self.ctx.disable_pd(0)
            self._re_enable = True
        elif online:
            self._attempt_started = now
            self.refused = False

    def start(self) -> None:
        self.thread.start()

    def online(self) -> bool:
        """libosdp says online and the reader answered a poll recently (polls run every 50 ms)."""
        with self.thread.lock:
            linked = bool(self.ctx.status() & 1)
        return linked and time.monotonic() - self.channel.last_rx < self.offline_after

    def secure(self) -> bool:
        with self.thread.lock:
            return bool(self.ctx.sc_status() & 1)

    def answers(self) -> bool:
        """A whole attempt ended without a session although the reader answered: a key mismatch.

        Judged only when an attempt ends, never during one: a reader in the middle of its
        handshake has answered and is not online yet, and is not refusing anything. A reader that
        merely went silent sent nothing during the attempt, so it is never mistaken for one that
        answers and then fails the handshake.
        """
        with self.thread.lock:
            return not bool(self.ctx.status() & 1) and self.refused

    def declares_secure_channel(self) -> bool:
        with self.thread.lock:
            compliance, _ = self.ctx.check_capability(0, OsdpCapability.CommunicationSecurity)
        return compliance > 0

    def flush(self) -> int:
        """Drop commands libosdp still holds: a strike queued for a lost reader must not fire on its return.

        A closed panel holds nothing: a request cancelled after close() (the appliance stopping under
        a pending grant) has nothing left to drop."""
        with self.thread.lock:
            return int(self.ctx.flush_commands(0) or 0) if self.ctx is not None else 0

    def submit(self, command: dict) -> bool:
        with self.thread.lock:
            return self.ctx is not None and bool(self.ctx.submit_command(0, command))

    def close(self) -> None:
        self.thread.stop()
        self.channel.close()
        with self.thread.lock:  # a flush from the event loop sees the context or None, never half of it
            self.ctx = None


class OsdpDoor:
    """A DoorDriver for one OSDP reader: strike on output 0, LED 0 and the buzzer of reader 0."""

    capabilities = frozenset({Capability.READS, Capability.GRANT, Capability.KEYPAD})

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.output = endpoint.option("strike_output", 0)
        self._panel: Panel | None = None
        # Both made by _started() on the running loop, before any callback can arrive.
        self._loop: asyncio.AbstractEventLoop
        self._reads: asyncio.Queue[CredentialRead]
        self._pending: collections.deque[tuple[int, asyncio.Future[int]]] = collections.deque()
        self._pins = PinBuffer()
        self._tamper = False
        self._door_open: bool | None = None
        self._last_seen: datetime | None = None
        self.rejected_reads = 0

    def __repr__(self) -> str:
        return f"OsdpDoor({self.endpoint.label()!r})"

    async def _started(self) -> Panel:
        if self._panel is None:
            self._loop = asyncio.get_running_loop()
            self._reads = asyncio.Queue(maxsize=256)
            panel = Panel(self.endpoint, parse_scbk(self.endpoint.password))
            panel.on_event = self._on_event
            panel.on_completion = self._on_completion
            panel.start()
            self._panel = panel
        return self._panel

    # --- called on libosdp's thread ------------------------------------------------------------

    def _on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == Event.CardRead:
            try:
                card = decode_card(event)
            except CardRejected as error:
                self.rejected_reads += 1
                log.warning("%s: card read rejected: %s", self.endpoint.label(), error)
                return
            self._deliver(CredentialKind.CARD, card.value, card.format, card.bits)
        elif kind == Event.KeyPress:
            for pin in self._pins.feed(bytes(event.get("data") or b"")):
                self._deliver(CredentialKind.PIN, pin, "keypad", None)
        elif kind == Event.Status and event.get("type") == StatusReportType.Input:
            # Input 0 is the door contact, wired to the reader as OSDP's contact status monitoring.
            report = bytes(event.get("report") or b"")
            self._door_open = bool(report[0]) if report else None
        elif kind == Event.Status and event.get("type") == StatusReportType.Local:
            report = bytes(event.get("report") or b"\x00")
            self._tamper = bool(report[0])
            log.info("%s: tamper %s", self.endpoint.label(), "on" if self._tamper else "off")
        elif kind == Event.Notification and event.get("type") == EventNotification.PeripheralDeviceStatus:
            if not event.get("arg0"):
                self._panel_flush_from_thread()
                self._loop.call_soon_threadsafe(self._fail_pending, "reader went offline")

    def _panel_flush_from_thread(self) -> None:
        # Called inside refresh(), which already holds the panel lock.
        if self._panel is not None and self._panel.ctx is not None:
            self._panel.ctx.flush_commands(0)

    def _deliver(self, kind: CredentialKind, value: str, fmt: str, bits: int | None) -> None:
        read = CredentialRead(self.endpoint.label(), kind, value, datetime.now(timezone.utc), fmt, bits)
        log.debug("%s: %s read (%s)", self.endpoint.label(), kind, fmt)
        self._loop.call_soon_threadsafe(self._enqueue, read)

    def _on_completion(self, command: dict, status: int) -> None:
        self._loop.call_soon_threadsafe(self._complete, int(command.get("command", -1)), status)

    # --- on the event loop ---------------------------------------------------------------------

    def _enqueue(self, read: CredentialRead) -> None:
        if self._reads.full():  # nobody is listening: the oldest read is the least useful
            self._reads.get_nowait()
        self._reads.put_nowait(read)

    def _complete(self, command_id: int, status: int) -> None:
        for index, (pending_id, future) in enumerate(self._pending):
            if pending_id == command_id:
                del self._pending[index]
                if not future.done():
                    future.set_result(status)
                return

    def _fail_pending(self, reason: str) -> None:
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(DeviceError(FindingKind.UNREACHABLE, reason))

    def _unavailable(self, panel: Panel) -> DeviceError:
        if panel.answers():
            return DeviceError(FindingKind.AUTH_FAILED, N_("reader answers but the secure channel cannot be set up"))
        return DeviceError(FindingKind.UNREACHABLE, N_("reader is offline"))

    async def _send(self, commands: list[tuple[str, dict]]) -> None:
        panel = await self._started()
        if not (panel.online() and panel.secure()):
            raise self._unavailable(panel)
        futures = []
        for what, command in commands:
            future = self._loop.create_future()
            self._pending.append((command["command"], future))
            if not panel.submit(command):
                self._pending.pop()
                raise DeviceError(FindingKind.UNREACHABLE, N_("{what}: reader is not online", what=what))
            futures.append((what, future))
        try:
            for what, future in futures:
                status = await with_timeout(future, self.endpoint.timeout, what)
                if status != CompletionStatus.Ok:
                    raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: reader did not acknowledge", what=what))
        except BaseException:
            panel.flush()
            raise
        finally:
            for _command, future in futures:
                future.cancel()
            stale = {id(future) for _command, future in futures}
            self._pending = collections.deque(p for p in self._pending if id(p[1]) not in stale)

    def _led(self, color: int, seconds: float) -> dict:
        return {"command": Command.LED, "reader": 0, "led_number": 0, "control_code": LED_TEMPORARY,
                "on_count": _ticks(seconds), "off_count": 0, "on_color": color, "off_color": color,
                "timer_count": _ticks(seconds), "temporary": True}

    @staticmethod
    def _beep(tenths: int) -> dict:
        return {"command": Command.Buzzer, "reader": 0, "control_code": BUZZER_DEFAULT_TONE,
                "on_count": tenths, "off_count": 0, "rep_count": 1}

    async def grant(self, seconds: float) -> None:
        await self._send([
            (N_("strike"), {"command": Command.Output, "output_no": self.output,
                        "control_code": OUTPUT_TEMPORARY_ON, "timer_count": _ticks(seconds)}),
            (N_("green LED"), self._led(CommandLEDColor.Green, seconds)),
            (N_("short beep"), self._beep(SHORT_BEEP)),
        ])

    async def deny(self) -> None:
        await self._send([
            (N_("red LED"), self._led(CommandLEDColor.Red, DENY_LED_SECONDS)),
            (N_("long beep"), self._beep(LONG_BEEP)),
        ])

    async def reads(self) -> AsyncIterator[CredentialRead]:
        await self._started()
        while True:
            yield await self._reads.get()

    async def status(self) -> DoorStatus:
        panel = await self._started()
        online = panel.online()
        if panel.channel.last_rx:
            seen = time.time() - (time.monotonic() - panel.channel.last_rx)
            self._last_seen = datetime.fromtimestamp(seen, timezone.utc)
        return DoorStatus(online=online, secure_channel=online and panel.secure(),
                          tamper=self._tamper, last_seen=self._last_seen, door_open=self._door_open,
                          secure_channel_failed=not online and panel.answers())

    async def findings(self) -> list[Finding]:
        """READER_OFFLINE, SECURE_CHANNEL_FAILED and READER_TAMPER as they stand now."""
        return door_findings(self.endpoint.label(), await self.status())

    async def close(self) -> None:
        if self._panel is not None:
            panel, self._panel = self._panel, None
            await asyncio.get_running_loop().run_in_executor(None, panel.close)
            self._fail_pending(N_("driver closed"))

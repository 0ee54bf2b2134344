"""OSDP reader simulator: a libosdp PeripheralDevice on a loopback TCP port that presents cards and PINs on command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import osdp_sys
from osdp import Capability, CardFormat, Channel, Command, Event, LibFlag, PDCapabilities, PDInfo, PdId, StatusReportType

from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import Endpoint, Secret

from .credentials import FORMAT_RAW, encode_wiegand, keypad_bytes
from .link import RefreshThread, setup_context

log = logging.getLogger("watchkeeper.osdp.simulator")

#: The simulated readers' key when none is given: the bytes of "watchkeeper-sim!", as the camera
#: simulators' default password is "watchkeeper-sim" (docs/plugins/osdp.md).
DEFAULT_KEY = b"watchkeeper-sim!".hex()
LED_COLORS = {0: "off", 1: "red", 2: "green", 3: "amber", 4: "blue", 5: "magenta", 6: "cyan", 7: "white"}
READER_CAPABILITIES = PDCapabilities([
    (Capability.OutputControl, 1, 1),
    (Capability.ContactStatusMonitoring, 1, 1),
    (Capability.LEDControl, 1, 1),
    (Capability.AudibleControl, 1, 1),
    (Capability.CardDataFormat, 1, 1),
    (Capability.CommunicationSecurity, 1, 1),
])


class TcpServerChannel(Channel):
    """The reader's end of OSDP over TCP: one control panel at a time; the newest connection wins.

    `silent` models a reader that is powered off or cut from the bus: input is discarded and
    nothing is sent, while the listening port stays up as a serial-device server's would.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.listener = socket.create_server((host, port))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.silent = False
        self._conn: socket.socket | None = None

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, OSError):
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._conn is not None:
            self._conn.close()
        self._conn = conn

    def read(self, max_bytes: int) -> bytes:
        self._accept()
        if self._conn is None:
            return b""
        try:
            data = self._conn.recv(max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            data = b""
        if not data:
            self._conn.close()
            self._conn = None
            return b""
        return b"" if self.silent else data

    def write(self, buf: bytes) -> int:
        if self._conn is None or self.silent:
            return len(buf)
        try:
            return self._conn.send(buf)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return len(buf)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self.listener.close()


class FdChannel(Channel):
    """The reader's end of a serial line given as a file descriptor (a pty master in tests)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        os.set_blocking(fd, False)
        self.fd = fd
        self.silent = False

    def read(self, max_bytes: int) -> bytes:
        try:
            data = os.read(self.fd, max_bytes)
        except (BlockingIOError, OSError):
            return b""
        return b"" if self.silent else data

    def write(self, buf: bytes) -> int:
        if self.silent:
            return len(buf)
        try:
            return os.write(self.fd, buf)
        except BlockingIOError:
            return 0
        except OSError:
            return len(buf)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        os.close(self.fd)


class SimulatedOsdpReader:
    """One reader: strike output 0, a bi-colour LED, a buzzer, a card reader and a keypad."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, scbk: Secret | str = "", address: int = 0,
                 faults: FaultProfile | None = None, channel: Channel | None = None) -> None:
        self.faults = faults or FaultProfile()
        self.address = address
        self._scbk = scbk if isinstance(scbk, Secret) else Secret(scbk)
        self.host = host
        self.channel = channel or TcpServerChannel(host, port)
        self.port = getattr(self.channel, "port", 0)
        self._records: list[dict[str, Any]] = []
        self.keys_changed = 0
        #: Answer output, LED and buzzer commands with osdp_NAK, as a reader with a fault would.
        self.refuse_commands = False
        try:
            key = bytes.fromhex(self._scbk.reveal()) if self._scbk else None
        except ValueError:
            key = b""
        if key is not None and len(key) != 16:
            raise ValueError("the reader key (SCBK, --password) must be 32 hex digits, or empty for install mode")
        if key is not None and self.faults.wrong_password:
            key = bytes(b ^ 0x5A for b in key)  # a reader enrolled with some other key
        # A reader without a key is fresh from the box: install mode, accepts SCBK-D once.
        flags = [LibFlag.EnforceSecure] if key else [LibFlag.InstallMode]
        info = PDInfo(address, self.channel, scbk=key, flags=flags, name=f"sim-reader-{self.port}",
                      id=PdId(2, 1, 0x0A1B2C, 0x10000 + self.port, 0x030209)).get()
        self.ctx = setup_context(lambda: osdp_sys.PeripheralDevice(info, capabilities=READER_CAPABILITIES.get()))
        self.ctx.set_command_callback(self._on_command)
        self.thread = RefreshThread(f"osdp-pd-{self.port}", self.ctx.refresh)
        self.channel.silent = self.faults.offline
        self.thread.start()

    def __repr__(self) -> str:
        return f"SimulatedOsdpReader(port={self.port}, address={self.address})"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("osdp", self.host, self.port, password=self._scbk, timeout=3.0,
                        options={"address": self.address})

    def _on_command(self, command: dict) -> tuple[int, None]:
        code = command.get("command")
        now = time.monotonic()
        if self.refuse_commands and code in (Command.Output, Command.LED, Command.Buzzer):
            return -1, None
        if code == Command.Output:
            self._records.append({"kind": "output", "output_no": command["output_no"], "at": now,
                                  "control_code": command["control_code"],
                                  "seconds": command.get("timer_count", 0) / 10})
        elif code == Command.LED:
            self._records.append({"kind": "led", "color": LED_COLORS.get(command["on_color"], "?") if isinstance(command.get("on_color"), int) else "?", "at": now,
                                  "temporary": bool(command.get("temporary")),
                                  "seconds": command.get("timer_count", 0) / 10})
        elif code == Command.Buzzer:
            self._records.append({"kind": "buzzer", "seconds": command.get("on_count", 0) / 10, "at": now,
                                  "repeat": command.get("rep_count", 0)})
        elif code == Command.Keyset:
            # libosdp has already stored the key in the PD context; keep ours in step, never log it.
            self._scbk = Secret(bytes(command["data"]).hex())
            self.keys_changed += 1
            log.info("reader on port %d: new secure channel key set", self.port)
        return 0, None

    def outputs(self) -> list[dict[str, Any]]:
        return list(self._records)

    def secure_channel_active(self) -> bool:
        return bool(self.ctx.is_sc_active())

    def _submit(self, event: dict) -> None:
        with self.thread.lock:
            self.ctx.submit_event(event)

    async def present_card(self, number: str, bits: int = 26, bad_parity: bool = False) -> None:
        self._submit({"event": Event.CardRead, "reader_no": 0, "direction": 0, "length": bits,
                      "format": CardFormat.Wiegand, "data": encode_wiegand(int(number), bits, bad_parity)})

    async def present_raw(self, data: bytes, bits: int) -> None:
        self._submit({"event": Event.CardRead, "reader_no": 0, "direction": 0, "length": bits,
                      "format": FORMAT_RAW, "data": data})

    async def present_pin(self, pin: str) -> None:
        self._submit({"event": Event.KeyPress, "reader_no": 0, "data": keypad_bytes(pin)})

    async def set_tamper(self, active: bool = True) -> None:
        self._submit({"event": Event.Status, "type": StatusReportType.Local, "report": bytes([int(active), 0])})

    async def set_door_contact(self, open_: bool) -> None:
        """The door contact on input 0 opens or closes, as the reader reports it."""
        self._submit({"event": Event.Status, "type": StatusReportType.Input, "report": bytes([int(open_)])})

    async def go_offline(self) -> None:
        self.channel.silent = True

    async def come_back_online(self) -> None:
        self.channel.silent = False

    def set_faults(self, profile: FaultProfile, channel: int | None = None) -> None:
        self.faults = profile
        self.channel.silent = profile.offline

    async def trigger_event(self, kind: str, channel: int | None = None) -> None:
        if kind == "tamper":
            await self.set_tamper(True)
        else:
            raise ValueError(f"the reader simulator has no event {kind!r}")

    def close(self) -> None:
        self.thread.stop()
        self.channel.close()
        self.ctx = None


@contextlib.asynccontextmanager
async def simulate(host: str = "127.0.0.1", port: int = 0, username: str = "", password: str = DEFAULT_KEY,
                   devices: int = 1, faults: FaultProfile | None = None,
                   address: int = 0) -> AsyncIterator[list[SimulatedOsdpReader]]:
    """The Platform simulator factory; `password` is the readers' SCBK in hex, empty for install mode."""
    secret = password if isinstance(password, Secret) else Secret(password)
    readers: list[SimulatedOsdpReader] = []
    try:
        for index in range(devices):
            readers.append(SimulatedOsdpReader(host, port + index if port else 0, secret, address, faults))
        yield readers
    finally:
        for reader in readers:
            await asyncio.get_running_loop().run_in_executor(None, reader.close)

"""The wire under libosdp: TCP and serial channels, the refresh thread, and libosdp's log routed to logging."""

from __future__ import annotations

import ctypes
import importlib.metadata
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import osdp_sys
from osdp import Channel

LIBOSDP_LOG = logging.getLogger("watchkeeper.osdp.libosdp")

#: syslog levels libosdp uses -> logging levels.
_LEVELS = {0: logging.CRITICAL, 1: logging.CRITICAL, 2: logging.CRITICAL, 3: logging.ERROR,
           4: logging.WARNING, 5: logging.INFO, 6: logging.INFO, 7: logging.DEBUG}

# libosdp 3.2.x: void (*osdp_log_callback_fn_t)(int level, const char *file, unsigned long line, const char *msg).
# The Python binding does not expose it (it logs to stderr), but the symbol is exported.
_LOG_CALLBACK_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)


def _forward(level: int, file: bytes | None, line: int, message: bytes | None) -> None:
    python_level = _LEVELS.get(level, logging.DEBUG)
    if LIBOSDP_LOG.isEnabledFor(python_level) and message:
        text = message.decode("utf-8", "replace").rstrip()
        LIBOSDP_LOG.log(python_level, "%s (%s:%d)", text, (file or b"?").decode("utf-8", "replace"), line)


_log_callback = _LOG_CALLBACK_TYPE(_forward)  # kept alive for the life of the process
_setup_lock = threading.Lock()
# Later libosdp releases changed the callback's signature; calling it wrongly would crash the
# process, so on any other version libosdp keeps logging to stderr (pyproject pins 3.2.x).
_CALLBACK_MATCHES = importlib.metadata.version("libosdp").startswith("3.2.")


def setup_context(factory: Callable[[], Any]) -> Any:
    """Create a libosdp context with its log going to `watchkeeper.osdp.libosdp`, not to stderr.

    libosdp copies the default logger when a context is set up, so the callback is installed
    right before every setup, under a lock because it is process-global.
    """
    with _setup_lock:
        if _CALLBACK_MATCHES:
            ctypes.CDLL(osdp_sys.__file__).osdp_set_log_callback(_log_callback)
        return factory()


class TcpClientChannel(Channel):
    """The control panel's end of OSDP over TCP (a serial-device server or a simulator).

    libosdp calls read/write from its refresh thread and expects them never to block or raise:
    a dropped connection is reconnected in the background, and bytes written meanwhile are lost
    as they would be on a disconnected RS-485 line.
    """

    def __init__(self, host: str, port: int, connect_timeout: float = 1.0, retry: float = 1.0) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.connect_timeout = min(connect_timeout, 1.0)
        self.retry = retry
        self.last_rx = 0.0
        self.rx_count = 0
        self._sock: socket.socket | None = None
        self._next_attempt = 0.0

    def _connected(self) -> socket.socket | None:
        if self._sock is None and time.monotonic() >= self._next_attempt:
            self._next_attempt = time.monotonic() + self.retry
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            except OSError:
                return None
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def read(self, max_bytes: int) -> bytes:
        sock = self._connected()
        if sock is None:
            return b""
        try:
            data = sock.recv(max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            self._drop()
            return b""
        if not data:
            self._drop()
            return b""
        self.last_rx = time.monotonic()
        self.rx_count += len(data)
        return data

    def write(self, buf: bytes) -> int:
        sock = self._connected()
        if sock is None:
            return len(buf)
        try:
            return sock.send(buf)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self._drop()
            return len(buf)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._drop()
        self._next_attempt = float("inf")


class SerialChannel(Channel):
    """The control panel's end of an RS-485 line (or any tty) through pyserial, non-blocking."""

    def __init__(self, port: str, baudrate: int = 9600) -> None:
        super().__init__()
        import serial  # only needed in production and in the pty test

        self.serial = serial.Serial(port, baudrate=baudrate, timeout=0, write_timeout=0)
        self.last_rx = 0.0
        self.rx_count = 0

    def read(self, max_bytes: int) -> bytes:
        try:
            data = self.serial.read(max_bytes)
        except OSError:
            return b""
        if data:
            self.last_rx = time.monotonic()
            self.rx_count += len(data)
        return data

    def write(self, buf: bytes) -> int:
        try:
            return self.serial.write(buf) or 0
        except Exception:  # pyserial raises SerialTimeoutException or OSError on a stuck line
            return 0

    def flush(self) -> None:
        self.serial.reset_input_buffer()

    def close(self) -> None:
        self.serial.close()


class RefreshThread:
    """Calls a libosdp context's refresh() every few milliseconds under a lock, plus a hook.

    libosdp's own wrapper sleeps 20 ms between refreshes; a shorter period keeps card read to
    strike latency well under OSDP's 200 ms reply window.
    """

    def __init__(self, name: str, refresh: Callable[[], None], period: float = 0.002) -> None:
        self.lock = threading.Lock()
        self._refresh = refresh
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(name=name, target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                try:
                    self._refresh()
                except Exception:  # a bug in a callback must not kill the link
                    logging.getLogger(__name__).exception("libosdp refresh failed")
            self._stop.wait(self._period)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

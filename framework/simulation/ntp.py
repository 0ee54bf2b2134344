"""A real SNTP server (RFC 4330) on loopback: the demo's and the tests' standard-time reference.

It answers NTP client requests (mode 3) with server replies (mode 4) carrying the host clock plus
an optional `offset`, so a test can stand in for a reference the host clock disagrees with.
Stratum 1 with reference id "SIM " says plainly what it is.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType

#: Seconds from the NTP era (1900-01-01) to the Unix epoch.
NTP_EPOCH_OFFSET = 2_208_988_800
PACKET = struct.Struct("!B B b b 11I")


def _ntp_time(seconds: float) -> tuple[int, int]:
    value = seconds + NTP_EPOCH_OFFSET
    whole = int(value)
    return whole, int((value - whole) * 2**32)


def reply(request: bytes, now: float, offset: float = 0.0) -> bytes | None:
    """The server's answer to one client packet, or None for anything that is not a client request."""
    if len(request) < PACKET.size:
        return None
    first = request[0]
    version, mode = (first >> 3) & 0x7, first & 0x7
    if mode != 3 or not 1 <= version <= 4:
        return None
    originate = request[40:48]
    receive = _ntp_time(now + offset)
    transmit = _ntp_time(time.time() + offset)
    header = bytes([(0 << 6) | (version << 3) | 4, 1, request[2], 0xEC])  # no leap, stratum 1, client's poll, 2^-20 s
    body = struct.pack("!II4s", 0, 0, b"SIM ") + struct.pack("!II", *receive)  # root delay, dispersion, refid, reference
    return header + body + originate + struct.pack("!II", *receive) + struct.pack("!II", *transmit)


class SntpServer:
    """A threaded SNTP server on 127.0.0.1; use as a context manager. `address` is "127.0.0.1:PORT"."""

    def __init__(self, offset: float = 0.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.offset = offset
        #: When True the server stays bound but answers nothing (a reference that does not respond).
        self.silent = False
        #: When True it answers with a reply cut short (a broken or hostile server): not a valid NTP packet.
        self.garbled = False
        self.requests = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, port))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sntp-simulator", daemon=True)
        bound_host, bound_port = self._socket.getsockname()[:2]
        #: Where clients reach it, as a site's `ntp_servers` names it.
        self.address = f"{bound_host}:{bound_port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self._socket.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            received = time.time()
            self.requests += 1
            answer = None if self.silent else reply(data, received, self.offset)
            if answer is not None and self.garbled:
                answer = answer[:20]
            if answer is not None:
                self._socket.sendto(answer, client)

    def start(self) -> SntpServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self._socket.close()

    def __enter__(self) -> SntpServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

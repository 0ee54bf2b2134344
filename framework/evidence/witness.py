"""Witnesses of the journal's heads outside the appliance: the system log, a heads file, saved heads.

A witness line is one JSON object, `{"site", "seq", "hash", "time", "key_id"}`. The syslog message
is the marker `watchkeeper-journal-head` followed by that object, so heads collected from a syslog
server can be fed to `journal verify --witness` as they are (`grep watchkeeper-journal-head`).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import attrs

MARKER = "watchkeeper-journal-head"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LOCAL_SOCKETS = ("/dev/log", "/var/run/syslog")
log = logging.getLogger(__name__)


@attrs.frozen
class WitnessHead:
    seq: int
    hash: str
    time: str = ""
    key_id: str | None = None
    site: str | None = None
    #: Where it was read: FILE:LINE, for the message that names a mismatch.
    origin: str = ""


class WitnessError(Exception):
    """A witness file that cannot be read; the message names the file and line."""


def head_line(site: str, key_id: str, seq: int, digest: str, time: str) -> str:
    return json.dumps({"site": site, "seq": seq, "hash": digest, "time": time, "key_id": key_id},
                      ensure_ascii=False, sort_keys=True)


def parse_heads(lines: Iterable[str], name: str) -> list[WitnessHead]:
    """Heads from JSON lines or syslog lines carrying the marker; blank and `#` lines are skipped."""
    heads = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if MARKER in text:
            text = text.split(MARKER, 1)[1].strip()
        where = f"{name}:{number}"
        try:
            item = json.loads(text)
        except ValueError:
            raise WitnessError(f"{where}: not a JSON head like {{\"seq\": 12, \"hash\": \"…\"}}") from None
        if not isinstance(item, dict):
            raise WitnessError(f"{where}: not a JSON object")
        seq, digest = item.get("seq"), item.get("hash")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise WitnessError(f"{where}: 'seq' must be a positive integer")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise WitnessError(f"{where}: 'hash' must be 64 hex digits")
        key, site, time = item.get("key_id"), item.get("site"), item.get("time", "")
        heads.append(WitnessHead(seq, digest, str(time), key if isinstance(key, str) else None,
                                 site if isinstance(site, str) else None, where))
    return heads


def read_heads(source: Path | TextIO, site: str | None = None) -> list[WitnessHead]:
    """Saved heads from a file (or an open stream), keeping those of `site` and those naming none."""
    if isinstance(source, Path):
        try:
            with source.open(encoding="utf-8") as handle:
                heads = parse_heads(handle, str(source))
        except FileNotFoundError:
            raise WitnessError(f"{source}: the witness file does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            raise WitnessError(f"{source}: cannot be read ({error})") from None
    else:
        heads = parse_heads(source, getattr(source, "name", "-"))
    return [head for head in heads if site is None or head.site in (None, site)]


def parse_syslog_address(text: str) -> str | tuple[str, int, int] | None:
    """`local`, `off`, `udp://HOST:PORT`, `tcp://HOST:PORT` or `HOST:PORT` (UDP); ValueError if none of these.

    Returns None (off), a local socket path, or (host, port, socket type).
    """
    if text == "off":
        return None
    if text == "local":
        return next((path for path in _LOCAL_SOCKETS if os.path.exists(path)), _LOCAL_SOCKETS[0])
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "udp", text
    host, colon, port = rest.rpartition(":")
    if scheme not in ("udp", "tcp") or not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not a syslog address: use local, off, udp://HOST:PORT or tcp://HOST:PORT")
    return host.strip("[]"), int(port), socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM


class _QuietSysLogHandler(logging.handlers.SysLogHandler):
    """A syslog that is down or absent must never break an append, nor print a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:
        log.debug("journal head not delivered to syslog %s", self.address)


class Witness:
    """Sends every new head out of the appliance: to the system log and, if set, appends it to a file."""

    def __init__(self, site: str, syslog: str = "local", file: Path | None = None) -> None:
        self.site, self.file = site, file
        self.handler: logging.Handler | None = None
        address = parse_syslog_address(syslog)
        if isinstance(address, str):
            self.handler = _QuietSysLogHandler(address)
        elif address is not None:
            try:
                self.handler = _QuietSysLogHandler((address[0], address[1]), socktype=socket.SocketKind(address[2]))
            except OSError as error:  # a remote syslog that is down now may be up at the next head
                log.warning("syslog witness %s unavailable: %s", syslog, error)
        if self.handler is not None:
            self.handler.ident = "watchkeeper: "

    def __call__(self, key_id: str, seq: int, digest: str, time: str) -> None:
        line = head_line(self.site, key_id, seq, digest, time)
        if self.handler is not None:
            record = logging.LogRecord("watchkeeper.journal", logging.INFO, __file__, 0, f"{MARKER} {line}", None, None)
            self.handler.handle(record)
        if self.file is not None:
            try:
                descriptor = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(descriptor, (line + "\n").encode("utf-8"))
                finally:
                    os.close(descriptor)
            except OSError as error:  # the witness is a copy; the journal itself is already committed
                log.warning("journal head not written to witness file %s: %s", self.file, error)

    def close(self) -> None:
        if self.handler is not None:
            self.handler.close()

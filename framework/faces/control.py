"""The running appliance's control socket, through which other processes open and read its doors.

`door open` and `door status` go through it, so only the appliance ever talks to a reader it holds.
A Unix socket under the site's state folder, mode 0600: only the appliance's own user can connect,
the same people who can already read the store and the journal key. One JSON request per
connection, one JSON reply: `{"op": ..., ...}` → `{"ok": true, ...}` or
`{"ok": false, "error": "refused" | "usage" | "device", "reason": ..., "kind": ...}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sqlite3
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from watchkeeper.core.i18n import _
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.evidence.journal import PROOF_DETAILS, PROVEN, with_messages
from watchkeeper.site.app import Refused
from watchkeeper.site.config import Site
from watchkeeper.site.doorlock import DoorHeld, state_dir

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
#: A request is a few hundred bytes; anything longer is not one of ours.
MAX_REQUEST = 64 * 1024
#: AF_UNIX addresses hold 108 bytes on Linux; longer paths are reached through the folder's fd.
MAX_SOCKET_PATH = 100


class AlreadyRunning(Exception):
    """Another appliance answers on this site's control socket."""


async def answered(call: Awaitable[dict[str, Any] | None]) -> dict[str, Any]:
    """Run a door operation and turn its outcome into a reply, the same here and in the appliance."""
    try:
        return {"ok": True, **(await call or {})}
    # A reason kept as a Text travels as its English text plus `reason_msg`, as the journal keeps it.
    except Refused as error:
        return with_messages({"ok": False, "error": "refused", "reason": error.reason})
    except DeviceError as error:
        return with_messages({"ok": False, "error": "device", "kind": str(error.kind), "reason": error.reason})
    except DoorHeld as error:
        return {"ok": False, "error": "device", "reason": str(error), "held_by": error.pid}
    except (KeyError, ValueError) as error:
        return {"ok": False, "error": "usage", "reason": str(error.args[0]) if error.args else type(error).__name__}
    except OSError as error:  # the appliance's own disk (a full or read-only exports folder)
        where = f" ({error.filename})" if error.filename else ""
        return {"ok": False, "error": "device", "reason": f"{error.strerror or error}{where}"}
    except sqlite3.Error as error:  # the store (the appliance has raised store_failed for it)
        return {"ok": False, "error": "device", "reason": _("the store took no writes: {error}").format(error=error)}


def socket_path(site: Site) -> Path:
    return state_dir(site) / "control.sock"


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """The path to bind or connect to, short enough for AF_UNIX (via /proc/self/fd if need be)."""
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def ask(site: Site, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any] | None:
    """Send one request to the site's running appliance; None when no appliance listens.

    How this command proved its actor goes along, so the appliance's journal entry says it too."""
    proven = PROVEN.get()
    if proven is not None and proven[0] == request.get("actor"):
        request = {**request, "proof": proven[1]}
    return _ask_at(socket_path(site), request, timeout)


def _ask_at(path: Path, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, _address(path) as address:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # a socket file left by a killed appliance
        except OSError as error:  # e.g. the socket belongs to another user
            return {"ok": False, "error": "device", "reason": _("cannot use the appliance's control socket "
                                                                "{path}: {error}").format(path=path, error=error.strerror)}
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            return {"ok": False, "error": "device",
                    "reason": _("the appliance did not answer within {seconds:g} s").format(seconds=timeout)}
    try:
        reply = json.loads(data)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        return {"ok": False, "error": "device", "reason": _("the appliance gave no answer")}
    return reply


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The OS uid of the process at the other end of a Unix socket, from the kernel (SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                struct.calcsize("3i")))
    except (AttributeError, OSError):  # not Linux, or not a Unix socket
        return None
    return int(uid)


class ControlServer:
    """The appliance's end: one handler per operation, run on the appliance's event loop."""

    def __init__(self, site: Site, handlers: dict[str, Handler]) -> None:
        self.path = socket_path(site)
        self.handlers = handlers
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Listen, mode 0600 before the first connection can be accepted; refuse a second appliance."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if await asyncio.to_thread(_ask_at, self.path, {"op": "ping"}, 5.0) is not None:
                raise AlreadyRunning(_("another watchkeeper appliance is already running for this site ({path})")
                                     .format(path=self.path))
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _address(self.path) as address:
                sock.bind(address)
            os.chmod(self.path, 0o600)  # bound but not listening: nobody can connect before this
            self.server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_REQUEST)
        except BaseException:
            sock.close()
            raise

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = json.loads(await reader.readline())
            except (ValueError, asyncio.LimitOverrunError):
                request = None
            reply = await self._answer(request, _peer_uid(writer))
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the asking process went away; nothing to tell it
        finally:
            writer.close()

    async def _answer(self, request: Any, uid: int | None = None) -> dict[str, Any]:
        if not isinstance(request, dict) or request.get("op") not in self.handlers:
            return {"ok": False, "error": "usage", "reason": _("not a request this appliance answers")}
        proof = request.get("proof")
        if isinstance(request.get("actor"), str) and isinstance(proof, str):
            # Only a process of the appliance's own OS account (or root) can open the 0600 socket; it
            # proved the person before asking. The entry says the proof came by way of the socket, and
            # which OS account the asking process ran as (the kernel's word, beside the asker's).
            PROVEN.set((request["actor"], f"{proof[:32]} via control socket"))
            PROOF_DETAILS.set({"uid": uid} if uid is not None else None)
        try:
            return await self.handlers[request["op"]](request)
        except Exception as error:  # one bad request never stops the appliance
            log.exception("control request %s failed", request.get("op"))
            return {"ok": False, "error": "device", "reason": f"{type(error).__name__}: {error}"}


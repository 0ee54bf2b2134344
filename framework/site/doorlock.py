"""One process at a time holds a door's reader: an advisory lock file under the site's state folder.

Two control panels on one reader fight: each new link knocks the other off (a serial-device server
takes the newest connection, an RS-485 bus gets two masters). Whoever holds a reader's link (the
running appliance, or `door open` / `door status` when no appliance runs) holds this lock first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from watchkeeper.core.i18n import _
from watchkeeper.site.config import Site


class DoorHeld(Exception):
    """Another process holds the door's reader."""

    def __init__(self, door_id: str, pid: int | None) -> None:
        self.door_id, self.pid = door_id, pid
        holder = _("process {pid}").format(pid=pid) if pid else _("another process")
        super().__init__(_("the reader of door {door!r} is held by {holder}").format(door=door_id, holder=holder))


def state_dir(site: Site) -> Path:
    """The folder of the site's run-time state: the store, the control socket, the reader locks."""
    return site.store.parent


def lock_path(site: Site, door_id: str) -> Path:
    return state_dir(site) / "locks" / f"door-{door_id}.lock"


@contextlib.contextmanager
def hold_door(site: Site, door_id: str) -> Iterator[None]:
    """Hold the door's reader for this process, or raise DoorHeld naming the process that does.

    flock, not a pid file: the kernel releases it when the holder dies, so a killed appliance never
    leaves a door locked.
    """
    path = lock_path(site, door_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
            raise DoorHeld(door_id, int(text) if text.isdigit() else None) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock

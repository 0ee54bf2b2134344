"""Evidence files, whole or absent: written under a temporary name, fsynced, then given their name,
never over an existing file (a full disk leaves no empty manifest, a second export no overwritten clip)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def sync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def temporary_name(path: Path) -> Path:
    """A hidden name beside `path` for writing it, unique to this writer."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def publish(temporary: Path, final: Path) -> None:
    """Give a complete file its final name, durably; FileExistsError if that name is taken.

    A hard link refuses an existing name atomically; where the file system has no hard links
    (FAT on removable media) the name is checked and the file renamed.
    """
    descriptor = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, final)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "an evidence file is never overwritten", str(final)) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if final.exists():
            raise FileExistsError(errno.EEXIST, "an evidence file is never overwritten", str(final)) from None
        os.rename(temporary, final)
    else:
        os.unlink(temporary)
    sync_dir(final.parent)


def write_new(path: Path, data: bytes) -> None:
    """Write a new evidence file whole or not at all; FileExistsError if `path` already exists."""
    temporary = temporary_name(path)
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
        publish(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def claimed(folder: Path) -> Iterator[bool]:
    """An exclusive claim on `folder` across processes while its evidence is written: True when this
    process has it, False when another does. The kernel drops it when the holder dies, so a folder a
    killed writer left can be told from one still being written."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(descriptor)

"""Files read and written safely: a regular file only, only so much of it; written whole or not at all.

`file:/dev/zero` as a password grew to 23 GB and a FIFO given to `analyze` hung it; a path from a
config or an argument is untrusted, so it is opened without blocking, checked to be a regular file,
and read no further than the caller's limit. A file the appliance writes goes to a temporary name
beside its place and is renamed there once whole, so a full disk never leaves half a report.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class FileReadError(OSError):
    """The file cannot be used: `reason` says why, without its content; str() is "PATH: reason"."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_regular_file(path: Path, limit: int) -> bytes:
    """The whole content of a regular file of at most `limit` bytes, or FileReadError saying why not."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait; fstat then refuses it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise FileReadError(path, f"cannot read: {error.strerror or type(error).__name__}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
            raise FileReadError(path, f"is {kind}, not a regular file")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except FileReadError:
        raise
    except OSError as error:
        raise FileReadError(path, f"cannot read: {error.strerror or type(error).__name__}") from None
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise FileReadError(path, f"is larger than {size_text(limit)}")
    return data


def size_text(count: int) -> str:
    """A byte count as people read it: 4 KiB, 128 MiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; when the block ends it is fsynced and renamed
    over `path`, and if the block fails (a full disk) it is removed and `path` is untouched."""
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` as `path`, whole or not at all."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)

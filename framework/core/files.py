"""Reads a file named in the config or on the command line: a regular file only, and only so much of it.

`file:/dev/zero` as a password grew to 23 GB and a FIFO given to `analyze` hung it; a path from a
config or an argument is untrusted, so it is opened without blocking, checked to be a regular file,
and read no further than the caller's limit.
"""

from __future__ import annotations

import os
import stat
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

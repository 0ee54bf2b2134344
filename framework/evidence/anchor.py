"""The head anchor: the journal's newest head remembered outside the database, MACed under the key."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path

import attrs

from watchkeeper.evidence.files import sync_dir

GENESIS = "0" * 64
_KEY_ID_LABEL = b"watchkeeper journal key id"
_ANCHOR_LABEL = b"watchkeeper journal head anchor\n"


def key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it: an HMAC of a fixed label under the key."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def anchor_path(key_path: Path) -> Path:
    """Where the anchor of the journal under this key lives: beside the key, outside the store."""
    return key_path.with_name(key_path.name + ".head")


@attrs.frozen
class Head:
    seq: int
    hash: str


@attrs.frozen
class Anchor:
    """The last committed head and, while an append is under way, the head it is about to commit.

    An append writes `pending` before its transaction commits and clears it after, so a process
    killed at any moment leaves an anchor that accepts the chain it left behind, and nothing more.
    """

    head: Head
    pending: Head | None = None

    def accepts(self, tip: Head) -> bool:
        return tip == self.head or tip == self.pending


class AnchorError(Exception):
    """The anchor file is missing or cannot be trusted; `status` names which."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _mac(key: bytes, fields: dict[str, object]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")
    return hmac.new(key, _ANCHOR_LABEL + text, hashlib.sha256).hexdigest()


def _head(value: object) -> Head:
    if not isinstance(value, dict) or not isinstance(value.get("seq"), int) or not isinstance(value.get("hash"), str):
        raise ValueError("not a head")
    return Head(value["seq"], value["hash"])


def read_anchor(path: Path, key: bytes) -> Anchor:
    """The anchor at `path`, checked under the key; AnchorError says what is wrong with it."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise AnchorError("anchor_missing", f"the head anchor {path} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AnchorError("anchor_garbled", f"the head anchor {path} is unreadable ({error})") from None
    try:
        fields = json.loads(text)
        mac = fields.pop("mac")
        head = _head(fields)
        pending = None if fields.get("pending") is None else _head(fields["pending"])
    except (ValueError, TypeError, KeyError, AttributeError):
        raise AnchorError("anchor_garbled", f"the head anchor {path} is garbled") from None
    if fields.get("key_id") != key_id(key):
        raise AnchorError("anchor_garbled", f"the head anchor {path} belongs to key id {fields.get('key_id')},"
                                            f" not this key ({key_id(key)})")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(key, fields)):
        raise AnchorError("anchor_garbled", f"the head anchor {path} does not match its MAC (edited by hand)")
    return Anchor(head, pending)


def write_anchor(path: Path, key: bytes, anchor: Anchor, sync_directory: bool = True) -> None:
    """Replace the anchor atomically: a temporary file, fsynced, renamed over the old one."""
    fields: dict[str, object] = {"key_id": key_id(key), "seq": anchor.head.seq, "hash": anchor.head.hash,
                                 "pending": attrs.asdict(anchor.pending) if anchor.pending else None}
    fields["mac"] = _mac(key, {k: v for k, v in fields.items()})
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, (json.dumps(fields, sort_keys=True) + "\n").encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    if sync_directory:
        sync_dir(path.parent)


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Held by every append across processes, from reading the tip to writing the new anchor."""
    descriptor = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def shared(path: Path) -> Iterator[None]:
    """Held by a reader while it reads the anchor and the tip together; creates nothing."""
    try:
        descriptor = os.open(_lock_path(path), os.O_RDONLY)
    except OSError:  # never appended to under a lock: nothing to wait for
        yield
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)

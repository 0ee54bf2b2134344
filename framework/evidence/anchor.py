"""The head anchor: the journal's newest head remembered outside the database, MACed under the key."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import attrs

from watchkeeper.core.i18n import N_
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

    An append writes `pending` durably before its transaction commits and clears it after, so a
    process killed (or a power cut) at any moment leaves an anchor that accepts the chain it left
    behind, and nothing shorter.
    """

    head: Head
    pending: Head | None = None
    #: Only the pending head counts: the other slot is damaged, which an honest crash causes only
    #: while the clearing write, after the commit, is under way (see read_anchor).
    strict: bool = attrs.field(default=False, eq=False)
    #: Read from the unauthenticated `SEQ HASH` file written before anchors were MACed (0.1.0).
    legacy: bool = attrs.field(default=False, eq=False)

    def accepts(self, tip: Head) -> bool:
        if self.pending is not None and self.strict:
            return tip == self.pending
        return tip == self.head or tip == self.pending


class AnchorError(Exception):
    """The anchor file is missing or cannot be trusted; `status` names which."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


#: The anchor file holds two fixed slots, written in place in turn (a write to a file's existing
#: bytes needs no metadata, so its fdatasync is cheap); a reader takes the valid slot of the higher
#: generation. A torn write damages one slot only.
SLOT = 512


def _mac(key: bytes, fields: dict[str, object]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")
    return hmac.new(key, _ANCHOR_LABEL + text, hashlib.sha256).hexdigest()


def _head(value: object) -> Head:
    if not isinstance(value, dict) or not isinstance(value.get("seq"), int) or not isinstance(value.get("hash"), str):
        raise ValueError("not a head")
    return Head(value["seq"], value["hash"])


def _record(key: bytes, generation: int, anchor: Anchor) -> bytes:
    fields: dict[str, object] = {"gen": generation, "key_id": key_id(key), "seq": anchor.head.seq,
                                 "hash": anchor.head.hash,
                                 "pending": attrs.asdict(anchor.pending) if anchor.pending else None}
    fields["mac"] = _mac(key, fields)
    return (json.dumps(fields, sort_keys=True) + "\n").encode("ascii").ljust(SLOT, b" ")


def _slot(raw: bytes, key: bytes) -> tuple[int, Anchor] | str:
    """One slot's generation and anchor, or why it cannot be trusted."""
    try:
        fields = json.loads(raw.decode("ascii"))
        mac = fields.pop("mac")
        generation, head = fields["gen"], _head(fields)
        pending = None if fields.get("pending") is None else _head(fields["pending"])
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        return N_("is garbled")
    if fields.get("key_id") != key_id(key):
        return N_("belongs to key id {other}, not this key ({own})", other=str(fields.get("key_id")), own=key_id(key))
    if not isinstance(mac, str) or not isinstance(generation, int) or not hmac.compare_digest(mac, _mac(key, fields)):
        return N_("does not match its MAC (edited by hand)")
    return generation, Anchor(head, pending)


def _slots(raw: bytes, key: bytes) -> list[tuple[int, Anchor] | str]:
    return [_slot(raw[index * SLOT:(index + 1) * SLOT], key) if len(raw) >= (index + 1) * SLOT else N_("is garbled")
            for index in range(2)]


_LEGACY = re.compile(rb"^(?:(\d+) ([0-9a-f]{64})\n?)?$")


def read_anchor(path: Path, key: bytes) -> Anchor:
    """The anchor at `path`, checked under the key; AnchorError says what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AnchorError("anchor_missing", N_("the head anchor {path} is missing", path=str(path))) from None
    except OSError as error:
        raise AnchorError("anchor_garbled", N_("the head anchor {path} is unreadable ({error})", path=str(path),
                                               error=error.strerror or type(error).__name__)) from None
    legacy = _LEGACY.match(raw)
    if legacy:
        return Anchor(Head(int(legacy[1]), legacy[2].decode("ascii")) if legacy[1] else Head(0, GENESIS), legacy=True)
    slots = _slots(raw, key)
    valid = sorted((slot for slot in slots if not isinstance(slot, str)), key=lambda slot: slot[0])
    if not valid:
        reason = next((slot for slot in slots if isinstance(slot, str) and slot.startswith("belongs")), slots[0])
        raise AnchorError("anchor_garbled", N_("the head anchor {path} {reason}", path=str(path), reason=reason))
    # With one slot damaged, the newer could have been destroyed on purpose to fall back to a
    # pending anchor that still accepts the head before the last append: then only `pending` counts.
    return attrs.evolve(valid[-1][1], strict=len(valid) == 1)


def write_anchor(path: Path, key: bytes, anchor: Anchor, durable: bool = True) -> None:
    """Write the anchor into the slot not holding the newest one; fdatasync it when `durable`.

    A missing or unusable file is created with both slots, fsynced with its folder.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    created = False
    try:
        current = [(slot[0], index) for index, slot in enumerate(_slots(os.pread(descriptor, 2 * SLOT, 0), key))
                   if not isinstance(slot, str)]
        if len(current) == 2 or (current and os.fstat(descriptor).st_size >= 2 * SLOT):
            generation, index = max(current)
            os.pwrite(descriptor, _record(key, generation + 1, anchor), (1 - index) * SLOT)
            if durable:
                os.fdatasync(descriptor)
        else:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, _record(key, 0, anchor) * 2, 0)
            os.fsync(descriptor)
            created = True
    finally:
        os.close(descriptor)
    if created:
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

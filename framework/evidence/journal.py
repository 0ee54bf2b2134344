"""The daily monitoring journal (R6): append-only, each link an HMAC of the one before."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pluggy

from watchkeeper.core.files import FileReadError, read_regular_file
from watchkeeper.core.models import Secret
from watchkeeper.evidence.store import JOURNAL_KINDS, Store

GENESIS = "0" * 64
KEY_BYTES = 32
#: A key file holds 64 hex digits and a newline.
KEY_FILE_BYTES = 1024


class JournalKeyError(Exception):
    """The journal key file is missing, unreadable or malformed."""


def create_key(path: Path) -> None:
    """Write a new random site key, readable only by the appliance's user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")


def load_key(path: Path, create: bool = False) -> Secret:
    if create and not path.exists() and not path.is_symlink():
        try:
            create_key(path)
        except OSError as error:
            raise JournalKeyError(f"journal key {path} cannot be created: {error.strerror or error}") from None
    if not path.exists():
        raise JournalKeyError(f"journal key {path} does not exist")
    try:
        # A regular file of a few bytes: a folder, a device or a huge file is the wrong path.
        text = read_regular_file(path, KEY_FILE_BYTES).decode("ascii").strip()
        key = bytes.fromhex(text)
    except FileReadError as error:
        raise JournalKeyError(f"journal key {error}") from None
    except (ValueError, UnicodeDecodeError):
        raise JournalKeyError(f"journal key {path} is not a hex key") from None
    if len(key) < 16:
        raise JournalKeyError(f"journal key {path} is too short ({len(key)} bytes, need 16 or more)")
    return Secret(text)


class _RefuseSecrets(json.JSONEncoder):
    def default(self, value: Any) -> Any:
        if isinstance(value, Secret):
            raise TypeError("a Secret cannot be written to the journal")
        if isinstance(value, datetime):
            return value.isoformat()
        if attrs.has(type(value)):
            return attrs.asdict(value)
        return str(value)


def encode_body(body: dict[str, Any] | str) -> str:
    if isinstance(body, str):
        body = {"text": body}
    return json.dumps(body, cls=_RefuseSecrets, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def link_hash(key: bytes, seq: int, time_utc: str, time_local: str, kind: str, actor: str,
              subject: str, body: str, prev_hash: str) -> str:
    """The HMAC-SHA256 that binds an entry to its position and to the entry before it."""
    message = json.dumps([seq, time_utc, time_local, kind, actor, subject, body, prev_hash],
                         ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@attrs.frozen
class Problem:
    seq: int
    reason: str


@attrs.frozen
class Verification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problem: Problem | None = None


class Journal:
    """Appends to and verifies the journal in a Store. Safe across processes sharing the file."""

    def __init__(self, store: Store, key: Secret, time_zone: str = "UTC",
                 pm: pluggy.PluginManager | None = None, anchor: Path | None = None) -> None:
        self.store = store
        self._key = bytes.fromhex(key.reveal())
        self.zone = ZoneInfo(time_zone)
        self.pm = pm
        # The anchor file remembers the last head seen, outside the database, so deleting the
        # newest entries (which leaves a consistent shorter chain) is detected too.
        self.anchor = anchor

    def append(self, kind: str, actor: str, subject: str, body: dict[str, Any] | str,
               at: datetime | None = None) -> dict[str, Any]:
        return self.append_many([(kind, actor, subject, body, at)])[0]

    def append_many(self, entries: Iterable[tuple[str, str, str, dict[str, Any] | str, datetime | None]]
                    ) -> list[dict[str, Any]]:
        """Append entries in one durable transaction; returns the committed rows."""
        prepared = []
        for kind, actor, subject, body, at in entries:
            if kind not in JOURNAL_KINDS:
                raise ValueError(f"unknown journal kind {kind!r}; kinds are {', '.join(JOURNAL_KINDS)}")
            moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
            prepared.append((kind, actor, subject, encode_body(body), moment))
        rows = []
        with self.store.transaction() as conn:
            head = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = head if head else (0, GENESIS)
            for kind, actor, subject, body, moment in prepared:
                seq += 1
                time_utc = moment.isoformat(timespec="microseconds")
                time_local = moment.astimezone(self.zone).isoformat(timespec="seconds")
                digest = link_hash(self._key, seq, time_utc, time_local, kind, actor, subject, body, prev_hash)
                rows.append({"seq": seq, "time_utc": time_utc, "time_local": time_local, "kind": kind,
                             "actor": actor, "subject": subject, "body": body,
                             "prev_hash": prev_hash, "hash": digest})
                prev_hash = digest
            conn.executemany(
                "INSERT INTO journal (seq, time_utc, time_local, kind, actor, subject, body, prev_hash, hash)"
                " VALUES (:seq, :time_utc, :time_local, :kind, :actor, :subject, :body, :prev_hash, :hash)",
                rows,
            )
        if rows:
            self._write_anchor(int(rows[-1]["seq"]), str(rows[-1]["hash"]))
        self._announce(rows)
        return rows

    def _write_anchor(self, seq: int, digest: str) -> None:
        if self.anchor is None:
            return
        temporary = self.anchor.with_suffix(".tmp")
        temporary.write_text(f"{seq} {digest}\n", encoding="ascii")
        os.replace(temporary, self.anchor)

    def _read_anchor(self) -> tuple[int, str] | None:
        if self.anchor is None or not self.anchor.exists():
            return None
        try:
            seq, digest = self.anchor.read_text(encoding="ascii").split()
            return int(seq), digest
        except (ValueError, OSError):
            return None

    def _announce(self, rows: list[dict[str, Any]]) -> None:
        if self.pm is None:
            return
        for row in rows:
            self.pm.hook.on_journal_entry(entry=dict(row))

    def entries(self, kind: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> Iterator[dict[str, Any]]:
        clauses, params = [], []
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        if since:
            clauses.append("time_utc >= ?")
            params.append(since.astimezone(timezone.utc).isoformat(timespec="microseconds"))
        if until:
            clauses.append("time_utc < ?")
            params.append(until.astimezone(timezone.utc).isoformat(timespec="microseconds"))
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        cursor = self.store.conn.execute(f"SELECT * FROM journal{where} ORDER BY seq", params)
        names = [column[0] for column in cursor.description]
        for values in cursor:
            yield dict(zip(names, values))

    def verify(self, since: Verification | None = None) -> Verification:
        """Walk the chain from the start; the first seq that does not hold is the problem.

        `since`, an earlier ok verification whose head entry is still in place, walks only the
        entries after it (the dashboard's incremental check; a full walk is still needed now and
        then to catch an edit behind the triggers' back in the part already walked).
        """
        expected_seq, prev_hash, count, after = 1, GENESIS, 0, None
        query = "SELECT seq, time_utc, time_local, kind, actor, subject, body, prev_hash, hash FROM journal"
        if since is not None and since.ok and since.head_seq and self.store.conn.execute(
                "SELECT hash FROM journal WHERE seq = ?", [since.head_seq]).fetchone() == (since.head_hash,):
            expected_seq, prev_hash, count, after = since.head_seq + 1, since.head_hash, since.entries, since.head_seq
        # A full walk reads every row, even ones numbered below 1 that no append would write.
        cursor = self.store.conn.execute(query + (" WHERE seq > ? ORDER BY seq" if after else " ORDER BY seq"),
                                         [after] if after else [])
        for seq, time_utc, time_local, kind, actor, subject, body, stored_prev, stored_hash in cursor:
            problem = None
            if seq != expected_seq:
                problem = Problem(expected_seq, f"entry {expected_seq} is missing (next entry is {seq})")
            elif stored_prev != prev_hash:
                problem = Problem(seq, "link to the previous entry is broken (entry removed, inserted or moved)")
            elif not hmac.compare_digest(
                stored_hash,
                link_hash(self._key, seq, time_utc, time_local, kind, actor, subject, body, stored_prev),
            ):
                problem = Problem(seq, "entry content does not match its HMAC (edited, or chain rewritten without the key)")
            if problem:
                return Verification(False, count, expected_seq - 1, prev_hash, problem)
            expected_seq, prev_hash, count = seq + 1, stored_hash, count + 1
        anchor = self._read_anchor()
        if anchor is not None:
            anchor_seq, anchor_hash = anchor
            if anchor_seq > count:
                return Verification(False, count, count, prev_hash,
                                    Problem(count + 1, f"entries {count + 1}..{anchor_seq} were deleted (the head anchor remembers {anchor_seq})"))
            row = self.store.conn.execute("SELECT hash FROM journal WHERE seq = ?", [anchor_seq]).fetchone()
            if anchor_seq and (row is None or row[0] != anchor_hash):
                return Verification(False, count, count, prev_hash,
                                    Problem(anchor_seq, "entry does not match the head anchor (chain rewritten)"))
        return Verification(True, count, count, prev_hash)

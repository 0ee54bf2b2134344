"""The daily monitoring journal (R6): append-only, each link an HMAC of the one before, its head anchored."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pluggy

from watchkeeper.core.files import FileReadError, read_regular_file
from watchkeeper.core.i18n import Text
from watchkeeper.core.models import Secret
from watchkeeper.evidence.anchor import (GENESIS, Anchor, AnchorError, Head, anchor_path, exclusive, key_id,
                                         read_anchor, shared, write_anchor)
from watchkeeper.evidence.chain import (JOURNAL_SUBJECT, STARTED, SYSTEM_ACTOR, UPGRADED, Problem, Verification,
                                        head_problem, link_hash, walk)
from watchkeeper.evidence.store import JOURNAL_KINDS, Store
from watchkeeper.evidence.witness import WitnessHead

__all__ = ["GENESIS", "Journal", "JournalKeyError", "JournalTampered", "Problem", "Verification", "anchor_path",
           "PROVEN", "PROOF_DETAILS", "create_key", "encode_body", "link_hash", "load_key", "with_proof"]

KEY_BYTES = 32
#: A key file holds 64 hex digits and a newline.
KEY_FILE_BYTES = 1024
log = logging.getLogger(__name__)

#: Who this command (or web request) has proven to be, and how ("password", "os_user", "trust_actor",
#: "session", "api_token"): that person's entries carry it as "proof", so the journal says not only who
#: approved a retrieval but how they showed it was them. Set by the faces that authenticate.
PROVEN: ContextVar[tuple[str, str] | None] = ContextVar("watchkeeper_proven", default=None)


#: What else this context knows of that proof, kept beside it (`proof_<name>`): the control socket
#: adds the asking process's OS uid, which the kernel gives (SO_PEERCRED), not the asker's word.
PROOF_DETAILS: ContextVar[dict[str, Any] | None] = ContextVar("watchkeeper_proof_details", default=None)


def with_proof(actor: str, body: dict[str, Any] | str) -> dict[str, Any] | str:
    """The body with the proof of its actor noted, when this context proved that actor."""
    proven = PROVEN.get()
    if proven is None or proven[0] != actor or not isinstance(body, dict) or "proof" in body:
        return body
    details = {f"proof_{name}": value for name, value in (PROOF_DETAILS.get() or {}).items()}
    return {**body, "proof": proven[1], **details}


class JournalKeyError(Exception):
    """The journal key file is missing, unreadable or malformed."""


def create_key(path: Path) -> None:
    """Write a new random site key, readable only by the appliance's user, and its empty anchor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(KEY_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    # The anchor of a new key says "nothing journaled yet": that is what tells a site's first start
    # from a journal deleted and begun again under a key that was already in use.
    write_anchor(anchor_path(path), bytes.fromhex(key), Anchor(Head(0, GENESIS)))


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
    return json.dumps(with_messages(body), cls=_RefuseSecrets, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))


def with_messages(value: Any) -> Any:
    """A body whose human texts written with `N_` (a reason, a warning) keep their msgid and params next
    to the English text, `reason` → `reason_msg`, as findings keep theirs: a reader in another language
    reads them in theirs (docs/glossary.md). Entries written before this have none and read as stored."""
    if isinstance(value, dict):
        out = {key: with_messages(item) for key, item in value.items()}
        for key, item in value.items():
            if isinstance(item, Text) and isinstance(key, str):
                out[key] = str(item)
                out.setdefault(f"{key}_msg", item.to_json())
        return out
    if isinstance(value, (list, tuple)):
        return [with_messages(item) for item in value]
    return value


class JournalTampered(Exception):
    """An append found that the chain's tip is not the anchored head: it journaled an alarm instead."""

    def __init__(self, problem: Problem, alarm_seq: int) -> None:
        super().__init__(f"the journal was tampered with: {problem.reason} (alarm journaled as entry {alarm_seq})")
        self.problem, self.alarm_seq = problem, alarm_seq


Prepared = tuple[str, str, str, str, datetime]
#: An entry as callers give it: kind, actor, subject, body, and its time (None: now).
Entry = tuple[str, str, str, dict[str, Any] | str, datetime | None]


class Journal:
    """Appends to and verifies the journal in a Store. Safe across processes sharing the file.

    The anchor file remembers the last head outside the database, so a shorter chain (newest entries
    deleted) is caught; every append first checks the chain's tip against it. `witness` is called
    with each new head so it can be written outside the appliance; `on_alarm` when an append finds
    the journal tampered with.
    """

    def __init__(self, store: Store, key: Secret, time_zone: str = "UTC",
                 pm: pluggy.PluginManager | None = None, anchor: Path | None = None,
                 witness: Callable[[str, int, str, str], None] | None = None,
                 on_alarm: Callable[[Problem], None] | None = None) -> None:
        self.store = store
        self._key = bytes.fromhex(key.reveal())
        self.key_id = key_id(self._key)
        self.zone = ZoneInfo(time_zone)
        self.pm = pm
        self.anchor = anchor
        self.witness = witness
        self.on_alarm = on_alarm
        self._modern = False

    def append(self, kind: str, actor: str, subject: str, body: dict[str, Any] | str,
               at: datetime | None = None) -> dict[str, Any]:
        return self.append_many([(kind, actor, subject, body, at)])[0]

    def append_many(self, entries: Iterable[Entry]) -> list[dict[str, Any]]:
        """Append entries in one durable transaction; returns the committed rows.

        Raises JournalTampered, having journaled an alarm and nothing else, when the chain's tip is
        not the anchored head.
        """
        return self.append_with(lambda conn: entries)

    def append_with(self, write: Callable[[sqlite3.Connection], Iterable[Entry]]) -> list[dict[str, Any]]:
        """Run `write` inside the journal's transaction and append the entries it returns.

        The rows `write` puts in the store and the entries that tell of them commit together or not
        at all: a process killed between the two would leave, say, an export listed complete that
        the journal never recorded. `write` gets the connection (plain SQL: sqlite-utils would commit
        on its own); it is not run when the journal turns out tampered with (JournalTampered, as
        append_many).
        """
        mine: list[Prepared] = []

        def prepare(conn: sqlite3.Connection) -> list[Prepared]:
            for kind, actor, subject, body, at in write(conn):
                if kind not in JOURNAL_KINDS:
                    raise ValueError(f"unknown journal kind {kind!r}; kinds are {', '.join(JOURNAL_KINDS)}")
                moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
                mine.append((kind, actor, subject, encode_body(with_proof(actor, body)), moment))
            return mine

        rows, problem = self._commit(prepare)
        if problem is not None:
            raise JournalTampered(problem, rows[-1]["seq"])
        return rows[len(rows) - len(mine):]  # the caller's own, after any record of the journal's

    def check_head(self) -> Problem | None:
        """At start-up: journal an alarm now if the chain's tip is not the anchored head; return it."""
        return self._commit(lambda conn: [])[1]

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.anchor) if self.anchor is not None else contextlib.nullcontext()

    def _anchor_state(self) -> Anchor | AnchorError | None:
        if self.anchor is None:
            return None
        try:
            return read_anchor(self.anchor, self._key)
        except AnchorError as error:
            return error

    @staticmethod
    def _tip(conn: Any) -> Head:
        row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
        return Head(*row) if row else Head(0, GENESIS)

    def _commit(self, prepare: Callable[[sqlite3.Connection], list[Prepared]]
                ) -> tuple[list[dict[str, Any]], Problem | None]:
        with self._lock():
            with self.store.transaction() as conn:
                tip = self._tip(conn)
                state = self._anchor_state()
                modern = tip.seq == 0 or self._records_key_id(conn)
                problem = head_problem(tip, state, modern)
                now = datetime.now(timezone.utc)
                batch: list[Prepared] = []
                if tip.seq == 0:
                    batch.append(self._genesis(state, now))
                elif not modern:  # begun before key ids (0.1.0): from here on its anchor is MACed
                    batch.append(("operation", SYSTEM_ACTOR, JOURNAL_SUBJECT,
                                  encode_body({"event": UPGRADED, "key_id": self.key_id}), now))
                if problem is not None:
                    anchored = attrs.asdict(state.head) if isinstance(state, Anchor) else None
                    batch.append(("operation", SYSTEM_ACTOR, JOURNAL_SUBJECT, encode_body({
                        "alarm": "journal_tampered", "status": problem.status, "reason": problem.reason,
                        "tip": attrs.asdict(tip), "anchored": anchored}), now))
                else:
                    batch += prepare(conn)
                if not batch:
                    return [], None
                rows = self._link(batch, tip)
                new = Head(rows[-1]["seq"], rows[-1]["hash"])
                if self.anchor is not None:
                    # Durable before the commit: a crash from here on leaves an anchor that accepts
                    # either the old tip (not committed) or the new one (committed).
                    write_anchor(self.anchor, self._key, Anchor(tip, new))
                conn.executemany(
                    "INSERT INTO journal (seq, time_utc, time_local, kind, actor, subject, body, prev_hash, hash)"
                    " VALUES (:seq, :time_utc, :time_local, :kind, :actor, :subject, :body, :prev_hash, :hash)",
                    rows,
                )
            if self.anchor is not None:
                # Not fsynced: if a power cut loses it, the durable pending anchor still accepts the tip.
                write_anchor(self.anchor, self._key, Anchor(new), durable=False)
        self._witness(rows[-1])
        self._announce(rows)
        if problem is not None and self.on_alarm is not None:
            try:
                self.on_alarm(problem)
            except Exception:  # the alarm is journaled; a failing finding store must not hide it
                log.exception("recording the journal alarm failed")
        return rows, problem

    def _records_key_id(self, conn: Any) -> bool:
        """Whether the chain names its key (entry 1 is its start, or an upgrade record): then its anchor
        must be MACed. Looked up once per process; a journal never stops recording it."""
        if not self._modern:
            self._modern = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM journal WHERE kind = 'operation' AND actor = ? AND subject = ?"
                " AND (body LIKE ? OR body LIKE ?))",
                [SYSTEM_ACTOR, JOURNAL_SUBJECT, f'%"event":"{STARTED}"%', f'%"event":"{UPGRADED}"%']).fetchone()[0] == 1
        return self._modern

    def _genesis(self, state: Anchor | AnchorError | None, now: datetime) -> Prepared:
        """Entry 1: the key's id, and whether the key was new or had a journal before this one."""
        if state is None:
            key_state = "unanchored"
        elif isinstance(state, Anchor) and state.head.seq == 0:
            key_state = "new"
        else:
            key_state = "existing"
        return ("operation", SYSTEM_ACTOR, JOURNAL_SUBJECT,
                encode_body({"event": STARTED, "key_id": self.key_id, "key": key_state}), now)

    def _link(self, batch: list[Prepared], tip: Head) -> list[dict[str, Any]]:
        seq, prev_hash, rows = tip.seq, tip.hash, []
        for kind, actor, subject, body, moment in batch:
            seq += 1
            time_utc = moment.isoformat(timespec="microseconds")
            time_local = moment.astimezone(self.zone).isoformat(timespec="seconds")
            digest = link_hash(self._key, seq, time_utc, time_local, kind, actor, subject, body, prev_hash)
            rows.append({"seq": seq, "time_utc": time_utc, "time_local": time_local, "kind": kind,
                         "actor": actor, "subject": subject, "body": body, "prev_hash": prev_hash, "hash": digest})
            prev_hash = digest
        return rows

    def _witness(self, row: dict[str, Any]) -> None:
        if self.witness is None:
            return
        try:
            self.witness(self.key_id, row["seq"], row["hash"], row["time_utc"])
        except Exception:  # a witness is a copy elsewhere; the entry is committed whatever it does
            log.exception("witnessing journal head %s failed", row["seq"])

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

    def verify(self, since: Verification | None = None, witness: Iterable[WitnessHead] = ()) -> Verification:
        """Walk the chain, then hold it against the anchor and the witnessed heads. Writes nothing.

        The first seq that does not hold stops the walk; otherwise every problem is named. `since`,
        an earlier ok verification whose head entry is still in place, walks only the entries after
        it (the dashboard's incremental check; a full walk is still needed now and then to catch an
        edit behind the triggers' back in the part already walked). A caller that has begun a read
        transaction (one snapshot for its own reads too) keeps it; otherwise verify takes one.
        """
        conn = self.store.conn
        own_snapshot = not conn.in_transaction
        if own_snapshot:
            conn.execute("BEGIN")  # one snapshot for the tip and the walk
        try:
            with shared(self.anchor) if self.anchor is not None else contextlib.nullcontext():
                state = self._anchor_state()
                snapshot_tip = self._tip(conn)
            return walk(conn, self._key, state, snapshot_tip.seq, list(witness), since)
        finally:
            if own_snapshot:
                conn.execute("ROLLBACK")


"""Where the estate keeps its data: SQLite (sqlite-utils, the default) or PostgreSQL when configured.

Both speak the same SQL (`?` placeholders, `INSERT ... ON CONFLICT`); each backend creates its own
schema, SQLite's through a sqlite-utils migration set, PostgreSQL's through a table of applied
migration names, so neither is ever migrated twice.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper.evidence.store import StoreError, immediate_transaction, store_problem

estate_migrations = Migrations("watchkeeper-estate")


@estate_migrations()
def m001_estate(db: sqlite_utils.Database) -> None:
    db["sites"].create({
        "id": str, "key_hash": str, "enrolled_at": str, "enrolled_by": str, "revoked_at": str,
        "acked": int, "tip_seq": int, "tip_hash": str, "key_id": str, "site_name": str, "time_zone": str,
        "last_push_at": str, "flag": str, "flag_status": str, "flagged_at": str}, pk="id", defaults={"acked": 0})
    db["items"].create({"site": str, "seq": int, "kind": str, "digest": str, "body": str, "created_at": str,
                        "received_at": str}, pk=("site", "seq"))
    db["heads"].create({"id": int, "site": str, "item": int, "seq": int, "hash": str, "time": str, "status": str,
                        "reason": str, "verified": str, "received_at": str}, pk="id")
    db["heads"].create_index(["site", "id"])
    db["verdicts"].create({"site": str, "clause": str, "status": str, "rule": str, "reason": str, "period_start": str,
                           "period_end": str, "evidence": str, "item": int}, pk=("site", "clause"))
    db["verdict_history"].create({"site": str, "item": int, "clause": str, "status": str, "period_start": str,
                                  "period_end": str, "received_at": str}, pk=("site", "item", "clause"))
    db["verdict_history"].create_index(["period_start"])
    db["findings"].create({"site": str, "id": int, "kind": str, "subject": str, "channel": int, "severity": str,
                           "clause": str, "reason": str, "opened_at": str, "last_seen_at": str}, pk=("site", "id"))
    db["inspections"].create({"site": str, "id": int, "started_at": str, "finished_at": str, "cameras": int,
                              "ok": int, "warning": int, "fault": int, "signed_by": str, "signed_at": str},
                             pk=("site", "id"))
    db["reports"].create({"site": str, "seq": int, "period": str, "period_start": str, "period_end": str,
                          "files": str, "journal_head": str}, pk=("site", "seq"))
    db["refusals"].create({"id": int, "time": str, "remote": str, "site": str, "reason": str, "count": int,
                           "last_time": str}, pk="id", defaults={"count": 1})
    db["refusals"].create_index(["site"])
    db["refusals"].create_index(["remote", "site", "reason", "time"])
    db["events"].create({"id": int, "time": str, "actor": str, "action": str, "site": str, "reason": str}, pk="id")


@estate_migrations()
def m002_journal_pending(db: sqlite_utils.Database) -> None:
    # An action's journal entry, committed with the action itself (the journal is another database):
    # `EstateApp.act` drops it once journaled; one left by a crash is journaled at the next open.
    db["journal_pending"].create({"id": str, "time": str, "actor": str, "subject": str, "body": str,
                                  "journal_after": int}, pk="id")


#: The same schema in PostgreSQL's words, by migration name; append new ones, never edit one.
POSTGRES_MIGRATIONS: tuple[tuple[str, str], ...] = (("m001_estate", """
    CREATE TABLE sites (id TEXT PRIMARY KEY, key_hash TEXT, enrolled_at TEXT, enrolled_by TEXT, revoked_at TEXT,
        acked BIGINT DEFAULT 0, tip_seq BIGINT, tip_hash TEXT, key_id TEXT, site_name TEXT, time_zone TEXT,
        last_push_at TEXT, flag TEXT, flag_status TEXT, flagged_at TEXT);
    CREATE TABLE items (site TEXT, seq BIGINT, kind TEXT, digest TEXT, body TEXT, created_at TEXT,
        received_at TEXT, PRIMARY KEY (site, seq));
    CREATE TABLE heads (id BIGSERIAL PRIMARY KEY, site TEXT, item BIGINT, seq BIGINT, hash TEXT, time TEXT,
        status TEXT, reason TEXT, verified TEXT, received_at TEXT);
    CREATE INDEX idx_heads_site_id ON heads (site, id);
    CREATE TABLE verdicts (site TEXT, clause TEXT, status TEXT, rule TEXT, reason TEXT, period_start TEXT,
        period_end TEXT, evidence TEXT, item BIGINT, PRIMARY KEY (site, clause));
    CREATE TABLE verdict_history (site TEXT, item BIGINT, clause TEXT, status TEXT, period_start TEXT,
        period_end TEXT, received_at TEXT, PRIMARY KEY (site, item, clause));
    CREATE INDEX idx_verdict_history_period_start ON verdict_history (period_start);
    CREATE TABLE findings (site TEXT, id BIGINT, kind TEXT, subject TEXT, channel BIGINT, severity TEXT,
        clause TEXT, reason TEXT, opened_at TEXT, last_seen_at TEXT, PRIMARY KEY (site, id));
    CREATE TABLE inspections (site TEXT, id BIGINT, started_at TEXT, finished_at TEXT, cameras BIGINT, ok BIGINT,
        warning BIGINT, fault BIGINT, signed_by TEXT, signed_at TEXT, PRIMARY KEY (site, id));
    CREATE TABLE reports (site TEXT, seq BIGINT, period TEXT, period_start TEXT, period_end TEXT, files TEXT,
        journal_head TEXT, PRIMARY KEY (site, seq));
    CREATE TABLE refusals (id BIGSERIAL PRIMARY KEY, time TEXT, remote TEXT, site TEXT, reason TEXT,
        count BIGINT DEFAULT 1, last_time TEXT);
    CREATE INDEX idx_refusals_site ON refusals (site);
    CREATE INDEX idx_refusals_remote_site_reason_time ON refusals (remote, site, reason, time);
    CREATE TABLE events (id BIGSERIAL PRIMARY KEY, time TEXT, actor TEXT, action TEXT, site TEXT, reason TEXT);
    """), ("m002_journal_pending", """
    CREATE TABLE journal_pending (id TEXT PRIMARY KEY, time TEXT, actor TEXT, subject TEXT, body TEXT,
        journal_after BIGINT);
    """))


class Backend:
    """A DB-API connection and the few things the estate asks of it."""

    conn: Any
    placeholder = "?"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.placeholder != "?":
            sql = sql.replace("?", self.placeholder)
        return self.conn.execute(sql, list(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            if self.placeholder != "?":
                sql = sql.replace("?", self.placeholder)
            self.conn.cursor().executemany(sql, [list(row) for row in rows])

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def savepoint(self) -> contextlib.AbstractContextManager[Any]:
        """Inside a transaction: a part that fails is undone alone (one push of a batch)."""
        raise NotImplementedError

    def close(self) -> None:
        self.conn.close()


class SQLiteBackend(Backend):
    """One SQLite file, as the appliance's store: WAL, and a push acknowledged only once it would
    survive a power cut (synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            estate_migrations.apply(sqlite_utils.Database(self.conn))
        except (sqlite3.Error, OSError) as error:
            problem = store_problem(error, self.path)
            if problem is None:
                raise
            raise StoreError(f"estate store {self.path}: {problem} ({error})") from None

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        # Inside the caller's transaction (an action and its held journal entry): a savepoint of it,
        # as psycopg nests them.
        return self.savepoint() if self.conn.in_transaction else immediate_transaction(self.conn)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[Any]:
        self.conn.execute("SAVEPOINT part")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        else:
            self.conn.execute("RELEASE part")


class PostgresBackend(Backend):
    """A PostgreSQL database, for an estate whose store outgrows one file or must be replicated."""

    placeholder = "%s"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("estate database: PostgreSQL needs the psycopg package"
                             " (pip install 'watchkeeper[postgres]')") from None
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as error:
            # The URL may hold a password: say which host failed, never the URL itself.
            raise StoreError(f"estate database: cannot connect to PostgreSQL ({_quiet(error)})") from None
        self._migrate()

    def _migrate(self) -> None:
        with self.conn.transaction():
            self.conn.execute("CREATE TABLE IF NOT EXISTS estate_migrations (name TEXT PRIMARY KEY, applied_at TEXT"
                              " DEFAULT now()::text)")
            self.conn.execute("LOCK TABLE estate_migrations")  # two estates starting at once migrate once
            done = {row[0] for row in self.conn.execute("SELECT name FROM estate_migrations").fetchall()}
            for name, ddl in POSTGRES_MIGRATIONS:
                if name not in done:
                    self.conn.execute(ddl)
                    self.conn.execute("INSERT INTO estate_migrations (name) VALUES (%s)", [name])

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self.conn.transaction()

    def savepoint(self) -> contextlib.AbstractContextManager[Any]:
        return self.conn.transaction()  # nested: psycopg makes it a savepoint


def _quiet(error: Exception) -> str:
    """A driver's message without the connection string it may quote."""
    return str(error).splitlines()[0][:200]


def open_backend(path: Path, url: str = "") -> Backend:
    return PostgresBackend(url) if url else SQLiteBackend(path)

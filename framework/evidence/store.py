"""One SQLite file through sqlite-utils: WAL mode, named migration sets, batched writes."""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy
import sqlite_utils
from sqlite_utils import Migrations

JOURNAL_KINDS = (
    "operation", "maintenance", "inspection", "retrieval", "access", "clock", "retention", "config",
)
#: The kinds a person may write by hand (`journal add`: a note of operation, maintenance, an inspection walked);
#: the others (config, retrieval, access, clock, retention) are evidence only watchkeeper writes.
PERSON_KINDS = ("operation", "maintenance", "inspection")

core = Migrations("watchkeeper")


@core()
def m001_journal(db: sqlite_utils.Database) -> None:
    kinds = ", ".join(f"'{kind}'" for kind in JOURNAL_KINDS)
    db.execute(f"""
        CREATE TABLE journal (
            seq INTEGER PRIMARY KEY,
            time_utc TEXT NOT NULL,
            time_local TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            actor TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""")
    # The chain's HMAC catches edits made behind these triggers' back; the triggers stop the
    # honest mistake and any tool that does not know better.
    db.execute("""
        CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only: UPDATE refused'); END""")
    db.execute("""
        CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only: DELETE refused'); END""")
    db.execute("CREATE INDEX journal_kind_time ON journal (kind, time_utc)")


@core()
def m002_findings(db: sqlite_utils.Database) -> None:
    db["findings"].create(
        {
            "id": int, "kind": str, "subject": str, "channel": int, "severity": str, "clause": str,
            "reason": str, "measured": str, "threshold": str, "details": str,
            "opened_at": str, "last_seen_at": str, "closed_at": str,
        },
        pk="id",
    )
    db["findings"].create_index(["kind", "subject", "channel", "closed_at"])


class StoreMissing(Exception):
    """A read-only open found no store: it is never created just to be read."""


class Store:
    """The appliance's database. Open it once per process; every plugin's migrations run at open."""

    def __init__(self, path: Path | str, pm: pluggy.PluginManager | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit at the driver level: transactions are explicit (BEGIN IMMEDIATE) so a
        # journal append reads the chain head and writes the next link under one write lock.
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self.db = sqlite_utils.Database(self.conn)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed journal entry survives power loss as well as a killed process.
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate(pm)

    @classmethod
    def open_readonly(cls, path: Path | str) -> Store:
        """The store as it is, for checking it: no folder or file created, no migration, no write."""
        store = cls.__new__(cls)
        store.path = Path(path)
        if not store.path.is_file():
            raise StoreMissing(f"the store {store.path} does not exist")
        uri = f"file:{urllib.parse.quote(str(store.path.resolve()))}?mode=ro"
        store.conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False)
        store.conn.execute("PRAGMA query_only=ON")
        store.db = sqlite_utils.Database(store.conn)
        return store

    def migration_sets(self, pm: pluggy.PluginManager | None) -> list[Migrations]:
        sets = [core]
        if pm is not None:
            names = {core.name}
            registered: list[Migrations] = []

            def register(migrations: Migrations) -> None:
                if not isinstance(migrations, Migrations):
                    raise TypeError(f"register_migrations expects sqlite_utils.Migrations, got {migrations!r}")
                if migrations.name in names:
                    raise ValueError(f"migration set '{migrations.name}' is registered twice")
                names.add(migrations.name)
                registered.append(migrations)

            pm.hook.register_migrations(register=register)
            sets += registered
        return sets

    def migrate(self, pm: pluggy.PluginManager | None) -> None:
        for migrations in self.migration_sets(pm):
            migrations.apply(self.db)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front, so concurrent writers queue instead of failing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def insert_many(self, table: str, rows: Iterable[dict[str, Any]], batch_size: int = 500) -> None:
        """Batched insert in one transaction."""
        with self.transaction():
            self.db[table].insert_all(rows, batch_size=batch_size)

    def close(self) -> None:
        self.conn.close()

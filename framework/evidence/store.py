"""One SQLite file through sqlite-utils: WAL mode, named migration sets, batched writes."""

from __future__ import annotations

import errno
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pluggy
import sqlite_utils
from sqlite_utils import Migrations
from watchkeeper.core.i18n import N_

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


@core()
def m003_journal_period_indexes(db: sqlite_utils.Database) -> None:
    # What the dashboard and /metrics ask at every request: a period's entries counted by kind, and
    # the entries about one subject (published reports, a day's signed summary, a check's last
    # run), of a kind, before a time. Without these each request read the whole journal (0.25 s for
    # /api/status, 0.11 s for /metrics at 300,000 entries). The second index covers all three of a
    # summary's conditions, so the planner, which has no statistics, prefers it to
    # journal_kind_time (which matches two and leaves every 'operation' entry to read).
    db.execute("CREATE INDEX journal_time_kind ON journal (time_utc, kind)")
    db.execute("CREATE INDEX journal_subject_kind_time ON journal (subject, kind, time_utc)")


class StoreError(Exception):
    """The store cannot be used; the message names the file and says why in an operator's words."""


#: SQLite result codes (by name prefix) that mean the store itself failed, not the SQL that asked.
_STORE_FAILURES = {
    "SQLITE_FULL": N_("the disk is full"),
    "SQLITE_NOTADB": N_("is not a watchkeeper database (a garbage or foreign file): restore it from a backup"),
    "SQLITE_CORRUPT": N_("is corrupt: restore it from a backup"),
    "SQLITE_READONLY": N_("cannot be written (a read-only file, folder or file system)"),
    "SQLITE_CANTOPEN": N_("cannot be opened (a missing or read-only folder, or no permission)"),
    "SQLITE_IOERR": N_("the disk reports an I/O error"),
    "SQLITE_PERM": N_("cannot be written (no permission)"),
    "SQLITE_BUSY": N_("is locked by another process for too long"),
}
#: The same for the file system, where the store's folder or the files written beside it fail.
_OS_FAILURES = {
    errno.ENOSPC: N_("the disk is full"), errno.EDQUOT: N_("the disk quota is used up"),
    errno.EROFS: N_("the file system is read-only"), errno.EIO: N_("the disk reports an I/O error"),
    errno.EACCES: N_("no permission"), errno.EPERM: N_("no permission"), errno.EFBIG: N_("the file is too large"),
}


def store_problem(error: BaseException, where: Path | None = None) -> str | None:
    """What an SQLite or file-system error means for the store, or None when it is not the store's
    (a wrong query is a bug, and stays one). `where`, the store's path, lets an I/O error that is
    really a full disk say so (SQLite reports a WAL that cannot grow as an I/O error)."""
    reason = None
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "") or ""
        reason = next((reason for prefix, reason in _STORE_FAILURES.items() if name.startswith(prefix)), None)
    elif isinstance(error, OSError):
        reason = _OS_FAILURES.get(error.errno) if error.errno is not None else None
    if reason == _STORE_FAILURES["SQLITE_IOERR"] and where is not None and _disk_full(where):
        reason = _STORE_FAILURES["SQLITE_FULL"]
    return reason


#: Below this much free space the store's disk counts as full: SQLite needs room for the WAL to grow.
LOW_SPACE_BYTES = 1024 * 1024


def _statvfs(path: Path) -> os.statvfs_result | None:
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.statvfs(folder)
    except OSError:
        return None


def _disk_full(path: Path) -> bool:
    stats = _statvfs(path)
    return stats is not None and stats.f_bavail * stats.f_frsize < LOW_SPACE_BYTES


def disk_problem(path: Path) -> str | None:
    """Why the file system holding the store at `path` cannot take its writes now (full, read-only),
    or None. Cheap enough to ask every few seconds: the kernel's counts, then a byte written (not
    synced) beside the store, since a disk the kernel turned read-only after an error (ext4's
    emergency_ro) still reports itself writable."""
    stats = _statvfs(path)
    if stats is None:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return _OS_FAILURES[errno.EROFS]
    if stats.f_bavail * stats.f_frsize < LOW_SPACE_BYTES:
        return N_("{problem} ({free} bytes free)", problem=_OS_FAILURES[errno.ENOSPC],
                  free=stats.f_bavail * stats.f_frsize)
    probe = Path(path).with_name(f".{Path(path).name}.probe")
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, b"1")
        finally:
            os.close(descriptor)
    except FileNotFoundError:
        return None  # no folder yet: nothing written there to fail
    except OSError as error:
        return _OS_FAILURES.get(error.errno or 0, error.strerror or str(error))
    return None


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken up front on an autocommit connection, so concurrent writers queue
    instead of failing; committed on success, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite may already have rolled back on its own (a full disk, an I/O error): a second
        # ROLLBACK would raise and hide the error that says why.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


class StoreMissing(Exception):
    """A read-only open found no store: it is never created just to be read."""


class Store:
    """The appliance's database. Open it once per process; every plugin's migrations run at open."""

    def __init__(self, path: Path | str, pm: pluggy.PluginManager | None = None) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            # /dev/null "opens" and then fails every write; a folder cannot be opened at all.
            raise StoreError(N_("store {path}: is a folder, not a database file", path=str(self.path))
                             if self.path.is_dir() else
                             N_("store {path}: is a device, not a database file", path=str(self.path)))
        conn = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit at the driver level: transactions are explicit (BEGIN IMMEDIATE) so a
            # journal append reads the chain head and writes the next link under one write lock.
            conn = self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            self.db = sqlite_utils.Database(self.conn)
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed journal entry survives power loss as well as a killed process.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.migrate(pm)
        except (sqlite3.Error, OSError) as error:
            if conn is not None:
                conn.close()
            problem = store_problem(error, self.path)
            if problem is None:
                raise
            raise StoreError(N_("store {path}: {problem} ({error})", path=str(self.path), problem=problem,
                                error=type(error).__name__)) from None

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

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction taken up front, so concurrent writers queue instead of failing."""
        return immediate_transaction(self.conn)

    def row(self, table: str, pk: Any, what: str) -> dict[str, Any]:
        """One row by its primary key; KeyError naming what is missing, since the id usually came
        from someone's keyboard (`footage approve 99`), not a crash to show them."""
        try:
            return self.db[table].get(pk)
        except sqlite_utils.db.NotFoundError:
            raise KeyError(f"no {what} {pk}") from None

    def insert_many(self, table: str, rows: Iterable[dict[str, Any]], batch_size: int = 500) -> None:
        """Batched insert in one transaction."""
        with self.transaction():
            self.db[table].insert_all(rows, batch_size=batch_size)

    def close(self) -> None:
        self.conn.close()

"""What decision hooks get besides the site: a read-only view of its store, the request in hand, a refusal.

A policy decides from evidence, so it must be able to read the store (who approved this request,
what happened at this door today) without opening SQLite itself, and it must never be able to write
it: :class:`SiteView` reads through its own connection opened read-only.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

#: Table and column names a policy may name in a query: plain identifiers only.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The most rows one question returns; a policy that needs more asks a narrower one.
MAX_ROWS = 1000


@attrs.frozen
class Refusal:
    """An ``authorize`` answer that refuses and says why. It is falsy, like ``False``.

    The host fills in ``plugin`` with the name of the plugin that returned it, and journals both.
    """

    reason: str
    plugin: str = ""

    def __bool__(self) -> bool:
        return False


@attrs.frozen
class Entry:
    """One journal entry as a policy sees it (the chain's hashes left out)."""

    seq: int
    time: datetime
    kind: str
    actor: str
    subject: str
    body: Mapping[str, Any]


class SiteView:
    """The opened site's store, read-only: a policy can look at any table and the journal, never write.

    The connection is opened on first use with SQLite's ``mode=ro`` and ``query_only``, so even SQL a
    plugin writes itself cannot change evidence.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SiteView({self.path.name})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                   timeout=30)
            conn.execute("PRAGMA query_only = ON")
            conn.row_factory = sqlite3.Row
            self._conn = conn
        return self._conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a SELECT (at most MAX_ROWS); anything that would write is refused by SQLite."""
        with self._lock:
            cursor = self._connection().execute(sql, tuple(params))
            return [dict(row) for row in cursor.fetchmany(MAX_ROWS)]

    def rows(self, table: str, where: str = "", params: Sequence[Any] = (), order_by: str = "") -> list[dict[str, Any]]:
        """Rows of one table, e.g. ``view.rows("footage_requests", "id = ?", [7])``."""
        if not _IDENTIFIER.match(table):
            raise ValueError(f"not a table name: {table!r}")
        if order_by and not all(_IDENTIFIER.match(part.strip().removesuffix(" DESC").removesuffix(" desc"))
                                for part in order_by.split(",")):
            raise ValueError(f"not a column list: {order_by!r}")
        sql = f"SELECT * FROM [{table}]" + (f" WHERE {where}" if where else "")
        return self.query(sql + (f" ORDER BY {order_by}" if order_by else ""), params)

    def journal(self, subject: str | None = None, kind: str | None = None, actor: str | None = None,
                limit: int = MAX_ROWS) -> list[Entry]:
        """Journal entries matching all that is given, oldest first (the newest `limit` of them)."""
        clauses, params = [], []
        for column, value in (("subject", subject), ("kind", kind), ("actor", actor)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.query(f"SELECT seq, time_utc, kind, actor, subject, body FROM journal {where} "
                          f"ORDER BY seq DESC LIMIT ?", [*params, max(0, min(limit, MAX_ROWS))])
        return [Entry(row["seq"], datetime.fromisoformat(row["time_utc"]), row["kind"], row["actor"],
                      row["subject"], _body(row["body"])) for row in reversed(rows)]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _body(text: str) -> Mapping[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {"text": text}
    return body if isinstance(body, dict) else {"value": body}


@attrs.frozen
class ActionRequest:
    """What ``authorize`` is asked: who wants to do what to which resource, and that resource's history."""

    actor: str
    action: str
    resource: str
    view: SiteView = attrs.field(repr=False)

    @property
    def history(self) -> list[Entry]:
        """The journal entries about this resource (e.g. ``request-7``: requested, approved, ...), oldest first."""
        return self.view.journal(subject=self.resource)

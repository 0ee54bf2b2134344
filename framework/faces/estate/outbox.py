"""The appliance's outbox: what it will push to the estate, queued in its own store, in order.

Store-and-forward: `snapshot` queues the journal's new links and whatever changed in the verdicts,
open findings, inspection runs and published reports since the last queued item; `push` sends the
queue. An outage only makes the queue longer; nothing is dropped before the estate acknowledges it.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper.evidence.journal import Verification
from watchkeeper.faces.estate.protocol import digest
from watchkeeper.rules.verdicts import judge
from watchkeeper.site.app import App

#: A migration set of the estate link's own (applied when the appliance first pushes); never rename.
outbox_migrations = Migrations("watchkeeper-estate-outbox")
#: Journal links per head item: a site that was offline for months catches up in pieces.
LINKS_PER_HEAD = 5000
#: Acknowledged items are kept this long (a store restored from a backup can resend them), then pruned.
KEEP_ACKED = timedelta(days=30)
#: Inspection runs of the last days go in a summary.
RUN_DAYS = 7


@outbox_migrations()
def m001_outbox(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE estate_outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            digest TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            acked_at TEXT
        )""")
    db.execute("CREATE INDEX estate_outbox_kind ON estate_outbox (kind, seq)")


def ensure_outbox(app: App) -> None:
    outbox_migrations.apply(app.store.db)


def _last(app: App, kind: str) -> dict[str, Any] | None:
    row = app.store.conn.execute("SELECT body, digest FROM estate_outbox WHERE kind = ? ORDER BY seq DESC LIMIT 1",
                                 [kind]).fetchone()
    return None if row is None else {"body": json.loads(row[0]), "digest": row[1]}


def _rows(app: App, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = app.store.conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _head_items(app: App, verification: Verification | None) -> list[dict[str, Any]]:
    """The links since the last queued head, in pieces of LINKS_PER_HEAD, each piece a head."""
    last = _last(app, "head")
    after = last["body"]["seq"] if last else 0
    links = app.store.conn.execute("SELECT seq, prev_hash, hash, time_utc FROM journal WHERE seq > ? ORDER BY seq",
                                   [after]).fetchall()
    verified = None
    if verification is not None:
        verified = {"status": verification.status, "head_seq": verification.head_seq,
                    "reason": verification.problem.reason if verification.problem else ""}
    items = []
    for index in range(0, len(links), LINKS_PER_HEAD):
        piece = links[index:index + LINKS_PER_HEAD]
        items.append({"seq": piece[-1][0], "hash": piece[-1][2], "time": piece[-1][3], "key_id": app.journal.key_id,
                      "links": [[seq, prev, digest_] for seq, prev, digest_, _time in piece], "verified": verified})
    return items


def _today(app: App, moment: datetime) -> tuple[datetime, datetime]:
    local = moment.astimezone(app.site.zone).date()
    start = datetime.combine(local, time(), tzinfo=app.site.zone).astimezone(timezone.utc)
    return start, start + timedelta(days=1)


def snapshot(app: App, verification: Verification | None = None, moment: datetime | None = None) -> int:
    """Queue what changed since the last snapshot; returns how many items were queued."""
    ensure_outbox(app)
    moment = moment or datetime.now(timezone.utc)
    items: list[tuple[str, Any]] = [("head", body) for body in _head_items(app, verification)]
    start, end = _today(app, moment)
    verdicts = [verdict.to_dict() for verdict in judge(app, start, end, moment, verification)]
    items.append(("verdicts", {"start": start.isoformat(), "end": end.isoformat(), "site_name": app.site.name,
                               "time_zone": app.site.time_zone, "verdicts": verdicts}))
    items.append(("findings", {"open": _rows(app, "SELECT id, kind, subject, channel, severity, clause, reason,"
                                             " opened_at, last_seen_at FROM findings WHERE closed_at IS NULL"
                                             " ORDER BY id", [])}))
    if app.store.db["inspection_runs"].exists():
        since = (moment - timedelta(days=RUN_DAYS)).isoformat()
        items.append(("inspections", {"runs": _rows(
            app, "SELECT id, started_at, finished_at, cameras, ok, warning, fault, signed_by, signed_at"
                 " FROM inspection_runs WHERE finished_at IS NOT NULL AND started_at >= ? ORDER BY id", [since])}))
    last_report = _last(app, "reports")
    after = max((report["seq"] for report in last_report["body"]["reports"]), default=0) if last_report else 0
    published = _rows(app, "SELECT seq, body FROM journal WHERE subject = 'report' AND kind = 'operation' AND seq > ?"
                           " ORDER BY seq", [after])
    if published:
        items.append(("reports", {"reports": [{"seq": row["seq"], **json.loads(row["body"])} for row in published]}))
    queued = 0
    stamp = moment.isoformat(timespec="seconds")
    with app.store.transaction() as conn:
        for kind, body in items:
            item_digest = digest(kind, body)
            if kind != "head":  # a snapshot that says what the last one said is not queued again
                last = _last(app, kind)
                if last is not None and last["digest"] == item_digest:
                    continue
            conn.execute("INSERT INTO estate_outbox (kind, digest, body, created_at) VALUES (?, ?, ?, ?)",
                         [kind, item_digest, json.dumps(body, ensure_ascii=False, sort_keys=True), stamp])
            queued += 1
        conn.execute("DELETE FROM estate_outbox WHERE acked_at IS NOT NULL AND acked_at < ?",
                     [(moment - KEEP_ACKED).isoformat(timespec="seconds")])
    return queued


def pending(app: App, after: int, limit: int) -> list[dict[str, Any]]:
    """Unacknowledged items after seq `after`, oldest first, as the push sends them."""
    ensure_outbox(app)
    rows = _rows(app, "SELECT seq, kind, digest, body, created_at FROM estate_outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                 [after, limit])
    return [{**row, "body": json.loads(row["body"])} for row in rows]


def acknowledge(app: App, acked: int) -> None:
    with app.store.transaction() as conn:
        conn.execute("UPDATE estate_outbox SET acked_at = ? WHERE seq <= ? AND acked_at IS NULL",
                     [datetime.now(timezone.utc).isoformat(timespec="seconds"), acked])


def first_unacked(app: App) -> int:
    """The seq after which the push starts: the highest acknowledged item (0 when none is)."""
    ensure_outbox(app)
    row = app.store.conn.execute("SELECT max(seq) FROM estate_outbox WHERE acked_at IS NOT NULL").fetchone()
    return int(row[0] or 0)


def backlog(app: App) -> int:
    ensure_outbox(app)
    return int(app.store.conn.execute("SELECT count(*) FROM estate_outbox WHERE acked_at IS NULL").fetchone()[0])

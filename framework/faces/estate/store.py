"""The estate's own SQLite store: enrolled sites, every item they pushed, and what each item says now."""

from __future__ import annotations

import contextlib
import getpass
import json
import sqlite3
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper.core.i18n import _
from watchkeeper.evidence.store import StoreError, store_problem
from watchkeeper.faces.estate.protocol import HeadCheck, Tip, check_head, key_hash, key_matches, new_key

estate_migrations = Migrations("watchkeeper-estate")


@estate_migrations()
def m001_estate(db: sqlite_utils.Database) -> None:
    db["sites"].create({
        "id": str, "key_hash": str, "enrolled_at": str, "enrolled_by": str, "revoked_at": str,
        "acked": int, "tip_seq": int, "tip_hash": str, "key_id": str, "site_name": str, "time_zone": str,
        "last_push_at": str, "flag": str, "flag_status": str, "flagged_at": str}, pk="id", defaults={"acked": 0})
    db["items"].create({"site": str, "seq": int, "kind": str, "digest": str, "body": str, "created_at": str,
                        "received_at": str}, pk=("site", "seq"))
    db["items"].create_index(["site", "kind", "received_at"])
    db["heads"].create({"id": int, "site": str, "item": int, "seq": int, "hash": str, "time": str, "status": str,
                        "reason": str, "verified": str, "received_at": str}, pk="id")
    db["heads"].create_index(["site", "id"])
    db["verdicts"].create({"site": str, "clause": str, "status": str, "rule": str, "reason": str, "period_start": str,
                           "period_end": str, "evidence": str, "item": int}, pk=("site", "clause"))
    db["verdict_history"].create({"site": str, "item": int, "clause": str, "status": str, "period_start": str,
                                  "period_end": str, "received_at": str}, pk=("site", "item", "clause"))
    db["findings"].create({"site": str, "id": int, "kind": str, "subject": str, "channel": int, "severity": str,
                           "clause": str, "reason": str, "opened_at": str, "last_seen_at": str}, pk=("site", "id"))
    db["inspections"].create({"site": str, "id": int, "started_at": str, "finished_at": str, "cameras": int,
                              "ok": int, "warning": int, "fault": int, "signed_by": str, "signed_at": str},
                             pk=("site", "id"))
    db["reports"].create({"site": str, "seq": int, "period": str, "start": str, "end": str, "files": str,
                          "journal_head": str}, pk=("site", "seq"))
    db["refusals"].create({"id": int, "time": str, "remote": str, "site": str, "reason": str}, pk="id")
    db["events"].create({"id": int, "time": str, "actor": str, "action": str, "site": str, "reason": str}, pk="id")


class EnrolError(Exception):
    """An enrolment that cannot be done as asked (already enrolled, unknown site)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class EstateStore:
    """The estate's database; every write is one transaction (a push is stored whole or not at all)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # As the appliance's store: explicit transactions, WAL, and a push acknowledged only
            # once it would survive a power cut.
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.db = sqlite_utils.Database(self.conn)
            estate_migrations.apply(self.db)
        except (sqlite3.Error, OSError) as error:
            problem = store_problem(error, self.path)
            if problem is None:
                raise
            raise StoreError(f"estate store {self.path}: {problem} ({error})") from None

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    # --- enrolment -----------------------------------------------------------------------------

    def enrol(self, site_id: str, reason: str, rotate: bool = False) -> str:
        """A new key for the site, returned once; only its hash is kept. The OS account that ran the
        command is who enrolled it (the estate's operators are the accounts that can write its store)."""
        actor = getpass.getuser()
        with self.transaction():
            existing = self.rows("SELECT id, revoked_at FROM sites WHERE id = ?", [site_id])
            if existing and not rotate and not existing[0]["revoked_at"]:
                raise EnrolError(_("site {site} is already enrolled; --rotate issues a new key and retires the"
                                   " old one").format(site=site_id))
            key = new_key()
            if existing:
                self.db["sites"].update(site_id, {"key_hash": key_hash(key), "revoked_at": None})
            else:
                self.db["sites"].insert({"id": site_id, "key_hash": key_hash(key), "enrolled_at": now(),
                                         "enrolled_by": actor, "acked": 0})
            self._event(actor, "rotate" if existing else "enrol", site_id, reason)
        return key

    def revoke(self, site_id: str, reason: str) -> None:
        with self.transaction():
            if not self.rows("SELECT id FROM sites WHERE id = ?", [site_id]):
                raise EnrolError(_("no enrolled site {site}").format(site=site_id))
            self.db["sites"].update(site_id, {"revoked_at": now()})
            self._event(getpass.getuser(), "revoke", site_id, reason)

    def _event(self, actor: str, action: str, site_id: str, reason: str) -> None:
        self.db["events"].insert({"time": now(), "actor": actor, "action": action, "site": site_id, "reason": reason})

    # --- pushes ----------------------------------------------------------------------------------

    def authenticate(self, site_id: str, key: str) -> str | None:
        """Why a push's credentials are refused, or None when they are the site's current key."""
        row = self.rows("SELECT key_hash, revoked_at FROM sites WHERE id = ?", [site_id])
        if not row:
            return "unknown site"
        if row[0]["revoked_at"]:
            return "site key revoked"
        if not key or not key_matches(key, row[0]["key_hash"]):
            return "wrong site key"
        return None

    def refuse(self, remote: str, site_id: str, reason: str) -> None:
        with self.transaction():
            self.db["refusals"].insert({"time": now(), "remote": remote, "site": site_id[:64], "reason": reason})

    def acked(self, site_id: str) -> int:
        return int(self.conn.execute("SELECT acked FROM sites WHERE id = ?", [site_id]).fetchone()[0])

    def ingest(self, site_id: str, items: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """Store a push's items in order; returns the new ack and the problems found (flags raised).

        An item at or below the ack is a resend: the same digest is ignored, another is a rewritten
        outbox and flags the site. An item past a gap stops the batch there (the site resends)."""
        problems: list[str] = []
        received = now()
        with self.transaction():
            acked = self.acked(site_id)
            for item in items:
                seq = int(item["seq"])
                if seq <= acked:
                    held = self.conn.execute("SELECT digest FROM items WHERE site = ? AND seq = ?",
                                             [site_id, seq]).fetchone()
                    if held is not None and held[0] != item["digest"]:
                        problems.append(self._flag(site_id, "outbox_rewritten", _(
                            "outbox item {seq} was sent before with other content: the site's store was replaced"
                            " or rewritten").format(seq=seq)))
                    continue
                if seq != acked + 1 and not item.get("after_gap"):
                    break
                if seq != acked + 1:
                    problems.append(self._flag(site_id, "outbox_gap", _(
                        "outbox items {first}..{last} were lost on the site before they reached the estate").format(
                        first=acked + 1, last=seq - 1)))
                self.db["items"].insert({"site": site_id, "seq": seq, "kind": item["kind"], "digest": item["digest"],
                                         "body": json.dumps(item["body"], ensure_ascii=False),
                                         "created_at": item.get("created_at"), "received_at": received})
                problem = self._apply(site_id, seq, item["kind"], item["body"], received)
                if problem:
                    problems.append(problem)
                acked = seq
            self.db["sites"].update(site_id, {"acked": acked, "last_push_at": received})
        return acked, problems

    def _flag(self, site_id: str, status: str, reason: str) -> str:
        """A site's history no longer holds together: kept on the site until an operator clears it."""
        site = self.rows("SELECT flag FROM sites WHERE id = ?", [site_id])[0]
        if not site["flag"]:
            self.db["sites"].update(site_id, {"flag": reason, "flag_status": status, "flagged_at": now()})
        return reason

    def _apply(self, site_id: str, seq: int, kind: str, body: Any, received: str) -> str | None:
        if kind == "head":
            return self._head(site_id, seq, body, received)
        if kind == "verdicts":
            self.db["verdicts"].upsert_all(
                [{"site": site_id, "clause": v["clause"], "status": v["status"], "rule": v["rule"],
                  "reason": v["reason"], "period_start": body["start"], "period_end": body["end"],
                  "evidence": json.dumps(v.get("evidence", {})), "item": seq} for v in body["verdicts"]],
                pk=("site", "clause"))
            self.db["verdict_history"].insert_all(
                [{"site": site_id, "item": seq, "clause": v["clause"], "status": v["status"],
                  "period_start": body["start"], "period_end": body["end"], "received_at": received}
                 for v in body["verdicts"]], replace=True)
            self.db["sites"].update(site_id, {"site_name": body.get("site_name"), "time_zone": body.get("time_zone")})
        elif kind == "findings":
            self.conn.execute("DELETE FROM findings WHERE site = ?", [site_id])
            self.db["findings"].insert_all([{"site": site_id, **finding} for finding in body["open"]])
        elif kind == "inspections":
            self.db["inspections"].upsert_all([{"site": site_id, **run} for run in body["runs"]], pk=("site", "id"))
        elif kind == "reports":
            self.db["reports"].upsert_all(
                [{"site": site_id, "seq": r["seq"], "period": r["period"]["name"], "start": r["period"]["start"],
                  "end": r["period"]["end"], "files": json.dumps(r.get("files", [])),
                  "journal_head": json.dumps(r.get("journal_head"))} for r in body["reports"]], pk=("site", "seq"))
        return None

    def _head(self, site_id: str, seq: int, body: dict[str, Any], received: str) -> str | None:
        site = self.rows("SELECT tip_seq, tip_hash, key_id FROM sites WHERE id = ?", [site_id])[0]
        tip = Tip(site["tip_seq"], site["tip_hash"]) if site["tip_seq"] is not None else None
        check: HeadCheck = check_head(tip, site["key_id"], body)
        self.db["heads"].insert({"site": site_id, "item": seq, "seq": body.get("seq"), "hash": body.get("hash"),
                                 "time": body.get("time"), "status": check.status, "reason": check.reason,
                                 "verified": json.dumps(body.get("verified")), "received_at": received})
        update: dict[str, Any] = {}
        if check.tip is not None:
            update.update(tip_seq=check.tip.seq, tip_hash=check.tip.hash)
        if site["key_id"] is None and body.get("key_id"):
            update["key_id"] = body["key_id"]
        if update:
            self.db["sites"].update(site_id, update)
        if not check.ok:
            return self._flag(site_id, check.status, check.reason)
        verified = body.get("verified") or {}
        if verified.get("status", "ok") != "ok":  # the site's own verification against its anchor failed
            return self._flag(site_id, "site_" + str(verified["status"]), _(
                "the site's own journal check says {status}: {reason}").format(
                status=verified["status"], reason=verified.get("reason", "")))
        return None

    def clear_flag(self, site_id: str, reason: str) -> None:
        with self.transaction():
            if not self.rows("SELECT id FROM sites WHERE id = ?", [site_id]):
                raise EnrolError(_("no enrolled site {site}").format(site=site_id))
            self.db["sites"].update(site_id, {"flag": None, "flag_status": None, "flagged_at": None})
            self._event(getpass.getuser(), "clear_flag", site_id, reason)


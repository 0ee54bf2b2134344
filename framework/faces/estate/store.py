"""The estate's store: enrolled sites, every item they pushed, and what each item says now."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from watchkeeper.core.i18n import _
from watchkeeper.faces.estate.backend import Backend, open_backend
from watchkeeper.faces.estate.protocol import HeadCheck, Tip, canonical, check_head, key_hash, key_matches, new_key


class EnrolError(Exception):
    """An enrolment that cannot be done as asked (already enrolled, unknown site)."""


T = TypeVar("T")
#: Refusals of the same kind within this window are one row with a count.
REFUSAL_WINDOW = timedelta(minutes=1)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _insert(table: str, columns: tuple[str, ...], conflict: str = "", update: tuple[str, ...] = ()) -> str:
    """An INSERT of `columns`; with `conflict` (the key's columns) an upsert of `update`."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    if conflict:
        action = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)) if update else "DO NOTHING"
        sql += f" ON CONFLICT ({conflict}) {action}"
    return sql


ITEM = ("site", "seq", "kind", "digest", "body", "created_at", "received_at")
HEAD = ("site", "item", "seq", "hash", "time", "status", "reason", "verified", "received_at")
VERDICT = ("site", "clause", "status", "rule", "reason", "period_start", "period_end", "evidence", "item")
HISTORY = ("site", "item", "clause", "status", "period_start", "period_end", "received_at")
FINDING = ("site", "id", "kind", "subject", "channel", "severity", "clause", "reason", "opened_at", "last_seen_at")
RUN = ("site", "id", "started_at", "finished_at", "cameras", "ok", "warning", "fault", "signed_by", "signed_at")
REPORT = ("site", "seq", "period", "period_start", "period_end", "files", "journal_head")
PENDING = ("id", "time", "actor", "subject", "body", "journal_after")
SQL = {
    "item": _insert("items", ITEM),
    "head": _insert("heads", HEAD),
    "verdict": _insert("verdicts", VERDICT, "site, clause", VERDICT[2:]),
    "history": _insert("verdict_history", HISTORY, "site, item, clause", HISTORY[3:]),
    "finding": _insert("findings", FINDING),
    "run": _insert("inspections", RUN, "site, id", RUN[2:]),
    "report": _insert("reports", REPORT, "site, seq", REPORT[2:]),
}


def open_store(config: Any) -> EstateStore:
    """The store an EstateConfig names: its PostgreSQL database if it has one, else its SQLite file."""
    return EstateStore(config.store, config.database_url.reveal())


class EstateStore:
    """The estate's database; every write is one transaction (a push is stored whole or not at all)."""

    def __init__(self, path: Path, database_url: str = "") -> None:
        self.backend: Backend = open_backend(Path(path), database_url)
        self.rows, self.scalar = self.backend.rows, self.backend.scalar

    def close(self) -> None:
        self.backend.close()

    def _execute(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Any:
        return self.backend.execute(sql, params)

    def _update_site(self, site_id: str, **values: Any) -> None:
        self._execute(f"UPDATE sites SET {', '.join(f'{name} = ?' for name in values)} WHERE id = ?",
                      [*values.values(), site_id])

    # --- enrolment -----------------------------------------------------------------------------

    def enrol(self, site_id: str, actor: str, rotate: bool = False) -> str:
        """A new key for the site, returned once; only its hash is kept. Who did it and why goes to the
        estate's journal (`EstateApp.act`), which calls this inside its transaction."""
        with self.backend.transaction():
            existing = self.rows("SELECT id, revoked_at FROM sites WHERE id = ?", [site_id])
            if existing and not rotate and not existing[0]["revoked_at"]:
                raise EnrolError(_("site {site} is already enrolled; --rotate issues a new key and retires the"
                                   " old one").format(site=site_id))
            key = new_key()
            if existing:
                self._update_site(site_id, key_hash=key_hash(key), revoked_at=None)
            else:
                self._execute("INSERT INTO sites (id, key_hash, enrolled_at, enrolled_by, acked) VALUES (?, ?, ?, ?, 0)",
                              [site_id, key_hash(key), now(), actor])
        return key

    def enrolled(self, site_id: str) -> bool:
        return bool(self.rows("SELECT id FROM sites WHERE id = ? AND revoked_at IS NULL", [site_id]))

    def revoke(self, site_id: str) -> None:
        with self.backend.transaction():
            self._known(site_id)
            self._update_site(site_id, revoked_at=now())

    def clear_flag(self, site_id: str) -> None:
        with self.backend.transaction():
            self._known(site_id)
            self._update_site(site_id, flag=None, flag_status=None, flagged_at=None)

    def _known(self, site_id: str) -> None:
        if not self.rows("SELECT id FROM sites WHERE id = ?", [site_id]):
            raise EnrolError(_("no enrolled site {site}").format(site=site_id))

    # --- journal entries held with the action they tell of (EstateApp.act) ----------------------

    def with_entry(self, change: Callable[[], T], entry: dict[str, Any]) -> T:
        """`change` and its journal entry, held in `journal_pending`, in one transaction: both or neither."""
        with self.backend.transaction():
            result = change()
            self._execute(_insert("journal_pending", PENDING), [entry[column] for column in PENDING])
        return result

    def held_entries(self) -> list[dict[str, Any]]:
        return self.rows(f"SELECT {', '.join(PENDING)} FROM journal_pending ORDER BY time, id")

    def drop_entry(self, entry_id: str) -> None:
        self._execute("DELETE FROM journal_pending WHERE id = ?", [entry_id])

    def old_events(self) -> list[dict[str, Any]]:
        """The plain `events` rows an estate kept before its journal (imported into it once)."""
        return self.rows("SELECT id, time, actor, action, site, reason FROM events ORDER BY id")

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
        with self.backend.transaction():
            self.refusal(remote, site_id, reason)

    def refusal(self, remote: str, site_id: str, reason: str) -> bool:
        """Keep a refused push (inside the caller's transaction); True when it is the first of its kind
        (address, site, reason) this minute. Repeats are counted on that row, so a client guessing
        keys grows a counter, not the table."""
        moment = datetime.now(timezone.utc)
        row = self.scalar("SELECT id FROM refusals WHERE remote = ? AND site = ? AND reason = ? AND time >= ?"
                          " ORDER BY id DESC LIMIT 1", [remote, site_id[:64], reason,
                                                        (moment - REFUSAL_WINDOW).isoformat(timespec="seconds")])
        stamp = moment.isoformat(timespec="seconds")
        if row is not None:
            self._execute("UPDATE refusals SET count = count + 1, last_time = ? WHERE id = ?", [stamp, row])
            return False
        self._execute("INSERT INTO refusals (time, remote, site, reason, count, last_time) VALUES (?, ?, ?, ?, 1, ?)",
                      [stamp, remote, site_id[:64], reason, stamp])
        return True

    def batch(self, parts: list[Callable[[EstateStore], Any]]) -> list[Any]:
        """Run several writers' parts in one transaction, so one fsync makes them all durable (group
        commit); each part in a savepoint, so one that fails is undone alone and its error returned."""
        results: list[Any] = []
        with self.backend.transaction():
            for part in parts:
                try:
                    with self.backend.savepoint():
                        results.append(part(self))
                except Exception as error:  # handed to that part's caller; the others commit
                    results.append(error)
        return results

    def acked(self, site_id: str) -> int:
        return int(self.scalar("SELECT acked FROM sites WHERE id = ?", [site_id]))

    def site_state(self, site_id: str) -> dict[str, Any]:
        """What a push is checked against, read once per push: its ack, chain tip, key id and flag."""
        return self.rows("SELECT acked, tip_seq, tip_hash, key_id, flag FROM sites WHERE id = ?", [site_id])[0]

    def ingest(self, site_id: str, items: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """Store a push's items in order; returns the new ack and the problems found (flags raised).

        An item at or below the ack is a resend: the same digest is ignored, another is a rewritten
        outbox and flags the site. An item past a gap stops the batch there (the site resends)."""
        with self.backend.transaction():
            return self.ingest_part(site_id, items)

    def ingest_part(self, site_id: str, items: list[dict[str, Any]],
                    state: dict[str, Any] | None = None) -> tuple[int, list[str]]:
        """`ingest` inside the caller's transaction. `state` is `site_state` when the caller has read it.

        The site's row is read once and written once per push (its ack, tip, name and any flag together):
        at a hundred sites a minute each, the statements per push are most of the estate's write cost."""
        problems: list[str] = []
        received = now()
        state = dict(state) if state is not None else self.site_state(site_id)
        update: dict[str, Any] = {}
        acked = int(state["acked"])
        for item in items:
            seq = int(item["seq"])
            if seq <= acked:
                held = self.scalar("SELECT digest FROM items WHERE site = ? AND seq = ?", [site_id, seq])
                if held is not None and held != item["digest"]:
                    problems.append(self._flag(state, update, "outbox_rewritten", _(
                        "outbox item {seq} was sent before with other content: the site's store was replaced"
                        " or rewritten").format(seq=seq)))
                continue
            if seq != acked + 1 and not item.get("after_gap"):
                break
            if seq != acked + 1:
                problems.append(self._flag(state, update, "outbox_gap", _(
                    "outbox items {first}..{last} were lost on the site before they reached the estate").format(
                    first=acked + 1, last=seq - 1)))
            # The canonical text the digest was checked against (the server's), else made here.
            text = item.get("text") or canonical(item["body"])
            self._execute(SQL["item"], [site_id, seq, item["kind"], item["digest"], text, item.get("created_at"),
                                        received])
            problem = self._apply(site_id, seq, item["kind"], item["body"], received, state, update)
            if problem:
                problems.append(problem)
            acked = seq
        self._update_site(site_id, acked=acked, last_push_at=received, **update)
        return acked, problems

    @staticmethod
    def _flag(state: dict[str, Any], update: dict[str, Any], status: str, reason: str) -> str:
        """A site's history no longer holds together: kept on the site until an operator clears it."""
        if not state["flag"]:
            state["flag"] = reason
            update.update(flag=reason, flag_status=status, flagged_at=now())
        return reason

    def _apply(self, site_id: str, seq: int, kind: str, body: Any, received: str, state: dict[str, Any],
               update: dict[str, Any]) -> str | None:
        many = self.backend.executemany
        if kind == "head":
            return self._head(site_id, seq, body, received, state, update)
        if kind == "verdicts":
            verdicts = body["verdicts"]
            many(SQL["verdict"], [(site_id, v["clause"], v["status"], v["rule"], v["reason"], body["start"],
                                   body["end"], json.dumps(v.get("evidence", {})), seq) for v in verdicts])
            many(SQL["history"], [(site_id, seq, v["clause"], v["status"], body["start"], body["end"], received)
                                  for v in verdicts])
            update.update(site_name=body.get("site_name"), time_zone=body.get("time_zone"))
        elif kind == "findings":
            self._execute("DELETE FROM findings WHERE site = ?", [site_id])
            many(SQL["finding"], [(site_id, *(f.get(c) for c in FINDING[1:])) for f in body["open"]])
        elif kind == "inspections":
            many(SQL["run"], [(site_id, *(run.get(c) for c in RUN[1:])) for run in body["runs"]])
        elif kind == "reports":
            many(SQL["report"], [(site_id, r["seq"], r["period"]["name"], r["period"]["start"], r["period"]["end"],
                                  json.dumps(r.get("files", [])), json.dumps(r.get("journal_head")))
                                 for r in body["reports"]])
        return None

    def _head(self, site_id: str, seq: int, body: dict[str, Any], received: str, state: dict[str, Any],
              update: dict[str, Any]) -> str | None:
        tip = Tip(state["tip_seq"], state["tip_hash"]) if state["tip_seq"] is not None else None
        check: HeadCheck = check_head(tip, state["key_id"], body)
        self._execute(SQL["head"], [site_id, seq, body.get("seq"), body.get("hash"), body.get("time"), check.status,
                                    check.reason, json.dumps(body.get("verified")), received])
        if check.tip is not None:  # the state too: a second head in the same push is judged against this one
            state.update(tip_seq=check.tip.seq, tip_hash=check.tip.hash)
            update.update(tip_seq=check.tip.seq, tip_hash=check.tip.hash)
        if state["key_id"] is None and body.get("key_id"):
            state["key_id"] = update["key_id"] = body["key_id"]
        if not check.ok:
            return self._flag(state, update, check.status, check.reason)
        verified = body.get("verified") or {}
        if verified.get("status", "ok") != "ok":  # the site's own verification against its anchor failed
            return self._flag(state, update, "site_" + str(verified["status"]), _(
                "the site's own journal check says {status}: {reason}").format(
                status=verified["status"], reason=verified.get("reason", "")))
        return None

"""Open findings across runs: a fault seen again is the same finding; a fault gone is closed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from watchkeeper.core.findings import Finding
from watchkeeper.core.i18n import Text, stored_text
from watchkeeper.evidence.store import Store

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class FindingStore:
    """Opens, refreshes and closes findings in the `findings` table and fires `on_finding`."""

    def __init__(self, store: Store, announce: Callable[[Finding, bool], None] | None = None) -> None:
        """`announce(finding, opened)` tells the plugins (the opened site passes its `on_finding`)."""
        self.store, self.announce = store, announce

    def _open_row(self, kind: str, subject: str, channel: int | None) -> dict[str, Any] | None:
        cursor = self.store.conn.execute(
            "SELECT * FROM findings WHERE kind = ? AND subject = ? AND channel IS ? AND closed_at IS NULL",
            [kind, subject, channel])
        row = cursor.fetchone()
        return dict(zip([c[0] for c in cursor.description], row)) if row else None

    def record(self, finding: Finding) -> bool:
        """Record a finding; returns True if it is new (and was announced), False if already open."""
        existing = self._open_row(str(finding.kind), finding.subject, finding.channel)
        with self.store.transaction() as conn:
            if existing:
                conn.execute("UPDATE findings SET last_seen_at = ?, reason = ?, measured = ? WHERE id = ?",
                             [_now(), str(finding.reason), _text(finding.measured), existing["id"]])
                if isinstance(finding.reason, Text):
                    conn.execute("UPDATE findings SET details = json_set(COALESCE(details, '{}'), '$.reason_msg',"
                                 " json(?)) WHERE id = ?", [json.dumps(finding.reason.to_json()), existing["id"]])
                return False
            conn.execute(
                "INSERT INTO findings (kind, subject, channel, severity, clause, reason, measured, threshold,"
                " details, opened_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [str(finding.kind), finding.subject, finding.channel, str(finding.severity), finding.clause,
                 str(finding.reason), _text(finding.measured), _text(finding.threshold),
                 json.dumps(_details(finding), default=str), finding.observed_at.isoformat(), _now()])
        self._announce(finding, opened=True)
        return True

    def close(self, kind: str, subject: str, channel: int | None = None) -> bool:
        """Close an open finding; returns True if there was one."""
        existing = self._open_row(str(kind), subject, channel)
        if not existing:
            return False
        with self.store.transaction() as conn:
            conn.execute("UPDATE findings SET closed_at = ? WHERE id = ?", [_now(), existing["id"]])
        self._announce(Finding(kind=kind, subject=subject, reason=existing["reason"], channel=channel), opened=False)
        return True

    def get(self, finding_id: int) -> dict[str, Any]:
        """One finding by id, open or closed; KeyError naming the id if there is none."""
        cursor = self.store.conn.execute("SELECT * FROM findings WHERE id = ?", [finding_id])
        row = cursor.fetchone()
        if row is None:
            raise KeyError(f"no finding {finding_id}")
        return dict(zip([c[0] for c in cursor.description], row))

    def close_id(self, finding_id: int) -> bool:
        """Close one finding by id (a person's disposal); returns False if it was already closed."""
        row = self.get(finding_id)
        if row["closed_at"] is not None:
            return False
        with self.store.transaction() as conn:
            conn.execute("UPDATE findings SET closed_at = ? WHERE id = ?", [_now(), finding_id])
        self._announce(Finding(kind=row["kind"], subject=row["subject"], reason=row["reason"],
                               channel=row["channel"]), opened=False)
        return True

    def reconcile(self, scope: Iterable[tuple[str, str, int | None]], seen: Iterable[Finding]) -> None:
        """Record what was seen; close what was checked (scope: kind, subject, channel) and not seen."""
        seen = list(seen)
        for finding in seen:
            self.record(finding)
        present = {(str(f.kind), f.subject, f.channel) for f in seen}
        for kind, subject, channel in scope:
            if (str(kind), subject, channel) not in present:
                self.close(kind, subject, channel)

    def open_findings(self) -> list[dict[str, Any]]:
        cursor = self.store.conn.execute("SELECT * FROM findings WHERE closed_at IS NULL ORDER BY opened_at")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def _announce(self, finding: Finding, opened: bool) -> None:
        if self.announce is not None:
            self.announce(finding, opened)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _details(finding: Finding) -> dict[str, Any]:
    # The reason is stored in English (the evidence, as written) and as msgid + params, so a reader
    # in another language reads it in theirs, whatever language the writer's process ran in.
    if isinstance(finding.reason, Text):
        return {**finding.details, "reason_msg": finding.reason.to_json()}
    return finding.details


def reason_of(row: dict[str, Any]) -> str:
    """A stored finding's reason in the current language (docs/glossary.md: how reasons are stored)."""
    details = row.get("details")
    try:
        stored = json.loads(details).get("reason_msg") if isinstance(details, str) else (details or {}).get("reason_msg")
    except (ValueError, AttributeError):
        stored = None
    return stored_text(row.get("reason"), stored)

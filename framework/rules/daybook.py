"""The daily monitoring journal (R6): every site day has operation and inspection entries and is
closed by the duty operator's signed daily summary; the chain verifies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from watchkeeper import hookimpl
from watchkeeper.core.i18n import _
from watchkeeper.rules.verdicts import Item, days, decide
from watchkeeper.site.config import placeholder_problem
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext

#: Kinds a site day must have at least one entry of.
DAILY_KINDS = ("operation", "inspection")


def day_bounds(app: Any, day: date) -> tuple[datetime, datetime]:
    zone = app.site.zone
    return (datetime.combine(day, time(), tzinfo=zone).astimezone(timezone.utc),
            datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(timezone.utc))


def summary_of(app: Any, day: date, until: datetime | None = None) -> dict[str, Any] | None:
    """The journal entry closing `day`, if one was written (before `until`)."""
    sql = ("SELECT seq, time_utc, actor, body FROM journal WHERE kind = 'operation' AND subject = ?"
           " AND json_extract(body, '$.daily_summary.day') = ?")
    params: list[Any] = [f"day-{day.isoformat()}", day.isoformat()]
    if until is not None:
        sql += " AND time_utc < ?"
        params.append(until.isoformat())
    row = app.store.conn.execute(sql + " ORDER BY seq LIMIT 1", params).fetchone()
    return None if row is None else {"seq": row[0], "time_utc": row[1], "actor": row[2], "body": json.loads(row[3])}


def close_day(app: Any, actor: str, text: str, day: date | None = None) -> int:
    """The duty operator's signed summary closing a site day (today by default); returns its seq."""
    today = datetime.now(timezone.utc).astimezone(app.site.zone).date()
    day = day or today
    app.require(actor, "journal.close_day", f"day-{day.isoformat()}")
    if day > today:
        raise ValueError(f"{day.isoformat()} has not begun; a day is closed on or after it")
    problem = placeholder_problem(text)
    if problem:
        raise ValueError(f"the daily summary {problem}")
    existing = summary_of(app, day)
    if existing is not None:
        raise ValueError(f"{day.isoformat()} was already closed by {existing['actor']} (entry {existing['seq']})")
    start, end = day_bounds(app, day)
    counts = dict(app.store.conn.execute(
        "SELECT kind, count(*) FROM journal WHERE time_utc >= ? AND time_utc < ? GROUP BY kind",
        [start.isoformat(), end.isoformat()]).fetchall())
    head = app.store.conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    row = app.journal.append("operation", actor, f"day-{day.isoformat()}", {"daily_summary": {
        "day": day.isoformat(), "text": text, "entries": counts,
        "head": {"seq": head[0], "hash": head[1]} if head else None}})
    return int(row["seq"])


def verdict(context: VerdictContext) -> Verdict:
    """R6: the chain verifies, and each site day that ended has its entries and its signed summary."""
    app = context.app
    evidence, breaches, missing = Evidence(), [], []
    verification = context.verification if context.verification is not None else app.journal.verify()
    if not verification.ok and verification.problem is not None:
        breaches.append(Item("R6.journal_broken", _("journal broken at entry {seq}: {reason}").format(
            seq=verification.problem.seq, reason=verification.problem.reason)))
    for slot in days(context):
        day = date.fromisoformat(slot.label)
        firsts = {kind: app.store.conn.execute(
            "SELECT min(seq) FROM journal WHERE kind = ? AND time_utc >= ? AND time_utc < ?",
            [kind, slot.start.isoformat(), min(slot.end, context.until).isoformat()]).fetchone()[0]
            for kind in DAILY_KINDS}
        summary = summary_of(app, day, context.until)
        lacking = [_("no {kind} entry").format(kind=kind) for kind, seq in firsts.items() if seq is None]
        if summary is None:
            lacking.append(_("not closed by a signed daily summary"))
        if not lacking and summary is not None:
            evidence.add("journal", *[seq for seq in firsts.values() if seq is not None], summary["seq"])
        elif slot.due:
            missing.append(Item("R6.day_incomplete", _("{day}: {lacking}").format(day=slot.label,
                                                                                  lacking=", ".join(lacking))))
    return decide(context, evidence, breaches, missing, _("every site day journaled and closed"))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R6", verdict, "each day's entries and signed summary; the chain verifies"))

"""Supervision and periodic evaluation (R10): a supervisor reads a period's report and signs it.

A review names the journaled report it was made on (its files' hashes and the journal head it
certifies), the supervisor's comments and the actions decided. Reviews fall due every
`policies.review_interval_days` (30 by default) from commissioning; the `review` check raises
`review_overdue` when none was signed in time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.verdicts import Item, decide, local
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.config import placeholder_problem
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext

migrations = Migrations("watchkeeper.review")


@migrations()
def m001_reviews(db: sqlite_utils.Database) -> None:
    db["reviews"].create({
        "id": int, "report_seq": int, "period_name": str, "period_start": str, "period_end": str, "files": str,
        "signed_by": str, "signed_at": str, "comments": str, "actions": str}, pk="id")
    db["reviews"].create_index(["signed_at"])


def report_entry(app: Any, seq: int | None = None) -> dict[str, Any]:
    """A journaled report (the newest by default): the entry `publish` wrote for it."""
    sql = "SELECT seq, time_utc, body FROM journal WHERE kind = 'operation' AND subject = 'report'"
    row = app.store.conn.execute(sql + (" AND seq = ?" if seq is not None else " ORDER BY seq DESC LIMIT 1"),
                                 [seq] if seq is not None else []).fetchone()
    if row is None:
        raise KeyError(f"no journaled report{'' if seq is None else f' at entry {seq}'}; write one with `watchkeeper report`")
    return {"seq": row[0], "time_utc": row[1], "body": json.loads(row[2])}


def sign(app: Any, actor: str, report_seq: int, comments: str, actions: list[str]) -> int:
    """Record a supervisor's review of a journaled report with comments and actions; returns its id."""
    entry = report_entry(app, report_seq)
    app.require(actor, "review.sign", f"report-{report_seq}")
    problem = placeholder_problem(comments)
    if problem:
        raise ValueError(f"a review needs the supervisor's comments: {problem}")
    body = entry["body"]
    review_id = app.store.db["reviews"].insert({
        "report_seq": report_seq, "period_name": body["period"]["name"], "period_start": body["period"]["start"],
        "period_end": body["period"]["end"], "files": json.dumps(body.get("files", [])), "signed_by": actor,
        "signed_at": datetime.now(timezone.utc).isoformat(), "comments": comments,
        "actions": json.dumps(actions, ensure_ascii=False)}).last_pk
    app.journal.append("operation", actor, f"review-{review_id}", {"review": {
        "report": report_seq, "period": body["period"], "files": body.get("files", []),
        "journal_head": body.get("journal_head"), "comments": comments, "actions": actions}})
    return review_id


def reviews(app: Any) -> list[dict[str, Any]]:
    return [dict(row, actions=json.loads(row["actions"] or "[]"), files=json.loads(row["files"] or "[]"))
            for row in app.store.db["reviews"].rows_where(order_by="id")]


def _last_signed(app: Any, before: datetime) -> str | None:
    row = app.store.conn.execute("SELECT max(signed_at) FROM reviews WHERE signed_at < ?", [before.isoformat()]).fetchone()
    return row[0]


async def check_review(context: CheckContext) -> CheckResult:
    """`review_overdue` once the interval since the last review (or commissioning) has passed."""
    app, result = context.app, CheckResult()
    interval = timedelta(days=app.site.policies.review_interval_days)
    result.evaluated([FindingKind.REVIEW_OVERDUE], "site")
    last = _last_signed(app, context.now)
    since = datetime.fromisoformat(last) if last else app.commissioned_at()
    if context.now - since > interval:
        when = local_text(app, since)
        result.findings.append(Finding(
            FindingKind.REVIEW_OVERDUE, "site",
            N_("no review since {time}; one is due every {days} days", time=when, days=interval.days) if last else
            N_("no review since commissioning on {time}; one is due every {days} days", time=when, days=interval.days),
            measured=round((context.now - since).total_seconds() / 86400, 1), threshold=float(interval.days)))
    result.summary = {"last_review": last}
    return result


def local_text(app: Any, moment: datetime) -> str:
    return moment.astimezone(app.site.zone).strftime("%Y-%m-%d %H:%M")


def verdict(context: VerdictContext) -> Verdict:
    """R10: a supervisor signed a review within the review interval before the period's end."""
    interval = timedelta(days=context.app.site.policies.review_interval_days)
    evidence, missing = Evidence(), []
    window = [min(context.since, context.until - interval).isoformat(), context.until.isoformat()]
    signed = context.rows("SELECT id, report_seq, signed_at FROM reviews WHERE signed_at >= ? AND signed_at < ?"
                          " ORDER BY id", window)
    evidence.extend("reviews", [row["id"] for row in signed])
    evidence.extend("journal", [row["report_seq"] for row in signed])
    if signed:
        marks = ",".join("?" for _row in signed)
        evidence.extend("journal", [seq for (seq,) in context.app.store.conn.execute(
            f"SELECT seq FROM journal WHERE kind = 'operation' AND subject IN ({marks})",
            [f"review-{row['id']}" for row in signed])])
    if not signed:
        last = _last_signed(context.app, context.until)
        missing.append(Item("R10.no_review", _("no review signed in the {days} days before {end}{last}").format(
            days=interval.days, end=local(context, context.until),
            last=_("; last on {when}").format(when=local(context, last)) if last else "")))
    return decide(context, evidence, (), missing, _("a supervisor reviewed the report in time"))


@hookimpl
def register_checks(register: Any) -> None:
    register(Check("review", "R10", check_review, "a supervisor reviews the report every interval"))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R10", verdict, "reviews signed by a supervisor within the interval"))


@hookimpl
def register_migrations(register: Any) -> None:
    register(migrations)

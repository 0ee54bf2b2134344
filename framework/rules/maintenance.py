"""Room care (R4): the regulation's checklist, each tick by the person who did it; overdue is a finding.

Daily: the wipe-down (小擦), ventilation, nothing unrelated stored; weekly: the thorough clean
(大扫), which counts only once a supervisor other than the person who did it has countersigned.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.verdicts import Item, Slot, days, decide, weeks
from watchkeeper.site.app import App, Refused
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext
from watchkeeper.core.findings import Finding, FindingKind

migrations = Migrations("watchkeeper.maintenance")

#: How long a task may go unticked before it is overdue: its period plus a grace for late shifts.
PERIODS = {"daily": timedelta(hours=26), "weekly": timedelta(days=7, hours=2)}


@migrations()
def m001_ticks(db: sqlite_utils.Database) -> None:
    db["maintenance_ticks"].create({"id": int, "task": str, "done_by": str, "done_at": str, "note": str}, pk="id")
    db["maintenance_ticks"].create_index(["task", "done_at"])


@migrations()
def m002_countersign(db: sqlite_utils.Database) -> None:
    db["maintenance_ticks"].add_column("countersigned_by", str)
    db["maintenance_ticks"].add_column("countersigned_at", str)


#: A tick counts (for the overdue check and the verdict) when its task needs no countersignature or has one.
VALID_TICK = "(? = 0 OR countersigned_by IS NOT NULL)"


@attrs.frozen
class TaskState:
    id: str
    title: str
    every: str
    last_done_at: datetime | None
    last_done_by: str | None
    overdue: bool


def states(app: App, now: datetime) -> list[TaskState]:
    result = []
    commissioned = app.commissioned_at()
    for task in app.site.maintenance:
        row = app.store.conn.execute(
            f"SELECT done_at, done_by FROM maintenance_ticks WHERE task = ? AND {VALID_TICK}"
            " ORDER BY done_at DESC LIMIT 1", [task.id, int(task.countersign)]).fetchone()
        done_at = datetime.fromisoformat(row[0]) if row else None
        # A task never done is overdue one period after the site was commissioned, not before.
        overdue = now - (done_at or commissioned) > PERIODS[task.every]
        result.append(TaskState(task.id, task.title, task.every, done_at, row[1] if row else None, overdue))
    return result


def tick(app: App, actor: str, task_id: str, note: str = "", at: datetime | None = None) -> int:
    """Record a task as done by actor, the person who did it; journaled as kind `maintenance`."""
    if task_id not in {task.id for task in app.site.maintenance}:
        raise KeyError(f"no maintenance task {task_id!r}; tasks: {', '.join(t.id for t in app.site.maintenance)}")
    app.require(actor, "maintenance.tick", task_id, kind="maintenance")
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    tick_id = app.store.db["maintenance_ticks"].insert({"task": task_id, "done_by": actor,
                                                        "done_at": moment.isoformat(), "note": note}).last_pk
    assert tick_id is not None  # an insert always has a key
    app.journal.append("maintenance", actor, task_id, {"done": task_id, "tick": tick_id, "note": note}, at=moment)
    return tick_id


def countersign(app: Any, actor: str, tick_id: int, note: str = "", at: datetime | None = None) -> None:
    """A supervisor confirms a tick that needs it; never the person who did the task (R4)."""
    rows = list(app.store.db["maintenance_ticks"].rows_where("id = ?", [tick_id]))
    if not rows:
        raise KeyError(f"no maintenance tick {tick_id}")
    row = rows[0]
    app.require(actor, "maintenance.countersign", f"tick-{tick_id}", kind="maintenance")
    if row["done_by"] == actor:
        app.journal.append("maintenance", actor, f"tick-{tick_id}", {"refused": "countersign own tick"})
        raise Refused(N_("{actor} did task {task} and may not also countersign it", actor=actor, task=row["task"]))
    if row["countersigned_by"]:
        raise ValueError(f"tick {tick_id} was already countersigned by {row['countersigned_by']}")
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    app.store.db["maintenance_ticks"].update(tick_id, {"countersigned_by": actor, "countersigned_at": moment.isoformat()})
    app.journal.append("maintenance", actor, row["task"], {"countersigned": tick_id, "done_by": row["done_by"],
                                                          "note": note}, at=moment)


async def check_maintenance(context: CheckContext) -> CheckResult:
    result = CheckResult()
    for state in states(context.app, context.now):
        result.evaluated([FindingKind.MAINTENANCE_OVERDUE], state.id)
        if state.overdue:
            when = (N_("last done {time}", time=state.last_done_at.astimezone(context.app.site.zone).strftime("%Y-%m-%d %H:%M"))
                    if state.last_done_at else N_("never done"))
            title = N_(state.title)
            why = (N_("daily task '{title}' is overdue ({when})", title=title, when=when) if state.every == "daily"
                   else N_("weekly task '{title}' is overdue ({when})", title=title, when=when))
            result.findings.append(Finding(FindingKind.MAINTENANCE_OVERDUE, state.id, why))
    result.summary = {"tasks": len(context.app.site.maintenance)}
    return result


def verdict(context: VerdictContext) -> Verdict:
    """R4: each daily task ticked every site day, each weekly one ticked (and countersigned) every week."""
    evidence, missing = Evidence(), []
    ticks = context.rows("SELECT * FROM maintenance_ticks WHERE done_at >= ? AND done_at < ? ORDER BY done_at",
                         [(context.start - timedelta(days=7)).isoformat(), context.until.isoformat()])
    until = context.until.isoformat()
    for task in context.app.site.maintenance:
        slots: list[Slot] = days(context) if task.every == "daily" else weeks(context)
        for slot in slots:
            ticked = [t for t in ticks if t["task"] == task.id
                      and slot.start.isoformat() <= t["done_at"] < slot.end.isoformat()]
            # A tick needing a countersignature counts once it has one, given before the period's end.
            done = [t for t in ticked if not task.countersign
                    or (t["countersigned_at"] is not None and t["countersigned_at"] < until)]
            evidence.extend("maintenance_ticks", [t["id"] for t in done])
            if slot.due and not done:
                what = _("not countersigned") if ticked else _("not ticked")
                missing.append(Item("R4.slot_without_tick", _("{task} {slot}: {what}").format(
                    task=task.id, slot=slot.label, what=what)))
    return decide(context, evidence, (), missing, _("every checklist task done when due"))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R4", verdict, "checklist ticks per day and week, weekly ones countersigned"))


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(Check("maintenance", "R4", check_maintenance, "room checklist tasks done on time"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)

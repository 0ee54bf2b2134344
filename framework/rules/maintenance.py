"""Room maintenance (R4): daily and weekly checklist tasks ticked by staff; overdue is a finding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.site.app import App
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.core.findings import Finding, FindingKind

migrations = Migrations("watchkeeper.maintenance")

#: How long a task may go unticked before it is overdue: its period plus a grace for late shifts.
PERIODS = {"daily": timedelta(hours=26), "weekly": timedelta(days=7, hours=2)}


@migrations()
def m001_ticks(db: sqlite_utils.Database) -> None:
    db["maintenance_ticks"].create({"id": int, "task": str, "done_by": str, "done_at": str, "note": str}, pk="id")
    db["maintenance_ticks"].create_index(["task", "done_at"])


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
            "SELECT done_at, done_by FROM maintenance_ticks WHERE task = ? ORDER BY done_at DESC LIMIT 1",
            [task.id]).fetchone()
        done_at = datetime.fromisoformat(row[0]) if row else None
        # A task never done is overdue one period after the site was commissioned, not before.
        overdue = now - (done_at or commissioned) > PERIODS[task.every]
        result.append(TaskState(task.id, task.title, task.every, done_at, row[1] if row else None, overdue))
    return result


def tick(app: App, actor: str, task_id: str, note: str = "", at: datetime | None = None) -> None:
    """Record a task as done by actor; journaled as kind `maintenance`."""
    if task_id not in {task.id for task in app.site.maintenance}:
        raise KeyError(f"no maintenance task {task_id!r}; tasks: {', '.join(t.id for t in app.site.maintenance)}")
    app.require(actor, "maintenance.tick", task_id, kind="maintenance")
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    app.store.db["maintenance_ticks"].insert({"task": task_id, "done_by": actor, "done_at": moment.isoformat(),
                                              "note": note})
    app.journal.append("maintenance", actor, task_id, {"done": task_id, "note": note}, at=moment)


async def check_maintenance(context: CheckContext) -> CheckResult:
    result = CheckResult()
    for state in states(context.app, context.now):
        result.evaluated([FindingKind.MAINTENANCE_OVERDUE], state.id)
        if state.overdue:
            when = (f"last done {state.last_done_at.astimezone(context.app.site.zone):%Y-%m-%d %H:%M}"
                    if state.last_done_at else "never done")
            result.findings.append(Finding(FindingKind.MAINTENANCE_OVERDUE, state.id,
                                           f"{state.every} task '{state.title}' is overdue ({when})"))
    result.summary = {"tasks": len(context.app.site.maintenance)}
    return result


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(Check("maintenance", "R4", check_maintenance, "room checklist tasks done on time"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)

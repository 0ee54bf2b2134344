"""Findings have owners: acknowledge, assign, fix notes, close with a reason, and escalation (R5, R9)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.core.findings import KIND_TITLES, Finding, FindingKind, Severity
from watchkeeper.core.i18n import N_, _
from watchkeeper.site.app import Refused
from watchkeeper.site.checks import Check, CheckContext, CheckResult

migrations = Migrations("watchkeeper.ownership")

#: Findings about what people did or failed to do: no later check can see them fixed, so only a
#: person closes them, with a reason. Device findings close themselves when the next check no
#: longer sees the fault.
PROCESS_KINDS = frozenset({
    FindingKind.MAINTENANCE_OVERDUE, FindingKind.INSPECTION_UNSIGNED, FindingKind.HANDOVER_MISSING,
    FindingKind.FAULT_ESCALATED, FindingKind.UNAPPROVED_RETRIEVAL, FindingKind.RECORDING_DELETED,
    FindingKind.REPEATED_DENIALS,
})
#: Findings from a device's own log: a supervisor disposes of them (`findings.dispose`), not anyone
#: allowed to close a process finding.
DISPOSED_BY_SUPERVISOR = frozenset({FindingKind.UNAPPROVED_RETRIEVAL, FindingKind.RECORDING_DELETED})


@migrations()
def m001_finding_actions(db: sqlite_utils.Database) -> None:
    db["finding_actions"].create({"id": int, "finding": int, "action": str, "actor": str, "at": str, "note": str,
                                  "assignee": str}, pk="id")
    db["finding_actions"].create_index(["finding"])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def state(app: Any, finding_id: int) -> dict[str, Any]:
    """Who acknowledged, owns and noted a finding, and why it was closed, from its recorded actions."""
    found: dict[str, Any] = {"notes": []}
    for row in app.store.db["finding_actions"].rows_where("finding = ?", [finding_id], order_by="id"):
        if row["action"] == "acknowledged":
            found.update(acknowledged_by=row["actor"], acknowledged_at=row["at"])
        elif row["action"] == "assigned":
            found.update(assignee=row["assignee"], assigned_by=row["actor"], assigned_at=row["at"])
        elif row["action"] == "note":
            found["notes"].append({"by": row["actor"], "at": row["at"], "note": row["note"]})
        elif row["action"] == "closed":
            found.update(closed_by=row["actor"], close_reason=row["note"])
        elif row["action"] == "escalated":
            found.update(escalated_at=row["at"], escalated_to=row["assignee"])
    return found


def disposed(app: Any, kind: FindingKind | str, subject: str) -> bool:
    """A person closed a finding of this kind and subject with a reason: a check must not raise it again."""
    return app.store.conn.execute(
        "SELECT count(*) FROM findings f JOIN finding_actions a ON a.finding = f.id"
        " WHERE f.kind = ? AND f.subject = ? AND a.action = 'closed'", [str(kind), subject]).fetchone()[0] > 0


def _act(app: Any, actor: str, finding_id: int, action: str, permission: str, note: str = "",
         assignee: str | None = None) -> dict[str, Any]:
    finding = app.finding_store().get(finding_id)  # KeyError names a wrong id
    subject = f"finding-{finding_id}"
    app.require(actor, permission, subject)
    if finding["closed_at"] is not None:
        raise ValueError(_("finding {id} is already closed").format(id=finding_id))
    app.store.db["finding_actions"].insert({"finding": finding_id, "action": action, "actor": actor, "at": _now(),
                                            "note": note, "assignee": assignee})
    body: dict[str, Any] = {"finding": finding_id, "act": action, "kind": finding["kind"], "note": note}
    if assignee:
        body["assignee"] = assignee
    app.journal.append("operation", actor, subject, body)
    return finding


def acknowledge(app: Any, actor: str, finding_id: int, note: str = "") -> None:
    """`actor` has seen the finding and takes it up."""
    _act(app, actor, finding_id, "acknowledged", "findings.acknowledge", note)


def assign(app: Any, actor: str, finding_id: int, assignee: str, note: str = "") -> None:
    """Make a person the finding's owner (a supervisor's act)."""
    if app.people.get(assignee) is None:
        raise KeyError(_("no person {name!r} in the site config").format(name=assignee))
    _act(app, actor, finding_id, "assigned", "findings.assign", note, assignee)


def fix_note(app: Any, actor: str, finding_id: int, note: str) -> None:
    """What was done about the finding, or to whom it was reported."""
    if not note.strip():
        raise ValueError(_("a fix note needs text: what was done, or to whom it was reported"))
    _act(app, actor, finding_id, "note", "findings.note", note)


def close(app: Any, actor: str, finding_id: int, reason: str) -> None:
    """Close a process finding with a reason; a supervisor disposes of retrieval and deletion findings."""
    store = app.finding_store()
    finding = store.get(finding_id)
    kind = FindingKind(finding["kind"])
    subject = f"finding-{finding_id}"
    permission = "findings.dispose" if kind in DISPOSED_BY_SUPERVISOR else "findings.close"
    app.require(actor, permission, subject)
    if kind not in PROCESS_KINDS:
        app.journal.append("operation", actor, subject, {"refused": permission, "kind": str(kind),
                                                         "reason": "device finding"})
        raise Refused(N_("{kind} is a device finding: it closes when the next check no longer sees the fault; "
                         "add a fix note instead", kind=str(kind)))
    if not reason.strip():
        app.journal.append("operation", actor, subject, {"refused": permission, "reason": "no reason given"})
        raise Refused(N_("closing finding {id} needs a reason", id=finding_id))
    if finding["closed_at"] is not None:
        raise ValueError(_("finding {id} is already closed").format(id=finding_id))
    app.store.db["finding_actions"].insert({"finding": finding_id, "action": "closed", "actor": actor, "at": _now(),
                                            "note": reason})
    store.close_id(finding_id)
    app.journal.append("operation", actor, subject, {"finding": finding_id, "act": "closed", "kind": str(kind),
                                                     "reason": reason})


def supervisors(app: Any) -> list[str]:
    return [person.id for person in app.people.all() if "supervisor" in person.roles and not person.revoked]


async def check_escalations(context: CheckContext) -> CheckResult:
    """A fault open longer than policies.escalate_after_hours opens a `fault_escalated` finding, which
    `on_finding` carries to the supervisors' notifiers; it closes when the fault does."""
    app, result = context.app, CheckResult()
    limit = context.now - timedelta(hours=app.site.policies.escalate_after_hours)
    to = supervisors(app)
    for (subject,) in app.store.conn.execute(
            "SELECT subject FROM findings WHERE kind = ? AND closed_at IS NULL", [str(FindingKind.FAULT_ESCALATED)]):
        result.evaluated([FindingKind.FAULT_ESCALATED], subject)
    cursor = app.store.conn.execute(
        "SELECT id, kind, subject, channel, opened_at FROM findings WHERE closed_at IS NULL AND severity = ?"
        " AND kind != ? ORDER BY id", [str(Severity.FAULT), str(FindingKind.FAULT_ESCALATED)])
    for finding_id, kind, subject, channel, opened_at in cursor.fetchall():
        if datetime.fromisoformat(opened_at) > limit:
            continue
        escalation = f"finding-{finding_id}"
        if disposed(app, FindingKind.FAULT_ESCALATED, escalation):
            continue
        result.evaluated([FindingKind.FAULT_ESCALATED], escalation)
        owner = state(app, finding_id).get("assignee")
        hours = (context.now - datetime.fromisoformat(opened_at)).total_seconds() / 3600
        result.findings.append(Finding(
            FindingKind.FAULT_ESCALATED, escalation,
            N_("{kind} on {subject} open for {hours:.0f} h (owner: {owner}); escalated to {to}",
               kind=KIND_TITLES.get(kind, kind), subject=subject + (f"/{channel}" if channel is not None else ""),
               hours=hours, owner=owner or N_("nobody"), to=", ".join(to) or N_("no supervisor on file")),
            measured=round(hours, 1), threshold=app.site.policies.escalate_after_hours,
            details={"finding": finding_id, "kind": kind, "subject": subject, "opened_at": opened_at,
                     "owner": owner, "supervisors": to}))
        if "escalated_at" not in state(app, finding_id):
            app.store.db["finding_actions"].insert({"finding": finding_id, "action": "escalated",
                                                    "actor": context.actor, "at": _now(), "note": "",
                                                    "assignee": ",".join(to)})
    return result


@hookimpl
def register_checks(register: Any) -> None:
    register(Check("escalation", "R5", check_escalations, "faults left open too long go to the supervisors"))


@hookimpl
def register_migrations(register: Any) -> None:
    register(migrations)

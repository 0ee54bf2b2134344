"""Duty and handover (R5): who is on duty for each shift, and the 交接班 record between two operators."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations
from sqlite_utils.db import NotFoundError

from watchkeeper import hookimpl
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules import ownership
from watchkeeper.site.app import Refused
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.config import WEEKDAYS

migrations = Migrations("watchkeeper.duty")

#: A shift's inspection counts if it started this long before the shift, or up to SHIFT_GRACE after;
#: a handover is made in the same window around the shift change.
SHIFT_LEAD = timedelta(hours=4)
SHIFT_GRACE = timedelta(hours=1)


@migrations()
def m001_roster_handovers(db: sqlite_utils.Database) -> None:
    db["duty_roster"].create({"id": int, "shift_utc": str, "operators": str, "set_by": str, "set_at": str,
                              "note": str}, pk="id")
    db["duty_roster"].create_index(["shift_utc"])
    db["handovers"].create({
        "id": int, "shift_utc": str, "outgoing": str, "incoming": str, "open_findings": str, "note": str,
        "signed_out_at": str, "accepted_at": str, "accept_note": str}, pk="id")
    db["handovers"].create_index(["shift_utc"])
    # A note for every fault of a signed inspection run: what was done, and to whom it was reported.
    db["inspection_fault_notes"].create({"id": int, "run": int, "camera": str, "action": str, "reported_to": str,
                                         "noted_by": str, "noted_at": str}, pk="id")
    db["inspection_fault_notes"].create_index(["run"])


def _now() -> datetime:
    return datetime.now(timezone.utc)


def shift_label(app: Any, start: datetime) -> str:
    """A shift as people name it: its start in site time, `2026-11-28 08:00`."""
    return f"{start.astimezone(app.site.zone):%Y-%m-%d %H:%M}"


def shift_start(app: Any, day: date, at: str) -> datetime:
    """The UTC instant a shift starting at `at` (site time) on `day` begins."""
    return datetime.combine(day, time.fromisoformat(at), tzinfo=app.site.zone).astimezone(timezone.utc)


def shift_starts(app: Any, since: datetime, until: datetime) -> list[datetime]:
    """Every shift start in [since, until], oldest first."""
    zone, starts = app.site.zone, []
    day, last = since.astimezone(zone).date() - timedelta(days=1), until.astimezone(zone).date()
    while day <= last:
        for text in app.site.policies.inspection_times:
            start = shift_start(app, day, text)
            if since <= start <= until:
                starts.append(start)
        day += timedelta(days=1)
    return sorted(set(starts))


def shift_at(app: Any, moment: datetime) -> datetime | None:
    """The shift in progress at `moment` (the latest start at or before it), None with no shift times."""
    starts = shift_starts(app, moment - timedelta(days=2), moment)
    return starts[-1] if starts else None


def shift_for(app: Any, moment: datetime) -> datetime | None:
    """The shift an act at `moment` serves: the one starting within [moment - GRACE, moment + LEAD]
    (an inspection or a handover before the shift), else the shift in progress."""
    near = shift_starts(app, moment - SHIFT_GRACE, moment + SHIFT_LEAD)
    return near[0] if near else shift_at(app, moment)


def previous_shift(app: Any, start: datetime) -> datetime | None:
    before = shift_starts(app, start - timedelta(days=2), start - timedelta(seconds=1))
    return before[-1] if before else None


def on_duty(app: Any, start: datetime) -> tuple[str, ...]:
    """Who is on duty for the shift starting at `start`: a roster line set in the store for that very
    shift wins; otherwise the config's [[duty]] lines for that shift time and weekday."""
    row = app.store.conn.execute("SELECT operators FROM duty_roster WHERE shift_utc = ? ORDER BY id DESC LIMIT 1",
                                 [start.isoformat()]).fetchone()
    if row is not None:
        return tuple(json.loads(row[0]))
    local = start.astimezone(app.site.zone)
    weekday, at = WEEKDAYS[local.weekday()], local.time()
    names: list[str] = []
    for line in app.site.duty:
        if time.fromisoformat(line.shift) == at and (not line.days or weekday in line.days):
            names += [name for name in line.operators if name not in names]
    return tuple(names)


def refuse(app: Any, actor: str, subject: str, action: str, reason: str, kind: str = "inspection") -> Refused:
    """Journal a refusal with its reason and return the exception to raise: a reason written with `N_` is
    journaled with its msgid (read later in the reader's language) and raised as such (`Refused`)."""
    app.journal.append(kind, actor, subject, {"refused": action, "reason": reason})
    return Refused(reason)


def set_roster(app: Any, actor: str, day: date, at: str, operators: list[str], note: str = "") -> datetime:
    """Put named operators on duty for one shift (a supervisor's act, journaled); overrides the config."""
    if at not in app.site.policies.inspection_times:
        raise ValueError(_("{at} is not a shift start; shifts start at {times}").format(
            at=at, times=", ".join(app.site.policies.inspection_times)))
    start = shift_start(app, day, at)
    subject = f"shift {shift_label(app, start)}"
    app.require(actor, "duty.roster", subject)
    if not operators:
        raise ValueError(_("a shift needs at least one operator"))
    for name in operators:
        person = app.people.get(name)
        if person is None or person.revoked:
            raise KeyError(_("no person {name!r} in the site config").format(name=name))
        if not {"operator", "supervisor"} & set(person.roles):
            raise refuse(app, actor, subject, "duty.roster",
                         N_("{name} is neither an operator nor a supervisor", name=name), "operation")
    app.store.db["duty_roster"].insert({"shift_utc": start.isoformat(), "operators": json.dumps(operators),
                                        "set_by": actor, "set_at": _now().isoformat(), "note": note})
    app.journal.append("operation", actor, subject, {"roster": operators, "note": note})
    return start


def open_findings_summary(app: Any) -> list[dict[str, Any]]:
    """The open findings as a handover lists them: id, kind, subject, since when, who owns it."""
    cursor = app.store.conn.execute(
        "SELECT id, kind, subject, channel, severity, opened_at FROM findings WHERE closed_at IS NULL ORDER BY id")
    names = [c[0] for c in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor]
    for row in rows:
        row["assignee"] = ownership.state(app, row["id"]).get("assignee")
    return rows


def hand_over(app: Any, actor: str, incoming: str, note: str = "", now: datetime | None = None) -> int:
    """The outgoing operator signs the handover to the incoming one, listing every open finding."""
    now = now or _now()
    start = shift_for(app, now)
    if start is None:
        raise ValueError(_("the site has no shift times (policies.inspection_times)"))
    subject = f"handover {shift_label(app, start)}"
    app.require(actor, "duty.handover", subject, kind="inspection")
    before = previous_shift(app, start)
    outgoing_roster = on_duty(app, before) if before else ()
    incoming_roster = on_duty(app, start)
    if actor not in outgoing_roster:
        raise refuse(app, actor, subject, "duty.handover", N_(
            "{actor} is not on duty for the shift ending at {shift} (on duty: {names})",
            actor=actor, shift=shift_label(app, start), names=", ".join(outgoing_roster) or N_("nobody")))
    if incoming not in incoming_roster:
        raise refuse(app, actor, subject, "duty.handover", N_(
            "{incoming} is not on duty for the shift starting at {shift} (on duty: {names})",
            incoming=incoming, shift=shift_label(app, start), names=", ".join(incoming_roster) or N_("nobody")))
    findings = open_findings_summary(app)
    handover_id = app.store.db["handovers"].insert({
        "shift_utc": start.isoformat(), "outgoing": actor, "incoming": incoming, "note": note,
        "open_findings": json.dumps(findings, default=str), "signed_out_at": now.isoformat()}).last_pk
    app.journal.append("inspection", actor, f"handover-{handover_id}", {
        "handover": {"shift": shift_label(app, start), "to": incoming, "note": note,
                     "open_findings": [f["id"] for f in findings]}})
    return handover_id


def accept(app: Any, actor: str, handover_id: int, note: str = "") -> None:
    """The incoming operator countersigns the handover: both signatures make it a record."""
    try:
        row = app.store.db["handovers"].get(handover_id)
    except NotFoundError:
        raise KeyError(_("no handover {id}").format(id=handover_id)) from None
    subject = f"handover-{handover_id}"
    app.require(actor, "duty.handover", subject, kind="inspection")
    if row["incoming"] != actor:
        raise refuse(app, actor, subject, "duty.handover.accept", N_(
            "handover {id} is to {incoming}; only they can countersign it", id=handover_id,
            incoming=row["incoming"]))
    if row["accepted_at"]:
        raise ValueError(_("handover {id} was already countersigned").format(id=handover_id))
    app.store.db["handovers"].update(handover_id, {"accepted_at": _now().isoformat(), "accept_note": note})
    app.journal.append("inspection", actor, subject, {"handover_accepted": handover_id, "note": note})


async def check_handovers(context: CheckContext) -> CheckResult:
    """Every change of shift since commissioning, at any age, has a handover signed by both sides."""
    app, result = context.app, CheckResult()
    since = app.commissioned_at()
    done = {row[0] for row in app.store.conn.execute(
        "SELECT shift_utc FROM handovers WHERE accepted_at IS NOT NULL")}
    for start in shift_starts(app, since, context.now - SHIFT_GRACE):
        before = previous_shift(app, start)
        if before is None or before < since:
            continue  # nobody handed over to the first shift after commissioning
        outgoing, incoming = on_duty(app, before), on_duty(app, start)
        if not outgoing or not incoming or set(outgoing) == set(incoming):
            continue  # the same people stay on: nothing changes hands
        subject = f"handover {shift_label(app, start)}"
        if ownership.disposed(app, FindingKind.HANDOVER_MISSING, subject):
            continue
        result.evaluated([FindingKind.HANDOVER_MISSING], subject)
        if start.isoformat() not in done:
            result.findings.append(Finding(
                FindingKind.HANDOVER_MISSING, subject,
                N_("no handover signed by both sides: {outgoing} to {incoming}", outgoing=", ".join(outgoing), incoming=", ".join(incoming)),
                details={"outgoing": list(outgoing), "incoming": list(incoming), "shift": start.isoformat()}))
    return result


@hookimpl
def register_checks(register: Any) -> None:
    register(Check("handover", "R5", check_handovers, "every change of shift has a handover signed by both"))


@hookimpl
def register_migrations(register: Any) -> None:
    register(migrations)

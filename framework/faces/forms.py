"""The site's registers (登记表), read from the store for a period: printed as forms and exported as xlsx.

One table, REGISTERS, says for each kind where its rows live, which period column selects them, its
columns and, for the paper forms, the signature lines. `rows()` reads a register exactly as the store
holds it (the xlsx export writes that); `display()` turns one value into what a form prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import attrs

from watchkeeper.core.i18n import _
from watchkeeper.faces.bodies import JOURNAL_KIND_LABELS, describe, label, value_text


@attrs.frozen
class Column:
    """One column: the store's column name, its header (a msgid), and how a form prints it."""

    key: str
    header: str
    #: "time" (a UTC time, shown in the site's zone), "json" (a JSON text, described), "bool", "status"
    #: (a state word, translated), "person" (a person's id, printed as their name), "hash" (printed
    #: shortened), "task" (a room-care task's id, printed as its title), "label" (a stored identifier or reason, read through the journal body table under
    #: the column's key: faces/bodies.py), "subject" (a journal entry's subject: a check's name is
    #: translated), "text".
    kind: str = "text"
    #: The column's share of a printed form's width, against 1 for a name or a short word.
    weight: float = 1.0
    #: An SQL expression for the msgid and params kept with a stored reason (`reason_msg`): a form prints
    #: the reason in the reader's language; the export keeps the stored English text.
    message: str = ""


@attrs.frozen
class Register:
    kind: str
    title: str
    table: str
    #: The WHERE clause selecting a period; ``?`` are the period's start and end (ISO, UTC) in order.
    period_sql: str
    order: str
    columns: tuple[Column, ...]
    #: Signature lines at the foot of the printed form, empty for kinds that are only exported.
    signatures: tuple[str, ...] = ()
    landscape: bool = True
    #: The period selects rows whose span overlaps it (`start < period end AND end > period start`).
    overlapping: bool = False

    @property
    def printable(self) -> bool:
        return bool(self.signatures)


def registers() -> dict[str, Register]:
    """Every register by kind, with its texts in the current language."""
    overlap = "{start} < ? AND ({end} IS NULL OR {end} > ?)"
    number, note = Column("id", _("No."), weight=0.5), Column("note", _("Note"), weight=1.8)
    visitors = Register("visitors", _("Visitor register"), "visitors",
                        "valid_from < ? AND valid_to > ?", "valid_from", (
        number, Column("name", _("Visitor name")), Column("organisation", _("Organisation")),
        Column("purpose", _("Purpose of visit"), weight=1.8), Column("host", _("Host"), "person"),
        Column("valid_from", _("Allowed from"), "time"), Column("valid_to", _("Allowed until"), "time"),
        Column("status", _("Status"), "status"), Column("registered_by", _("Registered by"), "person"),
        Column("decided_by", _("Approved by"), "person"), Column("entered_at", _("Entered"), "time"),
        Column("left_at", _("Left"), "time")),
        (_("Duty operator (signature)"), _("Approved by (signature)"), _("Date")), overlapping=True)
    retrievals = Register("retrievals", _("Footage retrieval approval form"), "footage_requests",
                          "requested_at >= ? AND requested_at < ?", "requested_at", (
        number, Column("camera", _("Camera")), Column("start_utc", _("Footage from"), "time"),
        Column("end_utc", _("Footage until"), "time"), Column("reason", _("Reason for retrieval"), weight=1.8),
        Column("case_ref", _("Case reference")), Column("requested_by", _("Applicant"), "person"),
        Column("requested_at", _("Applied at"), "time"), Column("status", _("Approval decision"), "status"),
        Column("decided_by", _("Approver"), "person"), Column("decided_at", _("Decided at"), "time"), note),
        (_("Applicant (signature)"), _("Approver (signature)"), _("Date")))
    inspections = Register("inspections", _("Playback inspection record"), "inspection_runs",
                           "started_at >= ? AND started_at < ?", "started_at", (
        number, Column("started_at", _("Inspected at"), "time"),
        Column("actor", _("Run by"), "person"),
        Column("cameras", _("Cameras")), Column("ok", _("Normal")), Column("warning", _("Warnings")),
        Column("fault", _("Faults")), Column("signed_by", _("Signed by"), "person"),
        Column("signed_at", _("Signed at"), "time"), note),
        (_("Inspected by (signature)"), _("Supervisor (signature)"), _("Date")))
    handovers = Register("handovers", _("Shift handover record"), "handovers",
                         "signed_out_at >= ? AND signed_out_at < ?", "signed_out_at", (
        number, Column("shift_utc", _("Shift"), "time"), Column("outgoing", _("Outgoing operator"), "person"),
        Column("incoming", _("Incoming operator"), "person"),
        Column("open_findings", _("Open findings handed over"), "json", 2.5),
        Column("note", _("Handover note"), weight=1.8), Column("signed_out_at", _("Handed over at"), "time"),
        Column("accepted_at", _("Accepted at"), "time"), Column("accept_note", _("Acceptance note"), weight=1.8)),
        (_("Outgoing operator (signature)"), _("Incoming operator (signature)"), _("Date")))
    journal = Register("journal", _("Duty journal"), "journal", "time_utc >= ? AND time_utc < ?", "seq", (
        Column("seq", _("seq"), weight=0.6), Column("time_utc", _("Time"), "time"), Column("kind", _("kind"), "status"),
        Column("actor", _("actor"), "person"), Column("subject", _("subject"), "subject"),
        Column("body", _("what"), "json", 4.0),
        Column("hash", _("Entry hash"), "hash", 1.3)),
        (_("Duty operator (signature)"), _("Supervisor (signature)"), _("Date")))
    room_care = Register("room-care", _("Room care record"), "maintenance_ticks", "done_at >= ? AND done_at < ?",
                         "done_at", (
        number, Column("task", _("Task"), "task", 2.0), Column("done_by", _("Done by"), "person"),
        Column("done_at", _("Done at"), "time"), note,
        Column("countersigned_by", _("Checked by"), "person"), Column("countersigned_at", _("Checked at"), "time")),
        (_("Done by (signature)"), _("Checked by (signature)"), _("Date")), landscape=False)
    access = Register("access", _("Access log"), "access_events", "time_utc >= ? AND time_utc < ?", "time_utc", (
        number, Column("time_utc", _("Time"), "time"), Column("door", _("Door")),
        Column("event", _("Event"), "label"), Column("credential_kind", _("Credential kind"), "label"),
        Column("person", _("Person"), "person"), Column("visitor", _("Visitor")),
        Column("allowed", _("Allowed"), "bool"),
        Column("reason", _("Reason"), "label", 1.8, "reason_msg"), Column("actuated", _("Door actuated"), "bool")))
    findings = Register("findings", _("Findings"), "findings",
                        overlap.format(start="opened_at", end="closed_at"), "opened_at", (
        number, Column("kind", _("Kind"), "label"), Column("subject", _("Subject")),
        Column("channel", _("Channel")), Column("severity", _("Severity"), "label"), Column("clause", _("Clause")),
        Column("reason", _("Reason"), "label", 1.8, "json_extract(details, '$.reason_msg')"),
        Column("opened_at", _("Opened"), "time"),
        Column("last_seen_at", _("Last seen"), "time"), Column("closed_at", _("Closed"), "time")), overlapping=True)
    return {r.kind: r for r in (visitors, retrievals, inspections, handovers, journal, room_care, access, findings)}


FORM_KINDS = ("visitors", "retrievals", "inspections", "handovers", "journal", "room-care")
EXPORT_KINDS = ("journal", "access", "visitors", "findings", "inspections", "retrievals", "handovers", "room-care")
PERIOD_WORDS = {"day": 1, "week": 7, "month": 30}
_MONTH = re.compile(r"^\d{4}-\d{2}$")
#: A printed cell shows this much of a long text (a config snapshot in the journal); the export keeps it whole.
PRINTED_TEXT_LIMIT = 300


class PeriodError(ValueError):
    """A --period that is none of the accepted shapes; the message shows them."""


@attrs.frozen
class Period:
    start: datetime
    end: datetime
    #: How a person reads it: 2026-11-01 – 2026-11-30 (site dates, end inclusive).
    label: str


def parse_period(text: str, zone: Any, today: date | None = None) -> Period:
    """`day`/`week`/`month` (ending today), a site date `2026-11-28`, a month `2026-11`, or a range
    `2026-11-01..2026-11-30` (both days included), as UTC bounds of whole site days."""
    today = today or datetime.now(zone).date()
    try:
        if text in PERIOD_WORDS:
            first, last = today - timedelta(days=PERIOD_WORDS[text] - 1), today
        elif ".." in text:
            head, _dots, tail = text.partition("..")
            first, last = date.fromisoformat(head.strip()), date.fromisoformat(tail.strip())
        elif _MONTH.match(text):
            first = date.fromisoformat(f"{text}-01")
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        else:
            first = last = date.fromisoformat(text)
    except ValueError:
        first = last = None  # type: ignore[assignment]
    if first is None or last is None or last < first:
        raise PeriodError(_("{value!r} is not a period: use day, week, month, a date (2026-11-28), a month (2026-11) "
                            "or a range of dates (2026-11-01..2026-11-30)").format(value=text))
    start = datetime.combine(first, time(), tzinfo=zone).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(timezone.utc)
    label = first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"
    return Period(start, end, label)


def rows(app: Any, register: Register, period: Period) -> list[dict[str, Any]]:
    """The register's rows in the period exactly as the store holds them; none when its table is absent
    (the rule plugin that keeps it is not installed)."""
    if not app.store.db[register.table].exists():
        return []
    present = set(app.store.db[register.table].columns_dict)
    names = ", ".join(c.key if c.key in present else f"NULL AS {c.key}" for c in register.columns)
    # a reason's msgid rides along as `<key>_msg` (not a column: the export writes the columns as stored)
    messages = [c for c in register.columns if c.message and set(re.findall(r"[a-z_]+", c.message)) & present]
    names += "".join(f", {c.message} AS {c.key}_msg" for c in messages)
    bounds = [period.start.isoformat(), period.end.isoformat()]
    if register.overlapping:
        bounds.reverse()
    cursor = app.store.conn.execute(f"SELECT {names} FROM {register.table} WHERE {register.period_sql}"
                                    f" ORDER BY {register.order}", bounds)
    return [dict(zip([c.key for c in register.columns] + [f"{c.key}_msg" for c in messages], row)) for row in cursor]


def journal_head(app: Any) -> tuple[int, str]:
    """(seq, hash) of the journal's newest entry: what a form or an export was made from."""
    row = app.store.conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def local_time(value: str | None, zone: Any) -> datetime | None:
    """A stored UTC time as a naive site-local time (what a form prints and a spreadsheet cell holds)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(zone).replace(tzinfo=None)


def display(column: Column, value: Any, zone: Any, names: dict[str, str] | None = None, message: Any = None,
            tasks: dict[str, str] | None = None) -> str:
    """One value as a printed form shows it; `names` maps person ids to the names a signature is checked by,
    `message` is the msgid and params stored with a reason (`Column.message`), `tasks` maps room-care
    task ids to their titles in the reader's language."""
    if value is None or value == "":
        return ""
    converters: dict[str, Callable[[Any], str]] = {
        "label": lambda v: value_text(column.key, v, message),
        "subject": lambda v: value_text("check", v),
        "task": lambda v: (tasks or {}).get(str(v)) or str(v),
        "time": lambda v: (local_time(v, zone) or datetime.min).strftime("%Y-%m-%d %H:%M"),
        "json": describe,
        "bool": lambda v: _("yes") if v else _("no"),
        "status": lambda v: status_texts().get(str(v), str(v)),
        "person": lambda v: (names or {}).get(str(v)) or value_text("actor", v),
        "hash": lambda v: f"{str(v)[:16]}…",
    }
    text = converters.get(column.kind, str)(value)
    return text if len(text) <= PRINTED_TEXT_LIMIT else text[:PRINTED_TEXT_LIMIT - 1] + "…"


def status_texts() -> dict[str, str]:
    """The states a visitor registration or a retrieval request is in, and the journal's kinds, as a form
    prints them."""
    return {"pending": _("pending"), "approved": _("approved"), "rejected": _("rejected"),
            "exported": _("exported"), "checked_out": _("checked out"), "revoked": _("revoked"),
            **{kind: label(text) for kind, text in JOURNAL_KIND_LABELS.items()}}

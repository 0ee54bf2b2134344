"""Every action the console and the API offer: one table, each row calling the App/rule method the CLI calls.

The same row serves a form POST under /console and a JSON POST under /api, and is what the OpenAPI
document describes. Each runs as the person `require(request, row.permission)` authenticated; the rule
method asks `authorize` again with the resource and journals what was done, or the refusal.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import attrs

from watchkeeper.core.i18n import _
from watchkeeper.rules import daybook, duty, inspection, maintenance, ownership, review
from watchkeeper.rules.door_service import Access
from watchkeeper.rules.footage import Footage

log = logging.getLogger(__name__)
#: Exports under way in the background (a clip can take longer than a web request may last), by store
#: and request: kept here so that the event loop does not drop them, and so that a second click on the
#: same request is refused at once rather than in a task nobody watches.
EXPORTS: dict[tuple[str, int], asyncio.Task[Any]] = {}

#: JSON Schema types of the fields, as the OpenAPI document states them.
TYPES = {"string": {"type": "string"}, "integer": {"type": "integer"},
         "datetime": {"type": "string", "format": "date-time"}, "date": {"type": "string", "format": "date"},
         "lines": {"type": "array", "items": {"type": "string"}},
         "faults": {"type": "object", "additionalProperties": {
             "type": "object", "properties": {"action": {"type": "string"}, "reported_to": {"type": "string"}}}}}


@attrs.frozen
class Field:
    name: str
    type: str = "string"
    required: bool = False


@attrs.frozen
class Action:
    """A state-changing request: `path` under /console and /api, the permission checked first."""

    name: str
    path: str
    permission: str
    summary: str
    run: Callable[[Any, str, dict[str, Any]], Any]
    fields: tuple[Field, ...] = ()
    #: Where the console goes back to after the form.
    screen: str = "/console/"


class InputError(ValueError):
    """A field is missing or malformed (its name is in the message)."""


def _time(app: Any, value: Any, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(_("{field}: not a date and time (YYYY-MM-DDTHH:MM)").format(field=field)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=app.site.zone)


def coerce(app: Any, action: Action, given: dict[str, Any]) -> dict[str, Any]:
    """The fields of `action` from a form or a JSON body, typed; InputError names a bad one."""
    values: dict[str, Any] = {}
    for field in action.fields:
        value = given.get(field.name)
        if value in (None, "") and field.type != "faults":
            if field.required:
                raise InputError(_("{field} is required").format(field=field.name))
            values[field.name] = None if field.type in ("integer", "datetime", "date") else (
                [] if field.type == "lines" else "")
            continue
        if field.type == "integer":
            try:
                values[field.name] = int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise InputError(_("{field}: not a whole number").format(field=field.name)) from None
        elif field.type == "datetime":
            values[field.name] = _time(app, value, field.name)
        elif field.type == "date":
            try:
                values[field.name] = date.fromisoformat(str(value))
            except ValueError:
                raise InputError(_("{field}: not a date (YYYY-MM-DD)").format(field=field.name)) from None
        elif field.type == "lines":
            values[field.name] = [line.strip() for line in (value if isinstance(value, list) else str(value).splitlines())
                                  if str(line).strip()]
        elif field.type == "faults":
            values[field.name] = _faults(given)
        else:
            values[field.name] = str(value).strip()
    return values


def _faults(given: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Fault notes from JSON (`faults: {camera: {action, reported_to}}`) or a form (`action:CAM`, `to:CAM`)."""
    if isinstance(given.get("faults"), dict):
        return {str(camera): (str(note.get("action", "")), str(note.get("reported_to", "")))
                for camera, note in given["faults"].items() if isinstance(note, dict)}
    cameras = {key.split(":", 1)[1] for key in given if key.startswith(("action:", "to:"))}
    return {camera: (str(given.get(f"action:{camera}", "")), str(given.get(f"to:{camera}", "")))
            for camera in sorted(cameras)}


async def perform(app: Any, action: Action, person: str, given: dict[str, Any]) -> Any:
    """Run `action` as `person` with the request's fields (awaiting it when the rule is async)."""
    result = action.run(app, person, coerce(app, action, given))
    return await result if inspect.isawaitable(result) else result


def _sign(app: Any, who: str, v: dict[str, Any]) -> dict[str, Any]:
    return {"run": inspection.sign(app, who, v["run"], v["note"], v["faults"])}


def _register(app: Any, who: str, v: dict[str, Any]) -> dict[str, Any]:
    return {"visitor": Access(app).register_visitor(who, v["name"], v["organisation"], v["purpose"], v["host"] or who,
                                                    v["valid_from"], v["valid_to"], v["badge"], v["pin"])}


def _generate(app: Any, who: str, v: dict[str, Any]) -> dict[str, Any]:
    from watchkeeper.faces.console.data import report_folders
    from watchkeeper.faces.report import PERIODS
    from watchkeeper.faces.report_render import publish

    if v["period"] not in PERIODS:
        raise InputError(_("period must be one of {periods}").format(periods=", ".join(PERIODS)))
    folders = report_folders(app) or [app.site.store.parent / "reports"]
    paths = publish(app, v["period"], None, ("html", "json"), folders[0])
    entry = review.report_entry(app)
    # publish journals the report as watchkeeper's; who asked for it is the person's own entry.
    app.journal.append("operation", who, "report", {"generated": entry["seq"], "period": v["period"],
                                                    "files": [p.name for p in paths]})
    return {"report": entry["seq"], "files": [p.name for p in paths]}


def _export(app: Any, who: str, v: dict[str, Any]) -> dict[str, Any]:
    footage, key = Footage(app), (str(app.site.store), v["id"])
    footage.ready_to_export(who, v["id"], exporting_here=key in EXPORTS)
    task = asyncio.get_running_loop().create_task(footage.export(who, v["id"]), name=f"export of request {v['id']}")
    EXPORTS[key] = task
    task.add_done_callback(lambda done: _export_done(key, done))
    return {"request": v["id"], "export": "started"}


def _export_done(key: tuple[str, int], task: asyncio.Task[Any]) -> None:
    EXPORTS.pop(key, None)
    if task.cancelled():
        return  # the server stopped: the appliance's next start removes and journals the partial files
    error = task.exception()
    if error is not None:  # export journaled it (refusal, device, disk); the log gets one line, no traceback
        log.warning("%s failed: %s", task.get_name(), error)


def _bool(approve: bool) -> Callable[[Any, str, dict[str, Any]], Any]:
    return lambda app, who, v: Access(app).decide_visitor(who, v["id"], approve=approve)


def _footage(approve: bool) -> Callable[[Any, str, dict[str, Any]], Any]:
    return lambda app, who, v: Footage(app).decide(who, v["id"], approve=approve, note=v["note"])


ID, NOTE = Field("id", "integer", True), Field("note")
ACTIONS: tuple[Action, ...] = (
    Action("findings.acknowledge", "/findings/{id}/acknowledge", "findings.acknowledge", "Acknowledge a finding",
           lambda app, who, v: ownership.acknowledge(app, who, v["id"], v["note"]), (ID, NOTE)),
    Action("findings.assign", "/findings/{id}/assign", "findings.assign", "Assign a finding to a person",
           lambda app, who, v: ownership.assign(app, who, v["id"], v["assignee"], v["note"]),
           (ID, Field("assignee", required=True), NOTE)),
    Action("findings.note", "/findings/{id}/note", "findings.note", "Add a fix note to a finding",
           lambda app, who, v: ownership.fix_note(app, who, v["id"], v["note"]), (ID, Field("note", required=True))),
    Action("inspect.sign", "/inspection/{run}/sign", "inspect.sign", "Sign an inspection run, a note per fault",
           _sign, (Field("run", "integer", True), NOTE, Field("faults", "faults"))),
    Action("duty.handover", "/handover", "duty.handover", "Hand the shift over to the incoming operator",
           lambda app, who, v: {"handover": duty.hand_over(app, who, v["incoming"], v["note"])},
           (Field("incoming", required=True), NOTE)),
    Action("duty.accept", "/handover/{id}/accept", "duty.handover", "Countersign a handover as the incoming operator",
           lambda app, who, v: duty.accept(app, who, v["id"], v["note"]), (ID, NOTE)),
    Action("visitor.register", "/visitors", "visitor.register", "Register a visitor", _register,
           (Field("name", required=True), Field("organisation", required=True), Field("purpose", required=True),
            Field("host"), Field("valid_from", "datetime", True), Field("valid_to", "datetime", True),
            Field("badge"), Field("pin")), "/console/room"),
    Action("visitor.approve", "/visitors/{id}/approve", "visitor.approve", "Approve a visitor", _bool(True), (ID,),
           "/console/room"),
    Action("visitor.reject", "/visitors/{id}/reject", "visitor.approve", "Reject a visitor", _bool(False), (ID,),
           "/console/room"),
    Action("visitor.checkout", "/visitors/{id}/checkout", "visitor.register", "Check a visitor out",
           lambda app, who, v: Access(app).checkout_visitor(who, v["id"]), (ID,), "/console/room"),
    Action("maintenance.tick", "/checklist/{task}/tick", "maintenance.tick", "Tick a care task as done",
           lambda app, who, v: {"tick": maintenance.tick(app, who, v["task"], v["note"])},
           (Field("task", required=True), NOTE), "/console/room"),
    Action("maintenance.countersign", "/ticks/{id}/countersign", "maintenance.countersign", "Countersign a tick",
           lambda app, who, v: maintenance.countersign(app, who, v["id"], v["note"]), (ID, NOTE), "/console/room"),
    Action("footage.request", "/footage/requests", "footage.request", "Request footage for a case",
           lambda app, who, v: {"request": Footage(app).request(who, v["camera"], v["start"], v["end"], v["reason"],
                                                                v["case_ref"])},
           (Field("camera", required=True), Field("start", "datetime", True), Field("end", "datetime", True),
            Field("reason", required=True), Field("case_ref")), "/console/footage"),
    Action("footage.approve", "/footage/requests/{id}/approve", "footage.approve", "Approve a footage request",
           _footage(True), (ID, NOTE), "/console/footage"),
    Action("footage.reject", "/footage/requests/{id}/reject", "footage.approve", "Reject a footage request",
           _footage(False), (ID, NOTE), "/console/footage"),
    Action("footage.export", "/footage/requests/{id}/export", "footage.export",
           "Start exporting an approved request (in the background; the export is listed when it is done)",
           _export, (ID,), "/console/footage"),
    Action("footage.hold", "/footage/holds", "footage.hold", "Place an evidence hold",
           lambda app, who, v: {"hold": Footage(app).hold(who, v["camera"], v["start"], v["end"], v["reason"])},
           (Field("camera", required=True), Field("start", "datetime", True), Field("end", "datetime", True),
            Field("reason", required=True)), "/console/footage"),
    Action("footage.release", "/footage/holds/{id}/release", "footage.hold", "Release an evidence hold",
           lambda app, who, v: Footage(app).release(who, v["id"]), (ID,), "/console/footage"),
    Action("journal.add", "/journal", "journal.add", "Add a journal entry",
           lambda app, who, v: {"seq": app.add_note(who, v["kind"] or "operation", v["subject"] or "site",
                                                    v["text"])["seq"]},
           (Field("kind"), Field("subject"), Field("text", required=True)), "/console/journal"),
    Action("journal.close_day", "/journal/close-day", "journal.close_day", "Close the day with a signed summary",
           lambda app, who, v: {"seq": daybook.close_day(app, who, v["text"], v["day"])},
           (Field("text", required=True), Field("day", "date")), "/console/journal"),
    Action("report.generate", "/reports", "report.generate", "Generate and journal a compliance report", _generate,
           (Field("period", required=True),), "/console/reports"),
    Action("review.sign", "/reviews", "review.sign", "Sign the supervisor's review of a journaled report",
           lambda app, who, v: {"review": review.sign(app, who, v["report"], v["comments"], v["actions"])},
           (Field("report", "integer", True), Field("comments", required=True), Field("actions", "lines")),
           "/console/reports"),
)
BY_NAME = {action.name: action for action in ACTIONS}

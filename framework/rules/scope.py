"""Camera scope (R1): each camera's location, purpose and zone, as journaled, approved by a supervisor.

The config is journaled whenever it changes (`App.snapshot_config`); a camera's scope *version* is
the config entry where its location, purpose or zone last changed. A supervisor or administrator
approves the current versions (`watchkeeper scope approve`), journaled with who approved what.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import attrs

from watchkeeper import hookimpl
from watchkeeper.core.i18n import _
from watchkeeper.rules.verdicts import Item, decide, local
from watchkeeper.site.app import SCOPE_FIELDS
from watchkeeper.site.config import placeholder_problem
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext

@attrs.frozen
class Version:
    """A camera's scope as of one config snapshot."""

    camera: str
    seq: int
    time_utc: str
    scope: dict[str, str]
    #: Part of the site's first journaled config (its commissioning), not a later change.
    initial: bool
    approval: dict[str, Any] | None = None


def _config_entries(app: Any, until: datetime | None) -> Iterable[dict[str, Any]]:
    sql = "SELECT seq, time_utc, actor, body FROM journal WHERE kind = 'config'"
    params: list[Any] = []
    if until is not None:
        sql += " AND time_utc < ?"
        params.append(until.isoformat())
    for seq, time_utc, actor, body in app.store.conn.execute(sql + " ORDER BY seq", params):
        yield {"seq": seq, "time_utc": time_utc, "actor": actor, "body": json.loads(body)}


def versions(app: Any, until: datetime | None = None) -> dict[str, Version]:
    """Each camera of the latest config snapshot before `until`, at its current scope version."""
    current: dict[str, Version] = {}
    approvals: list[dict[str, Any]] = []
    first = True
    for entry in _config_entries(app, until):
        body = entry["body"]
        if "scope_approved" in body:
            approvals.append({"seq": entry["seq"], "by": entry["actor"], **body["scope_approved"]})
            continue
        if "config" not in body:
            continue
        cameras = {str(c.get("id")): c for c in body["config"].get("cameras", []) if isinstance(c, dict)}
        following = {}
        for camera_id, raw in cameras.items():
            scope = {field: str(raw.get(field, "")) for field in SCOPE_FIELDS}
            before = current.get(camera_id)
            following[camera_id] = before if before is not None and before.scope == scope else Version(
                camera_id, entry["seq"], entry["time_utc"], scope, first)
        current, first = following, False
    for approval in approvals:
        version = current.get(approval.get("camera", ""))
        if version is not None and approval.get("version") == version.seq:
            current[version.camera] = attrs.evolve(version, approval=approval)
    return current


def approve(app: Any, actor: str, cameras: Iterable[str] = (), note: str = "") -> list[str]:
    """Approve the current scope of the named cameras (all pending ones by default); journaled."""
    wanted = set(cameras)
    for camera in wanted:
        app.site.camera(camera)  # KeyError naming an unknown camera
    app.require(actor, "scope.approve", ",".join(sorted(wanted)) or "all cameras", kind="config")
    approved = []
    for version in versions(app).values():
        if (wanted and version.camera not in wanted) or version.approval is not None:
            continue
        app.journal.append("config", actor, version.camera, {"scope_approved": {
            "camera": version.camera, "version": version.seq, "scope": version.scope, "note": note}})
        approved.append(version.camera)
    return approved


def verdict(context: VerdictContext) -> Verdict:
    """R1: every camera's scope written down, and its current version approved by a supervisor."""
    evidence, breaches, missing = Evidence(), [], []
    current = versions(context.app, context.until)
    if not context.app.site.cameras and not current:
        return decide(context, evidence)
    if not current:
        missing.append(Item("R1.no_snapshot", _("no camera scope journaled before the period's end")))
    for version in current.values():
        evidence.add("journal", version.seq)
        for field, value in version.scope.items():
            problem = placeholder_problem(value)
            if problem:
                breaches.append(Item("R1.placeholder", _("{camera}.{field}: {problem}").format(
                    camera=version.camera, field=field, problem=problem)))
        if version.approval is not None:
            evidence.add("journal", version.approval["seq"])
        elif version.initial:
            missing.append(Item("R1.scope_unapproved", _("{camera}: scope defined but never approved").format(
                camera=version.camera)))
        else:
            breaches.append(Item("R1.change_unapproved", _("{camera}: scope changed {at} without approval").format(
                camera=version.camera, at=local(context, version.time_utc))))
    return decide(context, evidence, breaches, missing,
                  _("{count} camera(s) with an approved scope").format(count=len(current)))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R1", verdict, "every camera's scope written down and approved"))

"""The built-in policy: who may do what (R2, R9), retention days (R8), clock tolerance (R7).

Every implementation is ``trylast`` so that a site plugin returning a value overrides it.
"""

from __future__ import annotations

from datetime import date

from watchkeeper import hookimpl
from watchkeeper.site.config import Site
from watchkeeper.site.context import Refusal

#: Which roles may perform each action. An action not listed is refused.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "inspect.run": frozenset({"operator", "supervisor", "administrator"}),
    "inspect.sign": frozenset({"operator", "supervisor"}),
    "journal.add": frozenset({"operator", "supervisor", "maintenance", "administrator"}),
    "maintenance.tick": frozenset({"operator", "maintenance", "supervisor"}),
    "footage.view": frozenset({"operator", "supervisor"}),
    "footage.request": frozenset({"operator", "supervisor"}),
    "footage.approve": frozenset({"supervisor"}),
    "footage.export": frozenset({"operator", "supervisor"}),
    "footage.hold": frozenset({"supervisor", "administrator"}),
    "visitor.register": frozenset({"operator", "supervisor", "administrator"}),
    "visitor.approve": frozenset({"supervisor"}),
    "people.manage": frozenset({"administrator", "supervisor"}),
    "door.open": frozenset({"operator", "supervisor", "administrator"}),
    "clock.correct": frozenset({"operator", "supervisor", "administrator"}),
    "config.change": frozenset({"administrator"}),
    "backup.take": frozenset({"administrator", "supervisor"}),
    "backup.restore": frozenset({"administrator"}),
    "duty.roster": frozenset({"supervisor", "administrator"}),
    "duty.handover": frozenset({"operator", "supervisor"}),
    "findings.acknowledge": frozenset({"operator", "supervisor", "maintenance"}),
    "findings.note": frozenset({"operator", "supervisor", "maintenance"}),
    "findings.assign": frozenset({"supervisor"}),
    "findings.close": frozenset({"supervisor"}),
    "findings.dispose": frozenset({"supervisor"}),
}

#: Actions that operate the system: an operator needs a training date on file for these (R2).
OPERATOR_ACTIONS = frozenset(
    {"inspect.run", "inspect.sign", "footage.view", "footage.request", "footage.export", "door.open", "clock.correct",
     "duty.handover"}
)


def refusal_reason(actor: str, action: str, site: Site, today: date | None = None) -> str | None:
    """Why the built-in policy refuses the action, or None if it allows it."""
    person = site.person(actor)
    if person is None:
        return f"'{actor}' is not a person in the site config"
    allowed = ACTION_ROLES.get(action)
    if allowed is None:
        return f"unknown action '{action}'"
    roles = set(person.roles) & allowed
    if not roles:
        return f"'{actor}' has none of the roles allowed to {action}: {', '.join(sorted(allowed))}"
    if action in OPERATOR_ACTIONS and roles == {"operator"}:
        if person.trained_on is None:
            return f"operator '{actor}' has no training date on file"
        if person.trained_on > (today or date.today()):
            return f"operator '{actor}' is trained only from {person.trained_on.isoformat()}"
    return None


@hookimpl(trylast=True)
def authorize(actor: str, action: str, resource: str, site: Site) -> bool | Refusal:
    reason = refusal_reason(actor, action, site)
    return True if reason is None else Refusal(reason)


@hookimpl(trylast=True)
def retention_days(camera: str, site: Site) -> int:
    configured = site.camera(camera).retention_days
    return configured if configured is not None else site.policies.retention_days


@hookimpl(trylast=True)
def clock_tolerance(device: str, site: Site) -> float:
    return site.policies.clock_tolerance_seconds

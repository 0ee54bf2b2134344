"""The built-in policy: who may do what (R2, R9), retention days (R8), clock tolerance (R7).

Every implementation is ``trylast`` so that a site plugin returning a value overrides it.
"""

from __future__ import annotations

from datetime import date, datetime

from watchkeeper import hookimpl
from watchkeeper.site.config import Person, Site
from watchkeeper.site.people import PeopleView, training_problem

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

#: Actions that operate the system: an operator needs current training for these (R2), as for the door.
OPERATOR_ACTIONS = frozenset(
    {"inspect.run", "inspect.sign", "footage.view", "footage.request", "footage.export", "door.open", "clock.correct",
     "duty.handover"}
)


def untrained_operator(person: Person, site: Site, on: date) -> str | None:
    """Why an operator may not operate the system (or enter the room) on a day, or None (R2).

    One rule everywhere: a person holding the operator role must have a training record valid that
    day (none, expired or only from a later date is untrained), whatever other roles they hold.
    """
    if "operator" not in person.roles:
        return None
    problem = training_problem(person, on, site.policies.training_refresher_days)
    return f"operator {problem}" if problem else None


def refusal_reason(actor: str, action: str, site: Site, today: date | None = None,
                   people: PeopleView | None = None) -> str | None:
    """Why the built-in policy refuses the action, or None if it allows it.

    `people` is the store's current people; without it (a caller outside an opened site) the site
    config's are used.
    """
    person = people.get(actor) if people is not None else site.person(actor)
    if person is None:
        return f"'{actor}' is not a person on this site"
    if person.revoked:
        return f"'{actor}' has been revoked"
    allowed = ACTION_ROLES.get(action)
    if allowed is None:
        return f"unknown action '{action}'"
    roles = set(person.roles) & allowed
    if not roles:
        return f"'{actor}' has none of the roles allowed to {action}: {', '.join(sorted(allowed))}"
    if action in OPERATOR_ACTIONS:
        return untrained_operator(person, site, today or datetime.now(site.zone).date())
    return None


@hookimpl(trylast=True)
def authorize(actor: str, action: str, resource: str, site: Site, people: PeopleView) -> bool:
    return refusal_reason(actor, action, site, people=people) is None


@hookimpl(trylast=True)
def retention_days(camera: str, site: Site) -> int:
    configured = site.camera(camera).retention_days
    return configured if configured is not None else site.policies.retention_days


@hookimpl(trylast=True)
def clock_tolerance(device: str, site: Site) -> float:
    return site.policies.clock_tolerance_seconds

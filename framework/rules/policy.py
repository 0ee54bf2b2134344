"""The built-in policy: who may do what (R2, R9), retention days (R8), clock tolerance (R7).

Every implementation is ``trylast`` so that a site plugin returning a value overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from watchkeeper import hookimpl
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.verdicts import Item, decide, journal_rows
from watchkeeper.site import people as people_store
from watchkeeper.site.config import Person, Site
from watchkeeper.site.context import Refusal
from watchkeeper.site.people import PeopleView
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext

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
    "scope.approve": frozenset({"supervisor", "administrator"}),
    "maintenance.countersign": frozenset({"supervisor"}),
    "journal.close_day": frozenset({"operator", "supervisor"}),
    "review.sign": frozenset({"supervisor"}),
    # Writing and journaling a compliance report (R10's evidence); signing it is review.sign.
    "report.generate": frozenset({"operator", "supervisor", "administrator"}),
    # Reading the web console and its API: every role; the auditor's only one (read-only).
    "console.view": frozenset({"operator", "supervisor", "maintenance", "administrator", "auditor"}),
    # Setting another person's password, unlocking a login, issuing or revoking someone's API tokens.
    "identity.manage": frozenset({"administrator"}),
}

#: Actions that operate the system: an operator needs current training for these (R2), as for the door.
OPERATOR_ACTIONS = frozenset(
    {"inspect.run", "inspect.sign", "footage.view", "footage.request", "footage.export", "door.open", "clock.correct",
     "duty.handover", "journal.close_day"}
)
#: Journal kinds whose entries by a person are that person operating the system (R2's evidence).
OPERATING_KINDS = ("inspection", "retrieval", "clock")


def training_problem(person: Person, on: date, refresher_days: int | None = None) -> str | None:
    """Why `person` counts as untrained on `on`, or None: the one place every check asks (R2).

    The CLI's actions, the door and the R2 verdict all call this. The records are the store's
    (course, date, trainer, valid until or the site's refresher interval; `watchkeeper.site.people`):
    none, expired or only from a later day is untrained."""
    return people_store.training_problem(person, on, refresher_days)


def roster(app: Any) -> list[Person]:
    """The site's people as the store holds them now (seeded from the config, changed at run time)."""
    return app.people.all()


def refusal_reason(actor: str, action: str, site: Site, today: date | None = None,
                   people: PeopleView | None = None) -> str | None:
    """Why the built-in policy refuses the action, or None if it allows it.

    `people` is the store's current people; without it (a caller outside an opened site) the site
    config's are used.
    """
    person = people.get(actor) if people is not None else site.person(actor)
    if person is None:
        return N_("'{actor}' is not a person on this site", actor=actor)
    if person.revoked:
        return N_("'{actor}' has been revoked", actor=actor)
    allowed = ACTION_ROLES.get(action)
    if allowed is None:
        return N_("unknown action '{action}'", action=action)
    roles = set(person.roles) & allowed
    if not roles:
        return N_("'{actor}' has none of the roles allowed to {action}: {roles}", actor=actor, action=action,
                  roles=", ".join(sorted(allowed)))
    if action in OPERATOR_ACTIONS and roles == {"operator"}:
        problem = training_problem(person, today or datetime.now(site.zone).date(),
                                   site.policies.training_refresher_days)
        if problem:
            return N_("operator {problem}", problem=problem)
    return None


@hookimpl(trylast=True)
def authorize(actor: str, action: str, resource: str, site: Site, people: PeopleView) -> bool | Refusal:
    reason = refusal_reason(actor, action, site, people=people)
    return True if reason is None else Refusal(reason)


@hookimpl(trylast=True)
def retention_days(camera: str, site: Site) -> int:
    configured = site.camera(camera).retention_days
    return configured if configured is not None else site.policies.retention_days


@hookimpl(trylast=True)
def clock_tolerance(device: str, site: Site) -> float:
    return site.policies.clock_tolerance_seconds


def verdict(context: VerdictContext) -> Verdict:
    """R2: everything an operator did in the period was done while trained."""
    zone = context.app.site.zone
    people = {person.id: person for person in roster(context.app)}
    evidence, breaches, missing = Evidence(), [], []
    marks = ",".join("?" for _kind in OPERATING_KINDS)
    for entry in journal_rows(context, f"kind IN ({marks}) AND body NOT LIKE '%\"refused\"%'", OPERATING_KINDS):
        person = people.get(entry["actor"])
        if person is None or "operator" not in person.roles:
            continue
        evidence.add("journal", entry["seq"])
        on = datetime.fromisoformat(entry["time_utc"]).astimezone(zone).date()
        problem = (training_problem(person, on, context.app.site.policies.training_refresher_days)
                   if "supervisor" not in person.roles else None)
        if problem:
            breaches.append(Item("R2.untrained_act", _("journal entry {seq}: {actor} operated while untrained ({why})")
                                 .format(seq=entry["seq"], actor=entry["actor"], why=problem)))
    if not evidence:
        missing.append(Item("R2.no_operation", _("no operator operated the system in the period")))
    return decide(context, evidence, breaches, missing, _("every operation was by a trained operator"))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R2", verdict, "operations done by trained operators only"))

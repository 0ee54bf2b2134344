"""`watchkeeper people …` and `watchkeeper visitor …`: who may enter the monitoring room (R2, R3)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime

import click

from watchkeeper.rules.door_service import Access
from watchkeeper.site.config import ROLES, Person, Training
from watchkeeper.site.people import expires, training_problem
from watchkeeper.core.findings import kind_in_text
from watchkeeper.core.i18n import N_, _, format_datetime, localize
from watchkeeper.core.textwidth import ljust, rjust
from watchkeeper.faces.cli.common import EXIT_FINDINGS, State, actor_option, refusing, settled, site_time
from watchkeeper.faces.control import answered, ask, socket_path


def register(cli: click.Group) -> None:
    cli.add_command(people)
    cli.add_command(visitor)
    cli.add_command(door)


def _access(state: State) -> Access:
    return Access(state.app())


@click.group(help=_("Staff: roles, badges and training dates."))
def people() -> None:
    pass


@people.command("add", help=_("Add or update a person."))
@click.option("--id", "person_id", required=True)
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@click.option("--badge", "badges", multiple=True)
@click.option("--trained-on", type=click.DateTime(["%Y-%m-%d"]), help=_("Training date (operators need one)."))
@click.option("--hours", help=_("Allowed hours, e.g. 07:00-19:00."))
@actor_option
@click.pass_obj
@refusing
def people_add(state: State, person_id: str, name: str, roles: tuple[str, ...], badges: tuple[str, ...],
               trained_on: datetime | None, hours: str | None, actor: str) -> None:
    person = Person(person_id, name, roles, badges, trained_on.date() if trained_on else None, hours)
    _access(state).add_person(actor, person)
    click.echo(_("person {id} saved").format(id=person_id))


#: A door's status as the CLI prints it: each field's label (the JSON keeps the field names).
DOOR_STATUS_LABELS = {"online": N_("online"), "secure_channel": N_("secure channel"), "tamper": N_("tamper"),
                      "door_open": N_("door open"), "last_seen": N_("last seen")}


def _door_value(value: object) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return _("unknown") if value is None else str(value)


def _training_row(record: Training, refresher_days: int | None) -> dict[str, str | None]:
    until = expires(record, refresher_days)
    return {"course": record.course, "date": record.completed_on.isoformat(), "trainer": record.trainer,
            "valid_until": until.isoformat() if until else None}


@people.command("list", help=_("List people as the store holds them: roles, training, revocation."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def people_list(state: State, as_json: bool) -> None:
    app = state.app()
    today = datetime.now(app.site.zone).date()
    refresher = app.site.policies.training_refresher_days
    rows = []
    for p in _access(state).people():
        problem = training_problem(p, today, refresher)
        rows.append({"id": p.id, "name": p.name, "roles": list(p.roles), "badges": list(p.badges),
                     "trained_on": p.trained_on.isoformat() if p.trained_on else None, "hours": p.hours,
                     "revoked": p.revoked, "trained": problem is None, "training_problem": problem,
                     "training": [_training_row(t, refresher) for t in p.training]})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        status = _("revoked") if row["revoked"] else ""
        trained = _("trained") if row["trained"] else _("untrained")
        click.echo(f"{ljust(row['id'], 12)} {ljust(row['name'], 20)} {ljust(','.join(row['roles']), 24)} "
                   f"{ljust(trained, 10)} {status}")


@people.command("revoke", help=_("Revoke a person: every check refuses them at once, the door included."))
@click.argument("person_id")
@click.option("--reason", default="", help=_("Why (journaled)."))
@actor_option
@click.pass_obj
@refusing
def people_revoke(state: State, person_id: str, reason: str, actor: str) -> None:
    _access(state).revoke_person(actor, person_id, reason)
    click.echo(_("person {id} revoked").format(id=person_id))


@people.command("train", help=_("Record a course a person took (R2); operators need a current one."))
@click.argument("person_id")
@click.option("--course", required=True)
@click.option("--date", "taken", required=True, type=click.DateTime(["%Y-%m-%d"]), help=_("The day it was taken."))
@click.option("--trainer", required=True, help=_("Who gave it."))
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]),
              help=_("Last day it counts (else the site's training_refresher_days, else no end)."))
@actor_option
@click.pass_obj
@refusing
def people_train(state: State, person_id: str, course: str, taken: datetime, trainer: str,
                 valid_until: datetime | None, actor: str) -> None:
    record = Training(course, taken.date(), trainer, valid_until.date() if valid_until else None)
    _access(state).add_training(actor, person_id, record)
    click.echo(_("training of {id} recorded").format(id=person_id))


@click.group(help=_("Visitors: registration, a supervisor's approval, check-out."))
def visitor() -> None:
    pass


@visitor.command("register", help=_("Register a visitor; a supervisor must approve before the badge works."))
@click.option("--name", required=True)
@click.option("--organisation", required=True)
@click.option("--purpose", required=True)
@click.option("--host", required=True, help=_("The staff member who hosts and escorts the visitor."))
@click.option("--from", "valid_from", required=True, help=_("Start, site time (2026-11-28T09:00)."))
@click.option("--to", "valid_to", required=True, help=_("End, site time."))
@click.option("--badge", default="", help=_("Visitor badge number issued."))
@click.option("--pin", default="", help=_("Visitor PIN issued (stored only as a salted hash)."))
@actor_option
@click.pass_obj
@refusing
def visitor_register(state: State, name: str, organisation: str, purpose: str, host: str, valid_from: str,
                     valid_to: str, badge: str, pin: str, actor: str) -> None:
    visitor_id = _access(state).register_visitor(actor, name, organisation, purpose, host,
                                                 site_time(state, valid_from), site_time(state, valid_to), badge, pin)
    click.echo(_("visitor {id} registered; awaiting approval").format(id=visitor_id))


@visitor.command("approve", help=_("Approve a registration (a supervisor other than the registrant)."))
@click.argument("visitor_id", type=int)
@click.option("--reject", is_flag=True, help=_("Reject instead of approving."))
@actor_option
@click.pass_obj
@refusing
def visitor_approve(state: State, visitor_id: int, reject: bool, actor: str) -> None:
    _access(state).decide_visitor(actor, visitor_id, approve=not reject)
    click.echo(_("visitor {id} {status}").format(id=visitor_id, status=_("rejected") if reject else _("approved")))


@visitor.command("checkout", help=_("Record a visitor leaving; the badge stops working."))
@click.argument("visitor_id", type=int)
@actor_option
@click.pass_obj
@refusing
def visitor_checkout(state: State, visitor_id: int, actor: str) -> None:
    _access(state).checkout_visitor(actor, visitor_id)
    click.echo(_("visitor {id} checked out").format(id=visitor_id))


@visitor.command("list", help=_("List visitor registrations."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def visitor_list(state: State, as_json: bool) -> None:
    rows = _access(state).visitors()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    zone = state.app().site.zone
    for row in rows:
        start = datetime.fromisoformat(row["valid_from"]).astimezone(zone)
        end = datetime.fromisoformat(row["valid_to"]).astimezone(zone)
        click.echo(f"{rjust(row['id'], 4)} {ljust(_(row['status']), 12)} {row['name']} ({row['organisation']}) "
                   + _("host {host}").format(host=row["host"]) + f" {format_datetime(start)}–{end:%H:%M} {row['purpose']}")


@click.group(help=_("The monitoring room's doors."))
def door() -> None:
    pass


def _door_reply(state: State, door_id: str, request: dict, direct: Callable[[], Awaitable[dict | None]]) -> dict:
    """Ask the running appliance, which holds the reader; with none running, do it here.

    A second control panel on a reader the appliance holds would knock the appliance's link off,
    so this process touches the reader only when no appliance answers and nobody holds it.
    """
    app = state.app()
    app.site.door(door_id)  # an unknown door is a usage error before anything else
    reply = ask(app.site, request)
    if reply is None:
        reply = asyncio.run(answered(direct()))
        if "held_by" in reply:
            reply["reason"] += "; " + _("no appliance answers on {path}: open or read the door through the "
                                       "process holding it, or stop that process").format(path=socket_path(app.site))
    return settled(reply)


@door.command("open", help=_("Open a door by hand; authorised and journaled. Goes through the running "
                             "appliance when there is one."))
@click.argument("door_id")
@click.option("--seconds", type=click.FloatRange(min=0.1, max=600),
              help=_("How long the strike stays open (the door's setting by default)."))
@actor_option
@click.pass_obj
@refusing
def door_open(state: State, door_id: str, seconds: float | None, actor: str) -> None:
    from watchkeeper.rules.door_service import manual_open

    request = {"op": "door.open", "door": door_id, "actor": actor, "seconds": seconds}
    _door_reply(state, door_id, request, lambda: manual_open(state.app(), actor, door_id, seconds))
    click.echo(_("{door} opened").format(door=door_id))


@door.command("status", help=_("A site door's reader: online, secure channel, tamper, door contact, and the "
                               "findings they mean (exit 1 with findings). Asks the running appliance when "
                               "there is one."))
@click.argument("door_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusing
def door_status(state: State, door_id: str, as_json: bool) -> None:
    from watchkeeper.rules.door_service import read_door_state

    result = _door_reply(state, door_id, {"op": "door.status", "door": door_id},
                         lambda: read_door_state(state.app(), door_id))
    result = {key: value for key, value in result.items() if key != "ok"}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for name, label in DOOR_STATUS_LABELS.items():
            click.echo(f"{rjust(localize(label), 15)}" + _(": ") + _door_value(result.get(name)))
        for finding in result["findings"]:
            click.echo(f"{rjust(kind_in_text(finding['kind']), 15)}" + _(": ") + localize(finding["reason"]))
    if result["findings"]:
        raise SystemExit(EXIT_FINDINGS)

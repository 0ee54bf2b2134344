"""`watchkeeper findings list|show|ack|assign|note|close`: every finding has an owner and a history."""

from __future__ import annotations

import json
from datetime import datetime

import click

from watchkeeper.core.findings import kind_title, severity_name
from watchkeeper.core.i18n import _, format_datetime
from watchkeeper.core.textwidth import ljust, rjust
from watchkeeper.faces.cli.common import State, actor_option, refusing
from watchkeeper.rules import ownership


def register(cli: click.Group) -> None:
    cli.add_command(findings)


@click.group(help=_("Open findings and their owners: acknowledge, assign, note what was done, close."))
def findings() -> None:
    pass


@findings.command("list", help=_("List open findings (--all: closed ones too)."))
@click.option("--all", "everything", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_findings(state: State, everything: bool, as_json: bool) -> None:
    app = state.app()
    where = None if everything else "closed_at IS NULL"
    rows = [dict(row, **ownership.state(app, row["id"])) for row in app.store.db["findings"].rows_where(where,
                                                                                                        order_by="id")]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for row in rows:
        opened = datetime.fromisoformat(row["opened_at"]).astimezone(app.site.zone)
        owner = row.get("assignee") or (_("acknowledged by {who}").format(who=row["acknowledged_by"])
                                        if row.get("acknowledged_by") else _("nobody"))
        closed = _(" closed") if row["closed_at"] else ""
        click.echo(f"{rjust(row['id'], 5)} {ljust(severity_name(row['severity']), 8)} "
                   f"{ljust(kind_title(row['kind']), 20)} {ljust(row['subject'], 28)} "
                   f"{format_datetime(opened)} {owner}{closed}")


@findings.command("show", help=_("One finding with everything done about it."))
@click.argument("finding_id", type=int)
@click.pass_obj
@refusing
def show(state: State, finding_id: int) -> None:
    app = state.app()
    row = dict(app.finding_store().get(finding_id), **ownership.state(app, finding_id))
    click.echo(json.dumps(row, ensure_ascii=False, indent=2, default=str))


@findings.command("ack", help=_("Acknowledge a finding: you have seen it and take it up."))
@click.argument("finding_id", type=int)
@click.option("--note", default="")
@actor_option
@click.pass_obj
@refusing
def ack(state: State, finding_id: int, note: str, actor: str) -> None:
    ownership.acknowledge(state.app(), actor, finding_id, note)
    click.echo(_("finding {id} acknowledged by {actor}").format(id=finding_id, actor=actor))


@findings.command("assign", help=_("Make a person the finding's owner (supervisors)."))
@click.argument("finding_id", type=int)
@click.option("--to", "assignee", required=True, help=_("The owner's person id."))
@click.option("--note", default="")
@actor_option
@click.pass_obj
@refusing
def assign(state: State, finding_id: int, assignee: str, note: str, actor: str) -> None:
    ownership.assign(state.app(), actor, finding_id, assignee, note)
    click.echo(_("finding {id} assigned to {assignee}").format(id=finding_id, assignee=assignee))


@findings.command("note", help=_("Note what was done about a finding, or to whom it was reported."))
@click.argument("finding_id", type=int)
@click.argument("text")
@actor_option
@click.pass_obj
@refusing
def note(state: State, finding_id: int, text: str, actor: str) -> None:
    ownership.fix_note(state.app(), actor, finding_id, text)
    click.echo(_("note added to finding {id}").format(id=finding_id))


@findings.command("close", help=_("Close a process finding with a reason (supervisors; device findings close "
                                  "themselves once fixed)."))
@click.argument("finding_id", type=int)
@click.option("--reason", required=True, help=_("Why it can be closed: what was found and done."))
@actor_option
@click.pass_obj
@refusing
def close(state: State, finding_id: int, reason: str, actor: str) -> None:
    ownership.close(state.app(), actor, finding_id, reason)
    click.echo(_("finding {id} closed by {actor}").format(id=finding_id, actor=actor))

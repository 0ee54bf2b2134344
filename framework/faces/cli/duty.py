"""`watchkeeper duty show|set|handover|accept|handovers`: the duty roster and the handover record (R5)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import click

from watchkeeper.core.i18n import _
from watchkeeper.core.textwidth import rjust
from watchkeeper.faces.cli.common import State, actor_option, refusing
from watchkeeper.rules import duty as duty_rule


def register(cli: click.Group) -> None:
    cli.add_command(duty)


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date like 2026-11-28").format(value=value)) from None


@click.group(help=_("The duty roster (who is on duty for each shift) and the shift handover (R5)."))
def duty() -> None:
    pass


@duty.command("show", help=_("Who is on duty for each shift, from the store's roster or the config."))
@click.option("--from", "first", help=_("First day (site date); today by default."))
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(state: State, first: str | None, days: int, as_json: bool) -> None:
    app = state.app()
    day = _date(first) or datetime.now(timezone.utc).astimezone(app.site.zone).date()
    since = duty_rule.shift_start(app, day, "00:00")
    rows = [{"shift": duty_rule.shift_label(app, start), "on_duty": list(duty_rule.on_duty(app, start))}
            for start in duty_rule.shift_starts(app, since, since + timedelta(days=days) - timedelta(seconds=1))]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    nobody = _("(nobody rostered)")
    for row in rows:
        click.echo(f"{row['shift']}  {', '.join(row['on_duty']) or nobody}")


@duty.command("set", help=_("Put named operators on duty for a shift (supervisors); overrides the config."))
@click.option("--date", "day", required=True, help=_("The shift's date (site date)."))
@click.option("--shift", required=True, help=_("The shift's start, one of policies.inspection_times."))
@click.option("--operator", "operators", multiple=True, required=True, help=_("A person on duty (repeat)."))
@click.option("--days", type=click.IntRange(1, 366), default=1, show_default=True,
              help=_("The same roster for this many days from --date."))
@click.option("--note", default="")
@actor_option
@click.pass_obj
@refusing
def set_roster(state: State, day: str, shift: str, operators: tuple[str, ...], days: int, note: str,
               actor: str) -> None:
    app = state.app()
    first = _date(day)
    for offset in range(days):
        start = duty_rule.set_roster(app, actor, first + timedelta(days=offset), shift, list(operators), note)
        click.echo(_("shift {shift}: {names} on duty").format(shift=duty_rule.shift_label(app, start),
                                                              names=", ".join(operators)))


@duty.command("handover", help=_("Hand the shift over (outgoing operator): lists every open finding."))
@click.option("--to", "incoming", required=True, help=_("The incoming operator's person id."))
@click.option("--note", default="", help=_("What the incoming operator must know."))
@actor_option
@click.pass_obj
@refusing
def handover(state: State, incoming: str, note: str, actor: str) -> None:
    app = state.app()
    handover_id = duty_rule.hand_over(app, actor, incoming, note)
    row = app.store.db["handovers"].get(handover_id)
    count = len(json.loads(row["open_findings"]))
    click.echo(_("handover {id} to {incoming} signed by {actor} with {count} open finding(s); "
                 "{incoming} countersigns with `watchkeeper duty accept {id} --actor {incoming}`").format(
        id=handover_id, incoming=incoming, actor=actor, count=count))


@duty.command("accept", help=_("Countersign a handover (incoming operator)."))
@click.argument("handover_id", type=int)
@click.option("--note", default="")
@actor_option
@click.pass_obj
@refusing
def accept(state: State, handover_id: int, note: str, actor: str) -> None:
    duty_rule.accept(state.app(), actor, handover_id, note)
    click.echo(_("handover {id} countersigned by {actor}").format(id=handover_id, actor=actor))


@duty.command("handovers", help=_("List handover records with their open findings."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def handovers(state: State, as_json: bool) -> None:
    app = state.app()
    rows = [dict(row, open_findings=json.loads(row["open_findings"] or "[]"))
            for row in app.store.db["handovers"].rows_where(order_by="id")]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        shift = duty_rule.shift_label(app, datetime.fromisoformat(row["shift_utc"]))
        state_text = _("countersigned") if row["accepted_at"] else _("awaiting countersignature")
        click.echo(f"{rjust(row['id'], 4)} {shift} {row['outgoing']} → {row['incoming']} ({state_text}); "
                   + _("{count} open finding(s)").format(count=len(row["open_findings"])))

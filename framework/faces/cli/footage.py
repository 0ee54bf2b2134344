"""`watchkeeper footage …` and `watchkeeper maintenance …`: retrieval (R9) and the room checklist (R4)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import click

from watchkeeper.core.i18n import N_, _, format_datetime, localize
from watchkeeper.core.textwidth import ljust, rjust
from watchkeeper.faces.cli.common import actor_option, refusing, require_known, settled, site_time
from watchkeeper.faces.control import ask
from watchkeeper.rules import maintenance as maintenance_rule
from watchkeeper.rules import viewing
from watchkeeper.rules.footage import Footage
from watchkeeper.faces.cli.common import State


def register(cli: click.Group) -> None:
    cli.add_command(footage)
    cli.add_command(maintenance)


@click.group(help=_("Footage retrieval: request, approval by another supervisor, export with a hash manifest."))
def footage() -> None:
    pass


@footage.command("request", help=_("Ask to retrieve a camera's recording for an investigation."))
@click.option("--camera", required=True)
@click.option("--from", "start", required=True, help=_("Start, site time."))
@click.option("--to", "end", required=True, help=_("End, site time."))
@click.option("--reason", required=True)
@click.option("--case", "case_ref", default="", help=_("Case or incident reference."))
@actor_option
@click.pass_obj
@refusing
def request(state: State, camera: str, start: str, end: str, reason: str, case_ref: str, actor: str) -> None:
    request_id = Footage(state.app()).request(actor, camera, site_time(state, start), site_time(state, end),
                                              reason, case_ref)
    click.echo(_("request {id} filed; awaiting a supervisor's approval").format(id=request_id))


@footage.command("approve", help=_("Approve (or --reject) a retrieval request."))
@click.argument("request_id", type=int)
@click.option("--reject", is_flag=True)
@click.option("--note", default="")
@actor_option
@click.pass_obj
@refusing
def approve(state: State, request_id: int, reject: bool, note: str, actor: str) -> None:
    Footage(state.app()).decide(actor, request_id, approve=not reject, note=note)
    click.echo(_("request {id} {status}").format(id=request_id, status=_("rejected") if reject else _("approved")))


#: How long `footage export` waits for the running appliance's answer: a long interval downloads slowly.
EXPORT_WAIT_SECONDS = 3600.0


@footage.command("export", help=_("Download an approved interval with a SHA-256 manifest. Done by the running "
                                  "appliance when there is one."))
@click.argument("request_id", type=int)
@actor_option
@click.pass_obj
@refusing
def export(state: State, request_id: int, actor: str) -> None:
    app = state.app()
    # Through the appliance, which cleans up after an export it was killed in the middle of.
    reply = ask(app.site, {"op": "footage.export", "request": request_id, "actor": actor}, EXPORT_WAIT_SECONDS)
    if reply is None:
        manifest = asyncio.run(Footage(app).export(actor, request_id))
    else:
        manifest = settled(reply)
    for item in manifest["files"]:
        click.echo(f"{item['sha256']}  {item['name']}  ({item['size_bytes']} bytes)")
    click.echo(_("manifest: {path}").format(path=manifest["manifest_path"]))


@footage.command("view", help=_("View an approved interval: its replay URI, or --clip to download it for viewing."))
@click.argument("request_id", type=int)
@click.option("--clip", is_flag=True, help=_("Download a clip instead of printing the replay URI."))
@actor_option
@click.pass_obj
@refusing
def view(state: State, request_id: int, clip: bool, actor: str) -> None:
    shown = asyncio.run(viewing.view(state.app(), actor, request_id, clip))
    if "clip" in shown:
        click.echo(_("clip: {path}").format(path=shown["clip"]))
    else:
        click.echo(_("replay: {uri} (log in with your own device account)").format(uri=shown["replay_uri"]))


@footage.command("device-log", help=_("What the recorders' own logs show (read daily by the device_audit check)."))
@click.option("--device", help=_("Only this recorder or camera."))
@click.option("--unmatched", is_flag=True, help=_("Only retrievals and deletions with no approval behind them."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def device_log(state: State, device: str | None, unmatched: bool, as_json: bool) -> None:
    app = state.app()
    require_known((device,) if device else (), {d.id for d in (*app.site.recorders, *app.site.cameras)}, "--device")
    clauses, values = ["action IN ('playback', 'export', 'download', 'deletion')"], []
    if device:
        clauses.append("device = ?")
        values.append(device)
    if unmatched:
        clauses.append("matched IS NULL")
    rows = list(app.store.db["device_log_entries"].rows_where(" AND ".join(clauses), values, order_by="time_utc"))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    unapproved = _("NO APPROVAL")
    for row in rows:
        when = datetime.fromisoformat(row["time_utc"]).astimezone(app.site.zone)
        channel = f"/{row['channel']}" if row["channel"] is not None else ""
        where = row["address"] or _("console")
        click.echo(f"{when:%Y-%m-%d %H:%M:%S} {row['device']}{channel} {ljust(row['action'], 9)} "
                   f"{ljust(row['user'], 10)} "
                   f"{ljust(where, 15)} {row['matched'] or unapproved}")


@footage.command("hold", help=_("Place an evidence hold on a camera's time range."))
@click.option("--camera", required=True)
@click.option("--from", "start", required=True)
@click.option("--to", "end", required=True)
@click.option("--reason", required=True)
@actor_option
@click.pass_obj
@refusing
def hold(state: State, camera: str, start: str, end: str, reason: str, actor: str) -> None:
    hold_id = Footage(state.app()).hold(actor, camera, site_time(state, start), site_time(state, end), reason)
    click.echo(_("hold {id} placed").format(id=hold_id))


@footage.command("delete", help=_("Delete an exported copy (refused while under hold)."))
@click.argument("export_id", type=int)
@actor_option
@click.pass_obj
@refusing
def delete(state: State, export_id: int, actor: str) -> None:
    Footage(state.app()).delete_export(actor, export_id)
    click.echo(_("export {id} deleted").format(id=export_id))


@footage.command("list", help=_("List retrieval requests."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_requests(state: State, as_json: bool) -> None:
    rows = list(state.app().store.db["footage_requests"].rows)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{rjust(row['id'], 4)} {ljust(_(row['status']), 9)} {ljust(row['camera'], 12)} "
                   f"{row['start_utc']}..{row['end_utc']} "
                   + _("by {who} ({reason})").format(who=row["requested_by"], reason=row["reason"]))


@click.group(help=_("The monitoring room's checklist (R4)."))
def maintenance() -> None:
    pass


@maintenance.command("tick", help=_("Mark a checklist task as done."))
@click.argument("task")
@click.option("--note", default="")
@actor_option
@click.pass_obj
@refusing
def tick(state: State, task: str, note: str, actor: str) -> None:
    app = state.app()
    tick_id = maintenance_rule.tick(app, actor, task, note)
    click.echo(_("{task} done (tick {tick})").format(task=task, tick=tick_id))
    if app.site.maintenance and next(t for t in app.site.maintenance if t.id == task).countersign:
        click.echo(_("a supervisor countersigns it: `watchkeeper maintenance countersign {tick} --actor SUPERVISOR`")
                   .format(tick=tick_id))


@maintenance.command("countersign", help=_("Countersign a tick someone else made (a weekly clean, R4)."))
@click.argument("tick_id", type=int)
@click.option("--note", default="")
@actor_option
@click.pass_obj
@refusing
def countersign(state: State, tick_id: int, note: str, actor: str) -> None:
    maintenance_rule.countersign(state.app(), actor, tick_id, note)
    click.echo(_("tick {tick} countersigned by {actor}").format(tick=tick_id, actor=actor))


#: How often a checklist task falls due, as the reader says it.
EVERY = {"daily": N_("daily"), "weekly": N_("weekly")}


@maintenance.command("list", help=_("Show each task and whether it is overdue."))
@click.pass_obj
def list_tasks(state: State) -> None:
    app = state.app()
    for task in maintenance_rule.states(app, datetime.now().astimezone()):
        done = f"{format_datetime(task.last_done_at, app.site.zone)} {task.last_done_by}" if task.last_done_at else _("never")
        flag = _("OVERDUE") if task.overdue else _("ok")
        every = localize(EVERY.get(task.every, task.every))
        click.echo(f"{ljust(task.id, 20)} {ljust(every, 7)} {ljust(flag, 8)} {done}  {localize(task.title)}")

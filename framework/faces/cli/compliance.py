"""`watchkeeper scope …` (R1) and `watchkeeper review …` (R10): approving camera scopes, signing reviews."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from watchkeeper.core.i18n import _, format_datetime
from watchkeeper.core.textwidth import ljust, rjust
from watchkeeper.faces.cli.common import State, actor_option, refusing
from watchkeeper.faces.report import PERIODS
from watchkeeper.faces.report_render import publish
from watchkeeper.rules import review as review_rule
from watchkeeper.rules import scope as scope_rule


def register(cli: click.Group) -> None:
    cli.add_command(scope)
    cli.add_command(review)


@click.group(help=_("Each camera's scope (location, purpose, zone) and its approval (R1)."))
def scope() -> None:
    pass


@scope.command("status", help=_("Show each camera's current scope and who approved it."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def scope_status(state: State, as_json: bool) -> None:
    app = state.app()
    rows = [{"camera": v.camera, **v.scope, "since_entry": v.seq,
             "approved_by": v.approval["by"] if v.approval else None,
             "approval_entry": v.approval["seq"] if v.approval else None} for v in scope_rule.versions(app).values()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        approved = _("approved by {who} (entry {seq})").format(who=row["approved_by"], seq=row["approval_entry"]) \
            if row["approved_by"] else _("NOT APPROVED")
        click.echo(f"{ljust(row['camera'], 16)} {row['location']} · {row['purpose']} · {row['zone']}  — {approved}")


@scope.command("approve", help=_("Approve the current scope of cameras (all not yet approved by default)."))
@click.option("--camera", "cameras", multiple=True, help=_("Only these cameras."))
@click.option("--note", default="", help=_("Why, or the document the scope comes from."))
@actor_option
@click.pass_obj
@refusing
def scope_approve(state: State, cameras: tuple[str, ...], note: str, actor: str) -> None:
    approved = scope_rule.approve(state.app(), actor, cameras, note)
    click.echo(_("scope approved by {actor}: {cameras}").format(actor=actor, cameras=", ".join(approved) or _("nothing pending")))


@click.group(help=_("Periodic evaluation: a supervisor reads a period's report and signs it (R10)."))
def review() -> None:
    pass


@review.command("sign", help=_("Write the period's report, then sign your review of it with comments and actions."))
@click.option("--period", type=click.Choice(list(PERIODS)), default="month", show_default=True)
@click.option("--ending", help=_("Last day of the period (site date, YYYY-MM-DD); today by default."))
@click.option("--report", "report_seq", type=int, help=_("Sign an already journaled report (its journal entry) instead."))
@click.option("--comments", required=True, help=_("What the review found: use of footage, rules kept, misuse handled."))
@click.option("--action", "actions", multiple=True, help=_("An action decided (repeat for several)."))
@click.option("--output", type=click.Path(path_type=Path), help=_("Folder for the report; 'reports' beside the store."))
@actor_option
@click.pass_obj
@refusing
def review_sign(state: State, period: str, ending: str | None, report_seq: int | None, comments: str,
                actions: tuple[str, ...], output: Path | None, actor: str) -> None:
    app = state.app()
    app.require(actor, "review.sign", "report")  # refuse before writing a report nobody may sign
    if report_seq is None:
        end = datetime.fromisoformat(ending).replace(hour=12, tzinfo=app.site.zone) if ending else None
        for path in publish(app, period, end, ("html", "json"), output or app.site.store.parent / "reports"):
            click.echo(path)
        report_seq = review_rule.report_entry(app)["seq"]
    review_id = review_rule.sign(app, actor, report_seq, comments, list(actions))
    click.echo(_("review {id} of report entry {seq} signed by {actor}").format(id=review_id, seq=report_seq, actor=actor))


@review.command("list", help=_("List the signed reviews."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def review_list(state: State, as_json: bool) -> None:
    app = state.app()
    rows = review_rule.reviews(app)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        signed = datetime.fromisoformat(row["signed_at"]).astimezone(app.site.zone)
        click.echo(f"{rjust(row['id'], 4)} {format_datetime(signed)} {ljust(row['signed_by'], 12)} "
                   f"{ljust(_(row['period_name']), 6)} "
                   f"{row['comments']}" + "".join(f"\n       → {action}" for action in row["actions"]))

"""`watchkeeper report`: the compliance report for a day, week or month (R10)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import click

from watchkeeper.core.i18n import _
from watchkeeper.faces.report import PERIODS
from watchkeeper.faces.report_render import publish
from watchkeeper.faces.cli.common import State


def register(cli: click.Group) -> None:
    cli.add_command(report)


@click.command(help=_("Write the compliance report: every clause's status and its evidence."))
@click.option("--period", type=click.Choice(list(PERIODS)), default="day", show_default=True)
@click.option("--ending", help=_("Last day of the period (site date, YYYY-MM-DD); today by default."))
@click.option("--format", "formats", type=click.Choice(["html", "pdf", "json"]), multiple=True,
              help=_("One or more; html and json by default."))
@click.option("--output", type=click.Path(path_type=Path), help=_("Folder for the files; 'reports' beside the store."))
@click.pass_obj
def report(state: State, period: str, ending: str | None, formats: tuple[str, ...], output: Path | None) -> None:
    app = state.app()
    try:
        end = date.fromisoformat(ending) if ending else None
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date like 2026-11-28").format(value=ending),
                                 param_hint="--ending") from None
    end = datetime.combine(end, time(12), tzinfo=app.site.zone) if end else None
    try:
        paths = publish(app, period, end, formats or ("html", "json"), output or app.site.store.parent / "reports")
    except RuntimeError as error:
        raise click.UsageError(str(error)) from None
    for path in paths:
        click.echo(path)

"""`watchkeeper report`: the compliance report for a day, week or month (R10)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import click

from ..i18n import _
from ..report import PERIODS, build_report
from ..report_render import write_report


def register(cli: click.Group) -> None:
    cli.add_command(report)


@click.command(help=_("Write the compliance report: every clause's status and its evidence."))
@click.option("--period", type=click.Choice(list(PERIODS)), default="day", show_default=True)
@click.option("--ending", help=_("Last day of the period (site date, YYYY-MM-DD); today by default."))
@click.option("--format", "formats", type=click.Choice(["html", "pdf", "json"]), multiple=True,
              help=_("One or more; html and json by default."))
@click.option("--output", type=click.Path(path_type=Path), help=_("Folder for the files; 'reports' beside the store."))
@click.pass_obj
def report(state: object, period: str, ending: str | None, formats: tuple[str, ...], output: Path | None) -> None:
    app = state.app()
    end = datetime.fromisoformat(ending).replace(hour=12, tzinfo=app.site.zone) if ending else None
    data = build_report(app, period, end)
    try:
        paths = write_report(data, app.site.zone, output or app.site.store.parent / "reports", formats or ("html", "json"))
    except RuntimeError as error:
        raise click.UsageError(str(error)) from None
    # R6/R10: each report is listed in the journal with its hash and the journal head it certifies.
    verification = data["evidence"]["R6"]["verification"]
    app.journal.append("operation", "watchkeeper", "report", {
        "period": data["period"], "files": [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                                            for p in paths],
        "journal_head": {"seq": verification["head_seq"], "hash": verification["head_hash"]}})
    for path in paths:
        click.echo(path)

"""`watchkeeper demo`: what a newcomer runs first."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import click

from watchkeeper.faces.demo import run_demo
from watchkeeper.core.findings import kind_title, severity_name
from watchkeeper.core.i18n import _
from watchkeeper.core.textwidth import ljust
from watchkeeper.evidence.findingstore import reason_of


def register(cli: click.Group) -> None:
    cli.add_command(demo)


@click.command(help=_("Run a simulated site with injected faults through every rule and write the report."))
@click.option("--folder", type=click.Path(path_type=Path), help=_("Working folder (a new one by default)."))
@click.option("--cameras", type=click.IntRange(min=1), help=_("Scale the site to this many cameras."))
@click.option("--keep-running", is_flag=True, help=_("Leave the appliance and simulators up afterwards."))
def demo(folder: Path | None, cameras: int | None, keep_running: bool) -> None:
    folder = folder or Path(f"watchkeeper-demo-{datetime.now():%Y%m%d-%H%M%S}")
    if folder.exists() and any(folder.iterdir()):
        raise click.BadParameter(_("{folder} is not empty; give a new folder").format(folder=folder))
    click.echo(_("demo site in {folder}").format(folder=folder.resolve()))
    summary = asyncio.run(run_demo(folder, cameras, keep_running, say=lambda text: click.echo(f"  {text}")))
    click.echo("")
    for clause in summary["clauses"]:
        click.echo(f"  {ljust(clause['clause'], 4)} {ljust(_(clause['status']), 12)} {_(clause['title'])}")
    click.echo("")
    for finding in summary["findings"]:
        click.echo(f"  {ljust(severity_name(finding['severity']), 8)} {ljust(kind_title(finding['kind']), 20)} "
                   f"{finding['subject']}"
                   f"{_(': ')}{reason_of(finding)}")
    click.echo("")
    click.echo(_("report: {path}").format(path=Path(summary["report"][0]).resolve()))
    click.echo(_("explore: watchkeeper --config {config} journal show").format(config=folder / "site.toml"))

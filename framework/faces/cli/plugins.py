"""`watchkeeper plugins`: what is loaded, at which version, implementing which hooks."""

from __future__ import annotations

import json

import click

from watchkeeper.core.i18n import _
from watchkeeper.host.pluginhost import describe_plugins
from watchkeeper.faces.cli.common import State


def register(cli: click.Group) -> None:
    cli.add_command(plugins)


@click.command(help=_("List loaded plugins, their versions and the hooks they implement."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def plugins(state: State, as_json: bool) -> None:
    rows = describe_plugins(state.pm)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']}  {row['version']}\n    {', '.join(row['hooks'])}")

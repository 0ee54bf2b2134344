"""`watchkeeper new-plugin NAME`: scaffold a vendor-plugin package that passes the conformance kit."""

from __future__ import annotations

from pathlib import Path

import click

from watchkeeper.core.i18n import _, error_text, localize
from watchkeeper.faces.cli.common import State
from watchkeeper.faces.scaffold import ScaffoldError, render_plugin
from watchkeeper.host.pluginhost import collect_platforms


def register(cli: click.Group) -> None:
    cli.add_command(new_plugin)


@click.command("new-plugin", help=_("Create a vendor-plugin package: driver, simulator, conformance tests, "
                                    "entry point and docs page."))
@click.argument("name")
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help=_("Where to create the package's folder."))
@click.pass_obj
def new_plugin(state: State, name: str, directory: Path) -> None:
    if name in collect_platforms(state.pm):
        raise click.BadParameter(_("platform {name!r} is already installed").format(name=name), param_hint="NAME")
    try:
        root = render_plugin(name, directory)
    except ScaffoldError as error:
        raise click.BadParameter(localize(error_text(error)), param_hint="NAME") from None
    click.echo(_("Created {root}").format(root=root))
    click.echo(_("Next: pip install -e '{root}[test]' && pytest {root}/tests").format(root=root.resolve()))

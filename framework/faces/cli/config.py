"""`watchkeeper config check`: validate a site config against the installed plugins."""

from __future__ import annotations

from pathlib import Path

import click

from watchkeeper.site.config import ConfigError, load_site, platform_kinds, platform_options, plugins_dir_of
from watchkeeper.core.i18n import _
from watchkeeper.host.pluginhost import PluginLoadError, collect_platforms, load_plugins
from watchkeeper.faces.cli.common import EXIT_USAGE, State


def register(cli: click.Group) -> None:
    cli.add_command(config)


@click.group(help=_("Site config commands."))
def config() -> None:
    pass


@config.command("check", help=_("Check a site config; list every problem with its key path."))
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_obj
def check(state: State, path: Path) -> None:
    pm = getattr(state, "pm", None)
    try:
        plugins_dir = plugins_dir_of(path)
        if plugins_dir is not None:
            pm = load_plugins(plugins_dir)
        platforms = collect_platforms(pm)
        site = load_site(path, platform_kinds(platforms), platform_options(platforms), secrets_required=False)
    except ConfigError as error:
        click.echo(error.render(), err=True)
        raise SystemExit(EXIT_USAGE) from None
    except PluginLoadError as error:
        click.echo(f"{path}: site.plugins_dir: {error}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    for warning in site.warnings:
        click.echo(f"{path}: {_('warning')}: {warning}", err=True)
    click.echo(_("{path}: ok — {cameras} cameras, {recorders} recorders, {doors} doors, {people} people").format(
        path=path, cameras=len(site.cameras), recorders=len(site.recorders), doors=len(site.doors),
        people=len(site.people)))

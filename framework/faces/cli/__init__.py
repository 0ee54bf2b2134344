"""The `watchkeeper` command: a click group built by a factory, so no plugin loads at import time."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import click
import pluggy

from watchkeeper.site.config import ConfigError, load_site, plugins_dir_of
from watchkeeper.core.i18n import _
from watchkeeper.faces.cli.common import EXIT_STORE, State, store_failure_message
from watchkeeper.host.pluginhost import PluginLoadError, load_plugins

DEFAULT_CONFIG = "site.toml"


def _config_from_argv(argv: list[str]) -> Path:
    for index, arg in enumerate(argv):
        if arg == "--config" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return Path(os.environ.get("WATCHKEEPER_CONFIG", DEFAULT_CONFIG))


def make_cli(pm: pluggy.PluginManager | None = None, config: Path | None = None) -> click.Group:
    """Build the CLI with every core command and every plugin's `register_commands`."""
    from watchkeeper.faces.cli import config as config_commands
    from watchkeeper.faces.cli import (access, analyze, backup, checks, compliance, demo, duty, findings, footage,
                                       inspect, journal, plugins, probe, report, run, service, simulate)
    from watchkeeper.faces.cli import estate, logins, new_plugin, worker
    from watchkeeper.faces.cli import forms
    from watchkeeper.faces.cli.clicktext import install

    install()

    config_path = config or _config_from_argv(sys.argv[1:])
    if pm is None:
        pm = load_plugins(plugins_dir_of(config_path))

    @click.group(help=_("watchkeeper: the site's recording-management regulation, carried out every day."))
    @click.option("--config", "config_option", type=click.Path(path_type=Path), envvar="WATCHKEEPER_CONFIG",
                  default=DEFAULT_CONFIG, show_default=True, help=_("The site config file."))
    @click.version_option(package_name="watchkeeper")
    @click.pass_context
    def cli(ctx: click.Context, config_option: Path) -> None:
        ctx.obj = State(pm, config_option)
        ctx.call_on_close(lambda: ctx.obj._app.close() if ctx.obj._app else None)

    for module in (access, backup, checks, compliance, config_commands, demo, duty, estate, findings, footage, inspect,
                   journal, new_plugin, plugins, probe, report, run, service, simulate, worker):
        module.register(cli)
    forms.register(cli)
    logins.register(cli)  # into `people`, which access registered
    cli.add_command(analyze.analyze)
    pm.hook.register_commands(cli=cli)
    return cli


def main() -> None:
    try:
        cli = make_cli()
    except PluginLoadError as error:
        click.echo(_("error loading plugins:") + f"\n{error}", err=True)
        raise SystemExit(2) from None
    try:
        cli(prog_name="watchkeeper")
    except (sqlite3.Error, OSError) as error:
        # A disk that fills or turns read-only mid-command: the store's writes are transactions
        # and reports are renamed into place when whole, so what failed left nothing behind.
        message = store_failure_message(error, _store_of(sys.argv[1:]))
        if message is None:
            raise
        click.echo(message, err=True)
        raise SystemExit(EXIT_STORE) from None


def _store_of(argv: list[str]) -> Path | None:
    """The store the command line's config names, to say which file failed and whether its disk is full."""
    try:
        return load_site(_config_from_argv(argv)).store
    except ConfigError:
        return None

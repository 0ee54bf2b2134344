"""What the CLI's command modules share: the opened site, the --actor option, site times, refusals."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pluggy

from watchkeeper.evidence.journal import JournalTampered
from watchkeeper.host import open_site
from watchkeeper.host.pluginhost import collect_platforms
from watchkeeper.site.app import App, Refused
from watchkeeper.site.config import ConfigError, Site, load_site, platform_kinds
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.i18n import _

class State:
    """What every command shares: the plugin manager and, opened on first use, the site."""

    def __init__(self, pm: pluggy.PluginManager, config: Path) -> None:
        self.pm = pm
        self.config = config
        self._app: App | None = None

    def app(self) -> App:
        if self._app is None:
            try:
                self._app = open_site(self.config, self.pm)
            except ConfigError as error:
                click.echo(error.render(), err=True)
                raise SystemExit(2) from None
            if self._app.journal_alarm is not None:
                click.echo(_("journal tampered with: {reason} (alarm journaled, finding opened)").format(
                    reason=self._app.journal_alarm.reason), err=True)
        return self._app

    def site(self) -> Site:
        """The validated site config alone, for commands that must not open (and so change) the store."""
        try:
            return load_site(self.config, platform_kinds(collect_platforms(self.pm)))
        except ConfigError as error:
            click.echo(error.render(), err=True)
            raise SystemExit(2) from None


actor_option = click.option("--actor", required=True, help=_("Your person id from the site config."))


def site_time(state: Any, value: str) -> datetime:
    """A date-time typed at the console means the site's local time unless it names a zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date-time like 2026-11-28T09:00").format(value=value)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=state.app().site.zone)


def refusing(function: Callable[..., Any]) -> Callable[..., Any]:
    """A policy refusal or a device failure becomes a message and exit code 1; a bad argument
    (unknown id, impossible interval) a usage error with exit code 2. Never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Refused as error:
            click.echo(_("refused: {reason}").format(reason=error), err=True)
            raise SystemExit(1) from None
        except JournalTampered as error:
            click.echo(_("refused: the journal was tampered with: {reason} (alarm journaled as entry {seq})").format(
                reason=error.problem.reason, seq=error.alarm_seq), err=True)
            raise SystemExit(1) from None
        except DeviceError as error:
            click.echo(f"{error.kind}: {error.reason}", err=True)
            raise SystemExit(1) from None
        except (KeyError, ValueError) as error:
            raise click.UsageError(str(error).strip("'\"")) from None

    return wrapper

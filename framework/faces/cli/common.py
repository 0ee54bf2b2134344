"""What the CLI's command modules share: the opened site, the --actor option, site times, refusals."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pluggy

from watchkeeper.host import open_site
from watchkeeper.site.app import App, Refused
from watchkeeper.site.config import ConfigError
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.i18n import _

#: The exit codes of every command (docs/cli.md).
EXIT_OK = 0
#: Findings of fault severity, a broken journal, or a refusal by the site's policy.
EXIT_FINDINGS = 1
#: A bad argument, an unknown id, a config error.
EXIT_USAGE = 2
#: A device or the environment failed the command itself: a reader that does not acknowledge, a
#: device that cannot be reached, a port in use, another process holding a reader.
EXIT_ENVIRONMENT = 3


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
        return self._app


actor_option = click.option("--actor", required=True, help=_("Your person id from the site config."))


def site_time(state: Any, value: str) -> datetime:
    """A date-time typed at the console means the site's local time unless it names a zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date-time like 2026-11-28T09:00").format(value=value)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=state.app().site.zone)


def refusing(function: Callable[..., Any]) -> Callable[..., Any]:
    """A policy refusal becomes a message and exit code 1, a device failure exit code 3, a bad
    argument (unknown id, impossible interval) a usage error with exit code 2. Never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Refused as error:
            click.echo(_("refused: {reason}").format(reason=error), err=True)
            raise SystemExit(EXIT_FINDINGS) from None
        except DeviceError as error:
            click.echo(f"{error.kind}: {error.reason}", err=True)
            raise SystemExit(EXIT_ENVIRONMENT) from None
        except (KeyError, ValueError) as error:
            raise click.UsageError(str(error).strip("'\"")) from None

    return wrapper

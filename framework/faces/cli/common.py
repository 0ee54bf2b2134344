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
from watchkeeper.host.pluginhost import collect_platforms
from watchkeeper.site.app import App, Refused
from watchkeeper.site.config import ConfigError, Site, load_site, platform_kinds
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.evidence.journal import JournalKeyError, JournalTampered
from watchkeeper.evidence.store import StoreError, store_problem
from watchkeeper.core.i18n import _

#: The exit codes of every command (docs/cli.md).
EXIT_OK = 0
#: The command ran and found something: findings of fault severity from a check (a device that
#: cannot be reached is one), a broken journal; or the site's policy refused the action.
EXIT_FINDINGS = 1
#: A bad argument, an unknown id, a config error.
EXIT_USAGE = 2
#: A device or the environment kept an action from being done: a strike not acknowledged, a clip
#: that cannot be downloaded, a reader another process holds, a port in use.
EXIT_ENVIRONMENT = 3
#: The site's own data cannot be used: its store (corrupt, read-only, disk full) or its journal key.
EXIT_STORE = EXIT_ENVIRONMENT


def store_failure_message(error: BaseException, store: Path | None) -> str | None:
    """The one line a store or disk failure is reported as, or None when `error` is not one."""
    if isinstance(error, (StoreError, JournalKeyError)):
        return str(error)
    problem = store_problem(error, store)
    if problem is None:
        return None
    where = getattr(error, "filename", None) or store or _("the store")
    return f"{where}: {problem} ({error})"


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
                raise SystemExit(EXIT_USAGE) from None
            except Exception as error:  # only the store's and the key's failures are handled here
                message = store_failure_message(error, None)
                if message is None:
                    raise
                click.echo(message, err=True)
                raise SystemExit(EXIT_STORE) from None
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
            raise SystemExit(EXIT_USAGE) from None


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
        except JournalTampered as error:
            click.echo(_("refused: the journal was tampered with: {reason} (alarm journaled as entry {seq})").format(
                reason=error.problem.reason, seq=error.alarm_seq), err=True)
            raise SystemExit(EXIT_FINDINGS) from None
        except DeviceError as error:
            click.echo(f"{error.kind}: {error.reason}", err=True)
            raise SystemExit(EXIT_ENVIRONMENT) from None
        except (KeyError, ValueError) as error:
            # str() of a KeyError is the repr of its message; the message itself is what to show.
            raise click.UsageError(str(error.args[0]) if error.args else type(error).__name__) from None

    return wrapper


def settled(reply: dict[str, Any]) -> dict[str, Any]:
    """The running appliance's reply to a control request: its result, or the message and exit code
    the same failure has when the command does the work itself (see `refusing`)."""
    if reply["ok"]:
        return reply
    error = reply.get("error")
    if error == "refused":
        click.echo(_("refused: {reason}").format(reason=reply["reason"]), err=True)
        raise SystemExit(EXIT_FINDINGS)
    if error == "usage":
        raise click.UsageError(reply["reason"])
    click.echo(f"{reply.get('kind', 'error')}: {reply['reason']}", err=True)
    raise SystemExit(EXIT_ENVIRONMENT)


def require_known(given: tuple[str, ...], known: set[str], option: str) -> None:
    """Ids named on the command line that the site does not have: a usage error, not a silent nothing."""
    unknown = [value for value in given if value not in known]
    if unknown:
        raise click.BadParameter(_("not in the site config: {ids}; known: {known}").format(
            ids=", ".join(unknown), known=", ".join(sorted(known)) or _("none")), param_hint=option)

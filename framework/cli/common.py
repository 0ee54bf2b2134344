"""What the CLI's command modules share: the --actor option, site-time parsing, refusal handling."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from ..app import Refused
from ..drivers import DeviceError
from ..i18n import _

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
        except DeviceError as error:
            click.echo(f"{error.kind}: {error.reason}", err=True)
            raise SystemExit(1) from None
        except (KeyError, ValueError) as error:
            raise click.UsageError(str(error).strip("'\"")) from None

    return wrapper

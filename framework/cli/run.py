"""`watchkeeper run`: the appliance in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import click

from ..appliance import run_until
from ..i18n import _


def register(cli: click.Group) -> None:
    cli.add_command(run)


@click.command(help=_("Run the appliance: scheduled checks, device events, doors. Stops on SIGTERM or Ctrl-C."))
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_obj
def run(state: object, log_level: str) -> None:
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = state.app()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await run_until(app, stop, lambda: click.echo(
            _("watchkeeper running for {site}; Ctrl-C stops").format(site=app.site.name), err=True))

    asyncio.run(main())

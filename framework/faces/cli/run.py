"""`watchkeeper run`: the appliance in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import click

from watchkeeper.faces.control import AlreadyRunning, ask
from watchkeeper.faces.service import run_until
from watchkeeper.core.i18n import _
from watchkeeper.faces.cli.common import EXIT_ENVIRONMENT, State


def register(cli: click.Group) -> None:
    cli.add_command(run)
    cli.add_command(web_command)


def _listen(value: str) -> tuple[str, int]:
    host, _colon, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(_("{value!r} is not HOST:PORT").format(value=value))
    return host, int(port)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@click.command("web", help=_("Serve the dashboard only (no checks, no devices) until Ctrl-C."))
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help=_("HOST:PORT; other than loopback, put it behind TLS (its login cookies are Secure)."))
@click.pass_obj
def web_command(state: State, listen: str) -> None:
    from watchkeeper.faces.web import WebConfigError, serve  # aiohttp's server: only the commands that serve

    app = state.app()

    async def main() -> None:
        try:
            runner, url = await serve(app, *_listen(listen))
        except WebConfigError as error:
            raise click.UsageError(str(error)) from None
        click.echo(_("dashboard at {url}").format(url=url), err=True)
        try:
            await _wait_for_signal()
        finally:
            await runner.cleanup()

    asyncio.run(main())


@click.command(help=_("Run the appliance: scheduled checks, device events, doors. Stops on SIGTERM or Ctrl-C."))
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help=_("Dashboard HOST:PORT; other than loopback, put it behind TLS (its login cookies are Secure)."))
@click.option("--no-web", is_flag=True, help=_("Do not serve the dashboard."))
@click.pass_obj
def run(state: State, log_level: str, listen: str, no_web: bool) -> None:
    from watchkeeper.faces.web import WebConfigError, serve

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = state.app()
    address = None if no_web else _listen(listen)
    running = ask(app.site, {"op": "ping"}, 5.0)
    if running is not None:  # checked before the dashboard takes its port, so this is what is said
        click.echo(_("another watchkeeper appliance is already running for this site (pid {pid}); "
                     "stop it first").format(pid=running.get("pid", "?")), err=True)
        raise SystemExit(EXIT_ENVIRONMENT)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        runner = None
        if address is not None:
            try:
                runner, url = await serve(app, *address)
            except WebConfigError as error:
                raise click.UsageError(str(error)) from None
            except OSError as error:
                click.echo(_("cannot serve the dashboard on {address}: {reason}").format(
                    address=listen, reason=error.strerror or error), err=True)
                raise SystemExit(EXIT_ENVIRONMENT) from None
            click.echo(_("dashboard at {url}").format(url=url), err=True)
        try:
            await run_until(app, stop, lambda: click.echo(
                _("watchkeeper running for {site}; Ctrl-C stops").format(site=app.site.name), err=True))
        finally:
            if runner is not None:
                await runner.cleanup()

    try:
        asyncio.run(main())
    except AlreadyRunning as error:  # started between the check above and this appliance's socket
        click.echo(str(error), err=True)
        raise SystemExit(EXIT_ENVIRONMENT) from None

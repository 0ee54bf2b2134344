"""`watchkeeper estate serve|enrol|revoke|clear|verify|people|report|push`: the estate roll-up and the site's link to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import click

from watchkeeper.core.i18n import _
from watchkeeper.evidence.store import StoreError
from watchkeeper.faces.cli.common import EXIT_ENVIRONMENT, EXIT_USAGE, State, refusing
from watchkeeper.faces.estate.config import EstateConfig, load_estate
from watchkeeper.faces.estate.push import Pusher, PushRefused
from watchkeeper.faces.estate.report import build_estate_report, write_estate_report
from watchkeeper.faces.cli import estateadmin
from watchkeeper.faces.estate.store import EstateStore, open_store
from watchkeeper.faces.report import PERIODS
from watchkeeper.site.config import ConfigError

ESTATE_CONFIG = "estate.toml"
config_option = click.option("--config", "estate_config", type=click.Path(path_type=Path), default=ESTATE_CONFIG,
                             envvar="WATCHKEEPER_ESTATE_CONFIG",
                             show_default=True, help=_("The estate's config file (not a site's)."))


def register(cli: click.Group) -> None:
    cli.add_command(estate)


def _open(path: Path) -> tuple[EstateConfig, EstateStore]:
    try:
        config = load_estate(path)
        return config, open_store(config)
    except ConfigError as error:
        click.echo(error.render(), err=True)
        raise SystemExit(EXIT_USAGE) from None
    except StoreError as error:
        click.echo(str(error), err=True)
        raise SystemExit(EXIT_ENVIRONMENT) from None


@click.group(help=_("The estate: one view of every site's compliance, pushed by the sites' appliances."))
def estate() -> None:
    pass


@estate.command(help=_("Serve the estate: the push endpoint and the dashboard, until Ctrl-C."))
@config_option
def serve(estate_config: Path) -> None:
    from watchkeeper.faces.estate.server import EstateConfigError, start

    config, store = _open(estate_config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        try:
            runner = await start(config, store)
        except EstateConfigError as error:
            click.echo(str(error), err=True)
            raise SystemExit(EXIT_USAGE) from None
        except OSError as error:
            click.echo(_("cannot listen on {host}:{port}: {error}").format(
                host=config.host, port=config.port, error=error.strerror or error), err=True)
            raise SystemExit(EXIT_ENVIRONMENT) from None
        from watchkeeper.faces.estate.server import PEOPLE

        if not runner.app[PEOPLE].anyone():  # the dashboard would answer nobody: say how to begin
            click.echo(_("the estate has no people yet: nobody can log in to the dashboard until an admin is"
                         " added (`watchkeeper estate people add ID --role admin --reason ...`)"), err=True)
        scheme = "https" if config.tls_cert else "http"
        click.echo(_("estate {name} at {url}").format(name=config.name, url=f"{scheme}://{config.host}:{config.port}/"))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        store.close()


@estate.command(help=_("Enrol a site: issue its push key, shown once (the estate keeps only its hash)."))
@click.argument("site_id")
@click.option("--reason", required=True, help=_("Why (journaled with the enrolment)."))
@click.option("--rotate", is_flag=True, help=_("Issue a new key for a site already enrolled; the old one stops working."))
@estateadmin.identity_options
@config_option
@refusing
def enrol(site_id: str, reason: str, rotate: bool, actor: str | None, password_fd: int | None,
          estate_config: Path) -> None:
    from watchkeeper.site.config import IDENTIFIER

    if not IDENTIFIER.match(site_id):
        raise click.BadParameter(_("a site id is letters, digits, '.', '_' or '-' (at most 64)"), param_hint="SITE_ID")
    config, store = _open(estate_config)
    key = estateadmin.enrol_site(config, store, site_id, reason, rotate, actor, password_fd)
    click.echo(_("Site {site} enrolled. Its key, shown only now; keep it in a file readable only by the"
                 " appliance's user:").format(site=site_id), err=True)
    click.echo(key)
    click.echo(_("In the site's site.toml:") + f'\n[estate]\nurl = "https://ESTATE-HOST:{config.port}"\n'
               f'site_id = "{site_id}"\nkey = "file:/etc/watchkeeper/estate.key"', err=True)


@estate.command(help=_("Revoke a site's key: its pushes are refused until it is enrolled again."))
@click.argument("site_id")
@click.option("--reason", required=True, help=_("Why (journaled with the revocation)."))
@estateadmin.identity_options
@config_option
@refusing
def revoke(site_id: str, reason: str, actor: str | None, password_fd: int | None, estate_config: Path) -> None:
    estateadmin.site_action(*_open(estate_config), "revoke", site_id, reason, actor, password_fd)
    click.echo(_("site {site} revoked").format(site=site_id))


@estate.command(help=_("Clear a site's flag (a rewritten or truncated journal) once it has been looked into."))
@click.argument("site_id")
@click.option("--reason", required=True, help=_("What was found (journaled with the clearing)."))
@estateadmin.identity_options
@config_option
@refusing
def clear(site_id: str, reason: str, actor: str | None, password_fd: int | None, estate_config: Path) -> None:
    estateadmin.site_action(*_open(estate_config), "clear", site_id, reason, actor, password_fd)
    click.echo(_("flag of site {site} cleared").format(site=site_id))


@estate.command(help=_("Verify the estate's journal (enrolments, revocations, cleared flags, logins): its chain,"
                       " HMACs and anchor. Exit code 1 when it does not hold."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@config_option
def verify(as_json: bool, estate_config: Path) -> None:
    estateadmin.verify_journal(*_open(estate_config), as_json)


estate.add_command(estateadmin.people_group(lambda path: _open(path), config_option))


@estate.command(help=_("Print the journal heads the estate accepted from a site, as witness lines for the"
                       " site's `journal verify --witness FILE`. Needs a person of the estate (viewer or admin)."))
@click.argument("site_id")
@estateadmin.identity_options
@config_option
@refusing
def heads(site_id: str, actor: str | None, password_fd: int | None, estate_config: Path) -> None:
    from watchkeeper.faces.estate.views import witness_lines

    config, store = _open(estate_config)
    with estateadmin.viewing(config, store, actor, password_fd, site_id):
        try:
            lines = witness_lines(store, site_id)
        except KeyError:
            raise click.UsageError(_("no enrolled site {site}").format(site=site_id)) from None
    for line in lines:
        click.echo(line)


@estate.command("report", help=_("Write the estate's evaluation for a period: every site's clauses, worst first."
                                 " Needs a person of the estate (viewer or admin)."))
@click.option("--period", type=click.Choice(list(PERIODS)), default="week", show_default=True)
@click.option("--ending", help=_("Last day of the period (estate date, YYYY-MM-DD); today by default."))
@click.option("--output", type=click.Path(path_type=Path), help=_("Folder for the files; [estate] reports by default."))
@estateadmin.identity_options
@config_option
@refusing
def report(period: str, ending: str | None, output: Path | None, actor: str | None, password_fd: int | None,
           estate_config: Path) -> None:
    config, store = _open(estate_config)
    try:
        end = date.fromisoformat(ending) if ending else None
    except ValueError:
        store.close()
        raise click.BadParameter(_("{value!r} is not a date like 2026-11-28").format(value=ending),
                                 param_hint="--ending") from None
    with estateadmin.viewing(config, store, actor, password_fd, f"report {period}"):
        moment = datetime.combine(end, time(12), tzinfo=ZoneInfo(config.time_zone)) if end else None
        paths = write_estate_report(build_estate_report(store, config, period, moment), config,
                                    output or config.reports)
    for path in paths:
        click.echo(path)


@estate.command(help=_("On a site: queue what changed and push the outbox to the estate now."))
@click.pass_obj
def push(state: State) -> None:
    app = state.app()
    if app.site.estate is None:
        raise click.UsageError(_("the site config has no [estate] table"))
    pusher = Pusher(app, app.site.estate)

    async def once() -> int:
        async with aiohttp.ClientSession() as session:
            return await pusher.once(session)

    try:
        acked = asyncio.run(once())
    except PushRefused as error:
        click.echo(str(error), err=True)
        raise SystemExit(EXIT_ENVIRONMENT) from None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
        click.echo(_("the estate cannot be reached ({error}); the outbox keeps {count} items for later").format(
            error=str(error) or type(error).__name__, count=pusher.status()["queued"]), err=True)
        raise SystemExit(EXIT_ENVIRONMENT) from None
    click.echo(_("pushed: the estate holds items up to {acked}").format(acked=acked))

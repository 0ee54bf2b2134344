"""`watchkeeper worker`: a process that inspects cameras for the site's appliance, through Redis."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from watchkeeper.core.i18n import _
from watchkeeper.faces.cli.common import EXIT_ENVIRONMENT, EXIT_USAGE, State
from watchkeeper.host.pluginhost import collect_platforms


def register(cli: click.Group) -> None:
    cli.add_command(worker)


async def _ping(settings: object) -> str | None:
    """Why the broker cannot be used, or None when it answers PING."""
    from arq import create_pool

    try:
        pool = await create_pool(settings)  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001 - any failure to connect is said, without a traceback
        return type(error).__name__
    try:
        await pool.ping()
    except Exception as error:  # noqa: BLE001
        return type(error).__name__
    finally:
        await pool.aclose()
    return None


@click.command(help=_("Inspect cameras for the site's appliance: take per-camera tasks from the broker in "
                      "[distributed] until stopped (SIGTERM or Ctrl-C). Never writes the site's store."))
@click.option("--jobs", type=click.IntRange(1, 1000), help=_("Tasks at once (default: distributed.worker_jobs)."))
@click.option("--config", "config", type=click.Path(path_type=Path),
              help=_("The site config file (as `watchkeeper --config`): the same as the appliance's."))
@click.pass_obj
def worker(state: State, jobs: int | None, config: Path | None) -> None:
    from watchkeeper.rules import workers

    if config is not None:
        state.config = config
    site = state.site()
    if site.distributed is None:
        raise click.UsageError(_("the site config {path} has no [distributed] section: there is no broker to take "
                                 "tasks from (docs/distributed.md)").format(path=state.config))
    section = site.distributed
    problem = asyncio.run(_ping(workers.redis_settings(section)))
    if problem is not None:
        click.echo(_("the broker {where} does not answer ({reason}); is redis-server running?").format(
            where=section.where, reason=problem), err=True)
        raise SystemExit(EXIT_ENVIRONMENT)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("arq").setLevel(logging.WARNING)  # one line per task is the appliance's to keep
    if jobs is not None:
        import attrs

        site = attrs.evolve(site, distributed=attrs.evolve(section, worker_jobs=jobs))
    process = workers.worker_for(site, state.pm, collect_platforms(state.pm))
    click.echo(_("worker for site {site}: queue {queue} on {where}, {jobs} tasks at once").format(
        site=site.name, queue=section.queue, where=section.where, jobs=site.distributed.worker_jobs), err=True)
    try:
        process.run()
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        raise SystemExit(EXIT_USAGE) from None

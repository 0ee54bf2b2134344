"""`watchkeeper inspect [sign]` and `watchkeeper baseline capture`: the shift inspection (R5)."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone

import click

from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.findings import kind_title, severity_name
from watchkeeper.core.i18n import _, localize
from watchkeeper.core.textwidth import ljust
from watchkeeper.faces.cli.common import (EXIT_FINDINGS, actor_option, authenticate, optional_actor_options, refusing,
                                          require_known)
from watchkeeper.rules import inspection
from watchkeeper.faces.cli.common import State


def register(cli: click.Group) -> None:
    cli.add_command(inspect)
    cli.add_command(baseline)


@click.group(invoke_without_command=True, help=_("Inspect every camera now: live frames and a recorded clip (R5)."))
@click.option("--camera", "cameras", multiple=True, help=_("Only these cameras."))
@optional_actor_options
@click.option("--no-playback", is_flag=True, help=_("Skip the recorded clip (live frames only)."))
@click.pass_context
@refusing
def inspect(ctx: click.Context, cameras: tuple[str, ...], actor: str | None, password_fd: int | None,
            no_playback: bool) -> None:
    if ctx.invoked_subcommand is not None:
        return
    actor = authenticate(ctx.obj, actor, password_fd)  # inspections are run by a proven operator
    app = ctx.obj.app()
    require_known(cameras, {c.id for c in app.site.cameras}, "--camera")
    app.require(actor, "inspect.run", "inspection", kind="inspection")
    wanted = frozenset(cameras) or None
    count = len([c for c in app.site.cameras if wanted is None or c.id in wanted])
    checks = collect_checks(app.pm)
    with click.progressbar(length=count, label=_("inspecting"), file=sys.stderr) as bar:
        result = asyncio.run(run_check(app, checks["inspection"], actor, wanted,
                                       progress=lambda _camera: bar.update(1), playback=not no_playback))
    for finding in result.findings:
        click.echo(f"{ljust(severity_name(finding.severity), 8)} {ljust(kind_title(finding.kind), 15)} "
                   f"{finding.subject}{_(': ')}"
                   f"{localize(finding.reason)}")
    summary = result.summary
    click.echo(_("run {run}: {cameras} cameras, {ok} ok, {warning} warning, {fault} fault; sign it with "
                 "`watchkeeper inspect sign --actor YOU`").format(**summary))
    if any(str(f.severity) == "fault" for f in result.findings):  # as clock and retention do
        raise SystemExit(EXIT_FINDINGS)


@inspect.command("sign", help=_("Sign an inspection run (the latest by default) as the operator on duty."))
@click.option("--run", "run_id", type=int)
@click.option("--note", default="", help=_("A note on the run as a whole."))
@click.option("--fault", "faults", type=(str, str, str), multiple=True, metavar="CAMERA ACTION REPORTED_TO",
              help=_("For every camera with a fault: what was done, and to whom it was reported (repeat)."))
@actor_option
@click.pass_obj
@refusing
def sign(state: State, run_id: int | None, note: str, faults: tuple[tuple[str, str, str], ...], actor: str) -> None:
    notes = {camera: (action, reported_to) for camera, action, reported_to in faults}
    signed = inspection.sign(state.app(), actor, run_id, note, notes)
    click.echo(_("run {run} signed by {actor}").format(run=signed, actor=actor))


@click.group(help=_("Reference frames captured at commissioning (moved/occluded checks compare against them)."))
def baseline() -> None:
    pass


@baseline.command("capture", help=_("Store each camera's current view as its reference."))
@click.option("--camera", "cameras", multiple=True)
@actor_option
@click.pass_obj
@refusing
def capture(state: State, cameras: tuple[str, ...], actor: str) -> None:
    app = state.app()
    require_known(cameras, {c.id for c in app.site.cameras}, "--camera")
    app.require(actor, "inspect.run", "baseline", kind="inspection")

    async def grab(camera: object) -> str:
        endpoint, channel = inspection.source_of(app, camera)
        driver = app.driver(endpoint)
        try:
            data = await driver.snapshot(channel)
            inspection.decode_jpeg(data)
        except DeviceError as error:
            app.finding_store().record(error.finding(camera.id))
            return f"{camera.id}{_(': ')}{kind_title(error.kind)}{_(': ')}{localize(error.reason)}"
        finally:
            await driver.close()
        app.store.db["baselines"].upsert({"camera": camera.id, "captured_at": datetime.now(timezone.utc).isoformat(),
                                          "captured_by": actor, "jpeg": data}, pk="camera")
        app.journal.append("inspection", actor, camera.id, {"baseline": "captured", "bytes": len(data)})
        return f"{camera.id}: " + _("reference captured")

    async def grab_all() -> list[str]:
        chosen = [c for c in app.site.cameras if not cameras or c.id in cameras]
        return await asyncio.gather(*(grab(camera) for camera in chosen))

    for line in asyncio.run(grab_all()):
        click.echo(line)

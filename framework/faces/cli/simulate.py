"""`watchkeeper simulate PLATFORM`: run a platform's device simulator in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click

from watchkeeper.simulation.faults import FaultSpecError, parse_faults
from watchkeeper.core.i18n import _
from watchkeeper.host.pluginhost import collect_platforms
from watchkeeper.faces.cli.common import State


def register(cli: click.Group) -> None:
    cli.add_command(simulate)


async def _serve(factory: object, options: dict[str, object], ready: object) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with factory(**options) as devices:
        ready(devices)
        await stop.wait()


def _resolution(text: str) -> tuple[int, int]:
    width, _sep, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or not (16 <= int(width) <= 8192 and 16 <= int(height) <= 8192):
        raise click.BadParameter(_("{value!r} is not WIDTHxHEIGHT between 16 and 8192").format(value=text),
                                 param_hint="--resolution")
    return int(width), int(height)


def describe(device: object) -> str:
    endpoint = device.endpoint
    user = f"{endpoint.username}@" if endpoint.username else ""
    return f"{endpoint.platform}://{user}{endpoint.host}:{endpoint.port}" + (
        f"  ({endpoint.device_id})" if endpoint.device_id else "")


@click.command(help=_("Run a simulated device (or many) on this machine until interrupted."))
@click.argument("platform")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, help=_("First port; 0 picks free ports."))
@click.option("--user", "username", default="admin", show_default=True)
@click.option("--password", default=None,
              help=_("The devices' password (a reader's key in hex); the simulator's own default if not given: "
                     "watchkeeper-sim for cameras, docs/plugins/PLATFORM.md for others."))
@click.option("--devices", default=1, show_default=True, help=_("How many devices to simulate."))
@click.option("--faults", default="", help=_("Fault spec, e.g. blur,clock_offset=45,gap=2h@6h."))
@click.option("--channels", type=int, help=_("Channels per device: more than one makes each a recorder (NVR)."))
@click.option("--resolution", help=_("Picture size WIDTHxHEIGHT, e.g. 1920x1080 (default: the simulator's own)."))
@click.pass_obj
def simulate(state: State, platform: str, host: str, port: int, username: str, password: str | None,
             devices: int, faults: str, channels: int | None, resolution: str | None) -> None:
    platforms = collect_platforms(state.pm)
    record = platforms.get(platform)
    if record is None or record.simulator is None:
        names = sorted(name for name, p in platforms.items() if p.simulator is not None)
        raise click.BadParameter(_("no simulator for {platform!r}; available: {names}").format(
            platform=platform, names=", ".join(names) or "none"))
    try:
        profile = parse_faults(faults)
    except FaultSpecError as error:
        raise click.BadParameter(str(error), param_hint="--faults") from None
    options = dict(host=host, port=port, username=username, devices=devices, faults=profile)
    if password is not None:  # else each simulator's own default, one that its devices accept
        options["password"] = password
    if channels is not None:
        options["channels"] = channels
    if resolution is not None:
        options["resolution"] = _resolution(resolution)

    def ready(running: list) -> None:
        for device in running:
            click.echo(describe(device))
        if password is None:
            click.echo(_("password: the simulator's default (docs/plugins/{platform}.md); Ctrl-C stops").format(
                platform=platform), err=True)
        else:
            click.echo(_("password: as given by --password; Ctrl-C stops"), err=True)

    try:
        asyncio.run(_serve(record.simulator, options, ready))
    except ValueError as error:  # a simulator refusing its options (e.g. a reader key that is not hex)
        raise click.BadParameter(str(error)) from None
    except TypeError as error:
        # Recorder mode is optional in the simulator contract; say so rather than show a traceback.
        if channels is not None and "'channels'" in str(error):
            raise click.BadParameter(_("the {platform} simulator has no recorder mode").format(platform=platform),
                                     param_hint="--channels") from None
        if resolution is not None and "'resolution'" in str(error):
            raise click.BadParameter(_("the {platform} simulator has one picture size").format(platform=platform),
                                     param_hint="--resolution") from None
        raise

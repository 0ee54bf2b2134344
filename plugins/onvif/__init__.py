"""The ONVIF plugin: camera/NVR driver, device simulator and `watchkeeper discover`."""

from __future__ import annotations

import click

from watchkeeper import hookimpl
from watchkeeper.devices.drivers import Platform


def _driver(endpoint):  # imported lazily: zeep and the WSDLs load only when an ONVIF device is used
    from .driver import OnvifCamera
    return OnvifCamera(endpoint)


def _simulator(**options):
    from .simulator import simulate
    return simulate(**options)


@hookimpl
def register_platforms(register) -> None:
    register(Platform(name="onvif", camera_driver=_driver, simulator=_simulator, default_port=80,
                      description="ONVIF Profile S/G/T cameras and recorders (onvif-zeep-async)"))


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .discovery import discover
    cli.add_command(discover)

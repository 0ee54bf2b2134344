"""The ONVIF plugin: camera/NVR driver, device simulator and `watchkeeper discover`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from watchkeeper import hookimpl
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import CameraDriver, Platform
from watchkeeper.devices.http import HTTP_OPTIONS


def _driver(endpoint: Endpoint) -> CameraDriver:  # imported lazily: zeep and the WSDLs load only when used
    from .driver import OnvifCamera
    return OnvifCamera(endpoint)


def _simulator(**options: Any) -> Any:
    from .simulator import simulate
    return simulate(**options)


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    register(Platform(name="onvif", camera_driver=_driver, simulator=_simulator, default_port=80,
                      description="ONVIF Profile S/G/T cameras and recorders (onvif-zeep-async)",
                      options=dict(HTTP_OPTIONS)))


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .discovery import discover
    cli.add_command(discover)

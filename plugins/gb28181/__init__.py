"""GB/T 28181 devices (the national video-networking standard): watchkeeper as their SIP platform."""

from __future__ import annotations

from collections.abc import Callable

from watchkeeper import hookimpl
from watchkeeper.devices.drivers import Platform

from .driver import Gb28181Driver
from .simulator import simulate


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    register(Platform(
        name="gb28181", camera_driver=Gb28181Driver, simulator=simulate, default_port=5060,
        description="GB/T 28181 cameras and NVRs registering to watchkeeper's SIP platform (UDP and TCP)",
    ))

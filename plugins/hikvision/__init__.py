"""Hikvision ISAPI cameras and NVRs: the driver and its simulator, registered as platform `hikvision`."""

from __future__ import annotations

from collections.abc import Callable

from watchkeeper import hookimpl
from watchkeeper.devices.drivers import Platform

from .driver import HikvisionDriver
from .simulator import simulate


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    register(Platform(name="hikvision", camera_driver=HikvisionDriver, simulator=simulate, default_port=80,
                      description="Hikvision IP cameras and NVRs over ISAPI (HTTP Digest)"))

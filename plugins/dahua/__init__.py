"""Dahua CGI platform (also Amcrest, Lorex, EmpireTech): registers the driver and the simulator."""

from __future__ import annotations

from collections.abc import Callable

from watchkeeper import hookimpl
from watchkeeper.devices.drivers import Platform, in_range
from watchkeeper.devices.http import HTTP_OPTIONS

from .driver import DahuaDriver
from .simulator import simulate


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    register(Platform(
        name="dahua", camera_driver=DahuaDriver, simulator=simulate, default_port=80,
        description="Dahua HTTP CGI cameras and NVRs (Amcrest, Lorex, EmpireTech white labels)",
        options={**HTTP_OPTIONS, "rtsp_port": in_range(int, 1, 65535)},
    ))

"""Hikvision ISAPI cameras and NVRs: the driver and its simulator, registered as platform `hikvision`."""

from __future__ import annotations

from collections.abc import Callable

from watchkeeper import hookimpl
from watchkeeper.devices.drivers import Platform, in_range
from watchkeeper.devices.http import HTTP_OPTIONS

from .driver import HikvisionDriver
from .simulator import simulate


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    register(Platform(name="hikvision", camera_driver=HikvisionDriver, simulator=simulate, default_port=80,
                      description="Hikvision IP cameras and NVRs over ISAPI (HTTP Digest)",
                      options={"search_times_utc": bool, "rtsp_port": in_range(int, 1, 65535),
                               "max_clip_bytes": in_range(int, 1), "event_idle_timeout": in_range(float, 1),
                               **HTTP_OPTIONS}))

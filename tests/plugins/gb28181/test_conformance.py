"""The conformance kit against the GB/T 28181 simulator, as a camera and as a 16-channel NVR."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from watchkeeper.plugins.gb28181.simulator import SimulatedGb28181, simulate
from watchkeeper.testing import CameraDriverConformance

PASSWORD = "gb-sim-password"


class TestGb28181Camera(CameraDriverConformance):
    platform = "gb28181"
    reports_time_zone = False  # GB/T 28181 times carry no zone: they are the platform's (the site's)

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[SimulatedGb28181]:
        async with simulate(password=PASSWORD) as devices:
            yield devices[0]


class TestGb28181Recorder(CameraDriverConformance):
    platform = "gb28181"
    reports_time_zone = False
    channel = 11

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[SimulatedGb28181]:
        async with simulate(password=PASSWORD, channels=16) as devices:
            yield devices[0]

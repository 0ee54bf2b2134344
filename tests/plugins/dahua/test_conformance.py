"""The conformance kit against the Dahua simulator, as a camera and as a 16-channel NVR."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from watchkeeper.plugins.dahua.simulator import SimulatedDahua, simulate
from watchkeeper.testing import CameraDriverConformance

from .conftest import PASSWORD


class TestDahuaCamera(CameraDriverConformance):
    platform = "dahua"

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[SimulatedDahua]:
        async with simulate(password=PASSWORD) as devices:
            yield devices[0]


class TestDahuaRecorder(CameraDriverConformance):
    platform = "dahua"
    channel = 11

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[SimulatedDahua]:
        async with simulate(password=PASSWORD, channels=16) as devices:
            yield devices[0]

"""The conformance kit against the Dahua simulator, as a camera and as a 16-channel NVR."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from watchkeeper.plugins.dahua.simulator import SimulatedDahua, simulate
from watchkeeper.testing import CameraDriverConformance

from .conftest import PASSWORD


class TestDahuaCamera(CameraDriverConformance):
    platform = "dahua"
    reports_full_disk = False  # a formatted Dahua disk reports every byte used; full is an event

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[SimulatedDahua]:
        async with simulate(password=PASSWORD) as devices:
            yield devices[0]


class TestDahuaRecorder(CameraDriverConformance):
    platform = "dahua"
    reports_full_disk = False
    channel = 11

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[SimulatedDahua]:
        async with simulate(password=PASSWORD, channels=16) as devices:
            yield devices[0]

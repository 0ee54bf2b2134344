"""The conformance kit against the simulated Hikvision camera and NVR."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from watchkeeper.plugins.hikvision.simdevice import HikvisionDevice
from watchkeeper.plugins.hikvision.simulator import simulate
from watchkeeper.testing import CameraDriverConformance


class TestHikvisionCamera(CameraDriverConformance):
    platform = "hikvision"

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[HikvisionDevice]:
        async with simulate(heartbeat=0.5) as devices:
            yield devices[0]


class TestHikvisionRecorder(CameraDriverConformance):
    """An NVR: the same contract holds on a channel other than the first."""

    platform = "hikvision"
    channel = 5

    @pytest_asyncio.fixture
    async def simulated_device(self) -> AsyncIterator[HikvisionDevice]:
        async with simulate(channels=8, heartbeat=0.5) as devices:
            yield devices[0]

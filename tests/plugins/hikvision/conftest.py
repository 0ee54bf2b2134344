"""Fixtures for the Hikvision tests: simulated camera and NVR, and the no-Basic-auth guard."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from watchkeeper.plugins.hikvision.simdevice import RUNNING, HikvisionDevice
from watchkeeper.plugins.hikvision.simulator import simulate

NVR_CHANNELS = 8


@pytest.fixture(autouse=True)
def no_basic_auth() -> object:
    """No request anywhere in this suite may carry a Basic Authorization header (password in the clear)."""
    before = {id(device): device.basic_seen for device in list(RUNNING)}
    yield
    offenders = {device.endpoint.label(): device.basic_seen - before.get(id(device), 0)
                 for device in list(RUNNING) if device.basic_seen > before.get(id(device), 0)}
    assert not offenders, f"Basic Authorization seen by the simulator: {offenders}"


@pytest_asyncio.fixture
async def camera() -> AsyncIterator[HikvisionDevice]:
    async with simulate(heartbeat=0.3) as devices:
        yield devices[0]


@pytest_asyncio.fixture
async def nvr() -> AsyncIterator[HikvisionDevice]:
    async with simulate(channels=NVR_CHANNELS, heartbeat=0.3) as devices:
        yield devices[0]

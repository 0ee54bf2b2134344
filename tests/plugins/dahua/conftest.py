"""Fixtures for the Dahua plugin tests: simulated cameras and NVRs on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from watchkeeper.plugins.dahua.driver import DahuaDriver
from watchkeeper.plugins.dahua.simulator import SimulatedDahua, simulate

PASSWORD = "s3cret-Dahua!"


@pytest_asyncio.fixture
async def camera() -> AsyncIterator[SimulatedDahua]:
    async with simulate(password=PASSWORD) as devices:
        yield devices[0]


@pytest_asyncio.fixture
async def nvr() -> AsyncIterator[SimulatedDahua]:
    async with simulate(password=PASSWORD, channels=16) as devices:
        yield devices[0]


@pytest_asyncio.fixture
async def driver(camera: SimulatedDahua) -> AsyncIterator[DahuaDriver]:
    import attrs

    driver = DahuaDriver(attrs.evolve(camera.endpoint, timeout=3.0))
    yield driver
    await driver.close()

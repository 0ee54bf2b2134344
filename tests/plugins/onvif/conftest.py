"""Fixtures for the ONVIF plugin tests: simulated devices on loopback."""

from __future__ import annotations

import pytest_asyncio

from watchkeeper.plugins.onvif.simulator import simulate


@pytest_asyncio.fixture
async def simulated_device():
    async with simulate(devices=1, channels=2) as devices:
        yield devices[0]

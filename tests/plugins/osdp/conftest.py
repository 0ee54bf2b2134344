"""Fixtures: a reader simulator with its own key, on a free loopback port."""

from __future__ import annotations

import secrets

import pytest_asyncio

from watchkeeper.plugins.osdp.simulator import simulate


@pytest_asyncio.fixture
async def simulated_reader():
    async with simulate(password=secrets.token_hex(16)) as readers:
        yield readers[0]

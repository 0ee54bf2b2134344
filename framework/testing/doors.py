"""Door/reader driver conformance: status, grant and deny acknowledged, reads bridged, offline seen."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import attrs
import pytest
import pytest_asyncio

from watchkeeper.devices.drivers import DeviceError, DoorDriver, Platform
from watchkeeper.core.models import CredentialKind, CredentialRead, DoorStatus, Endpoint
from watchkeeper.host.pluginhost import collect_platforms, load_plugins


class SimulatedReader(Protocol):
    """What the kit needs from a running reader simulator."""

    endpoint: Endpoint

    async def present_card(self, number: str, bits: int = 26) -> None:
        """Present a card to the reader."""

    def outputs(self) -> list[dict[str, Any]]:
        """Output, LED and buzzer commands received so far, oldest first, each with a 'kind' key."""

    async def go_offline(self) -> None:
        """Stop answering the control panel."""


class DoorDriverConformance:
    """Subclass this in your plugin's tests; set `platform` and define `simulated_reader`."""

    platform: str = ""
    card: str = "12345"
    online_within: float = 10.0

    @pytest.fixture
    def platform_record(self) -> Platform:
        platforms = collect_platforms(load_plugins())
        assert self.platform in platforms and platforms[self.platform].door_driver is not None
        return platforms[self.platform]

    @pytest_asyncio.fixture
    async def door(self, platform_record: Platform, simulated_reader: SimulatedReader) -> Any:
        factory = platform_record.door_driver
        assert factory is not None
        driver = factory(attrs.evolve(simulated_reader.endpoint))
        deadline = asyncio.get_running_loop().time() + self.online_within
        while not (await driver.status()).online:
            if asyncio.get_running_loop().time() > deadline:
                await driver.close()
                pytest.fail("reader did not come online")
            await asyncio.sleep(0.1)
        yield driver
        await driver.close()

    @pytest.mark.asyncio
    async def test_status_online_and_secure(self, door: DoorDriver) -> None:
        status = await door.status()
        assert isinstance(status, DoorStatus)
        assert status.online and status.secure_channel

    @pytest.mark.asyncio
    async def test_card_read_is_bridged(self, door: DoorDriver, simulated_reader: SimulatedReader) -> None:
        reads = door.reads()
        waiter = asyncio.ensure_future(reads.__anext__())
        await asyncio.sleep(0.2)
        await simulated_reader.present_card(self.card)
        read = await asyncio.wait_for(waiter, 10)
        assert isinstance(read, CredentialRead) and read.kind is CredentialKind.CARD
        assert read.value == self.card and read.read_at.tzinfo is not None
        assert self.card not in repr(read)

    @pytest.mark.asyncio
    async def test_grant_and_deny_reach_reader(self, door: DoorDriver, simulated_reader: SimulatedReader) -> None:
        await door.grant(2)
        await door.deny()
        kinds = [o["kind"] for o in simulated_reader.outputs()]
        assert "output" in kinds and "led" in kinds and "buzzer" in kinds

    @pytest.mark.asyncio
    async def test_offline_reader_is_reported(self, door: DoorDriver, simulated_reader: SimulatedReader) -> None:
        await simulated_reader.go_offline()
        deadline = asyncio.get_running_loop().time() + self.online_within
        while (await door.status()).online:
            assert asyncio.get_running_loop().time() < deadline, "reader still online after going away"
            await asyncio.sleep(0.2)
        with pytest.raises(DeviceError):
            await door.grant(1)

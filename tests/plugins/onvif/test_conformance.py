"""The conformance kit against the ONVIF simulator, with its RTSP replay where GStreamer is installed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from watchkeeper.plugins.onvif.rtsp import rtsp_available
from watchkeeper.plugins.onvif.simulator import OnvifSimDevice, simulate
from watchkeeper.testing import CameraDriverConformance


class TestOnvifConformance(CameraDriverConformance):
    platform = "onvif"
    serves_replay = True

    @pytest_asyncio.fixture
    async def replay_device(self) -> AsyncIterator[OnvifSimDevice]:
        """Only the replay test pays for the RTSP server (GStreamer under Debian's python3)."""
        unavailable = rtsp_available()
        if unavailable is not None:
            pytest.skip(unavailable)
        async with simulate(password="replay-Pass-1", rtsp=True) as (device,):
            yield device

"""Run by hand (not collected by pytest): the measurements behind the Hikvision client choice.

    python tests/plugins/hikvision/measure_hikvisionapi.py

Points hikvisionapi 0.3.2 and our driver at the simulator and prints: Basic headers on the first call,
peak Python memory for a 50 MB reply, and how long the sync client's first request waits on a slow
device. It deliberately lets hikvisionapi send Basic, which is why it is not part of the test suite.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc

from hikvisionapi import AsyncClient, Client
from watchkeeper.simulation.faults import FaultProfile, Hostile
from watchkeeper.plugins.hikvision.driver import HikvisionDriver
from watchkeeper.plugins.hikvision.simulator import simulate


async def peak(call: object) -> tuple[float, str]:
    tracemalloc.start()
    try:
        await call
        outcome = "returned"
    except Exception as error:  # noqa: BLE001 - we report whatever the client raises
        outcome = type(error).__name__
    size = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return size, outcome


def sync_first_request(url: str, password: str) -> tuple[float, str]:
    started = time.monotonic()
    try:
        Client(url, "admin", password, timeout=1)
        outcome = "returned"
    except Exception as error:  # noqa: BLE001
        outcome = type(error).__name__
    return time.monotonic() - started, outcome


async def main() -> None:
    async with simulate() as devices:
        device = devices[0]
        url, password = f"http://127.0.0.1:{device.endpoint.port}", device.endpoint.password.reveal()
        api = AsyncClient(url, "admin", password)
        await api.System.deviceInfo(method="get")
        print(f"hikvisionapi AsyncClient: Basic headers on its first call: {device.basic_seen}")
        driver = HikvisionDriver(device.endpoint)
        await driver.device_info()
        print(f"driver: Basic headers after its calls too: {device.basic_seen} (unchanged)")
        device.set_faults(FaultProfile(hostile=Hostile.HUGE_BODY))
        size, outcome = await peak(api.System.deviceInfo(method="get", present="text", timeout=30))
        print(f"hikvisionapi, 50 MB reply: peak {size:.1f} MB, {outcome}")
        size, outcome = await peak(driver.device_info())
        print(f"driver, 50 MB reply: peak {size:.1f} MB, {outcome}")
        await driver.close()
        device.set_faults(FaultProfile(slow=8))
        seconds, outcome = await asyncio.to_thread(sync_first_request, url, password)
        print(f"hikvisionapi Client(timeout=1), device 8 s slow: {seconds:.1f} s, {outcome}")


if __name__ == "__main__":
    asyncio.run(main())

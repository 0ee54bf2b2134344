"""Per-camera cost of ONVIF clients: creation time and memory for N cameras once the WSDLs are parsed.

    python bench/onvif_clients.py [--cameras 1000] [--connect 0]

"client" = an OnvifCamera driver with its zeep proxies for the device and media services bound (what every
call needs before the first packet). With --connect N it also starts N simulated devices in this process
and reads device info from all of them concurrently.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc

from watchkeeper.core.models import Endpoint
from watchkeeper.plugins.onvif.driver import OnvifCamera


async def make_client(index: int) -> OnvifCamera:
    camera = OnvifCamera(Endpoint("onvif", f"10.0.{index // 250}.{index % 250 + 1}", 80, "admin", "secret"))
    await camera._proxy("devicemgmt")
    await camera._proxy("media")
    return camera


async def creation(cameras: int) -> None:
    started = time.perf_counter()
    first = await make_client(0)
    first_seconds = time.perf_counter() - started

    gc.collect()
    started = time.perf_counter()
    timed = [await make_client(i) for i in range(1, cameras)]
    per_camera_ms = (time.perf_counter() - started) * 1000 / max(cameras - 1, 1)

    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    measured = [await make_client(i) for i in range(1, cameras)]
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_camera_kb = (after - before) / 1024 / max(cameras - 1, 1)

    print(f"first camera (parses WSDLs once per process): {first_seconds * 1000:.0f} ms")
    print(f"cameras 2..{cameras}: {per_camera_ms:.3f} ms and {per_camera_kb:.1f} KiB each "
          f"(targets 0.1 ms, 2048 KiB)")
    for camera in [first, *timed, *measured]:
        await camera.close()


async def connect(devices: int) -> None:
    from watchkeeper.plugins.onvif.simulator import simulate

    async with simulate(devices=devices) as running:
        cameras = [OnvifCamera(device.endpoint) for device in running]
        started = time.perf_counter()
        gate = asyncio.Semaphore(50)  # the appliance polls a site in waves, not all 1,000 at once

        async def info(camera: OnvifCamera) -> object:
            async with gate:
                return await camera.device_info()

        infos = await asyncio.gather(*(info(camera) for camera in cameras), return_exceptions=True)
        elapsed = time.perf_counter() - started
        failures = [info for info in infos if isinstance(info, BaseException)]
        print(f"device_info from {devices} simulated devices (50 at a time, simulator in the same process): "
              f"{elapsed:.2f} s, {len(failures)} failed")
        for failure in failures[:3]:
            print(f"  {type(failure).__name__}: {failure}")
        for camera in cameras:
            await camera.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--connect", type=int, default=0, help="also connect this many simulated devices")
    options = parser.parse_args()
    asyncio.run(creation(options.cameras))
    if options.connect:
        asyncio.run(connect(options.connect))


if __name__ == "__main__":
    main()

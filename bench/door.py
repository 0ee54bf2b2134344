"""Card read → strike command latency through the OSDP reader simulator, secure channel on (p50/p99).

Run: python bench/door.py [--reads 1000]. Each round presents a 26-bit card at the simulated
reader, waits for the driver to bridge the read into asyncio, grants, and takes the moment the
reader receives the strike command (osdp_OUT) as the end point. Both sides run libosdp in this
process, over a TCP loopback link, so the figure includes OSDP polling, AES secure messaging,
both libosdp threads and the thread → asyncio bridge.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time

from watchkeeper.plugins.osdp.driver import OsdpDoor
from watchkeeper.plugins.osdp.simulator import simulate


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def run(rounds: int) -> None:
    async with simulate(password=secrets.token_hex(16)) as (reader,):
        door = OsdpDoor(reader.endpoint)
        while not (await door.status()).secure_channel:
            await asyncio.sleep(0.05)
        reads = door.reads()
        to_read, to_strike = [], []
        try:
            for number in range(rounds):
                waiter = asyncio.ensure_future(reads.__anext__())
                seen = len(reader.outputs())
                started = time.monotonic()
                await reader.present_card(str(number % 65536))
                read = await asyncio.wait_for(waiter, 5)
                bridged = time.monotonic()
                assert read.value == str(number % 65536)
                await door.grant(1)
                strike = next(r for r in reader.outputs()[seen:] if r["kind"] == "output")
                to_read.append(bridged - started)
                to_strike.append(strike["at"] - started)
        finally:
            await reads.aclose()
            await door.close()
    for label, values in (("card read → read bridged", to_read), ("card read → strike at reader", to_strike)):
        print(f"{label:30s} n={len(values)}  p50={statistics.median(values) * 1000:6.1f} ms  "
              f"p99={percentile(values, 0.99) * 1000:6.1f} ms  max={max(values) * 1000:6.1f} ms")
    p99 = percentile(to_strike, 0.99)
    print(f"target p99 ≤ 100 ms: {'met' if p99 <= 0.1 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1000)
    asyncio.run(run(parser.parse_args().reads))


if __name__ == "__main__":
    main()

"""Registrations and Catalog queries per second for 1,000 GB/T 28181 devices: watchkeeper's platform against SIPp's.

Run: python bench/gb28181.py [--devices 1000] [--rounds 5] [--concurrency 100]

The 1,000 devices are SIPp (Debian `sip-tester`), one call per device, each with its own 20-digit
ID and password (`-inf`), all from one UDP port, as a NAT'd site's devices look to a platform:

- registrations: SIPp registers every device (REGISTER, 401 with a digest challenge, REGISTER with
  that device's credentials, 200 OK with a `Date`), at most `--concurrency` at once;
- Catalog: every registered device is asked its Catalog (MESSAGE Query, 200 OK, the device's
  Response MESSAGE with the SN and two channels, 200 OK), at most `--concurrency` at once.

The anchor is the fastest form of the same exchange on this machine: the same SIPp devices against a
SIPp platform (`bench/sipp/registrar.xml` challenges and accepts; `bench/sipp/platform_catalog.xml`
asks Catalog and takes the answer). SIPp is compiled C++ answering from scenario templates, and it
does less than watchkeeper's platform: it checks no digest (its `verifyauth` takes one password per
scenario, not one per device) and reads no XML. watchkeeper's platform verifies each device's
digest against its own password, issues and expires nonces, parses every MANSCDP body with
defusedxml and gathers the Response by SN. Only the platform differs between the two measurements:
the devices, the machine, the concurrency and the UDP buffers (4 MB on SIPp's sockets and the
platform's) are the same. Each figure is the time from the first request to the last answer (by
SIPp's own statistics where SIPp is the client, so its start-up is not counted; by a monotonic
clock around watchkeeper's queries where watchkeeper asks), rounds interleaved (anchor, watchkeeper, anchor, watchkeeper); medians; the ratio is
watchkeeper's rate over SIPp's (1.0 would be SIPp's speed).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from watchkeeper.plugins.gb28181.platform import SipPlatform
from watchkeeper.plugins.gb28181.simulator import DOMAIN, PLATFORM_ID, free_udp_and_tcp_port

SCENARIOS = Path(__file__).parent / "sipp"
HOST = "127.0.0.1"
BUFFER = 4_000_000


def device_ids(count: int) -> list[str]:
    return [f"3402000000132{index:07d}" for index in range(1, count + 1)]


def password(device: str) -> str:
    """Each device its own password, as a site configures them."""
    return f"pw-{device[-7:]}-{int(device[-7:]) * 7919 % 100000:05d}"


async def sipp(folder: Path, *args: str, timeout: float = 120) -> float:
    """Run a SIPp client to completion; seconds from its first call to its last answer, by SIPp's own
    statistics (its start-up is not counted, as the platform's start is not). Fails loudly, with
    SIPp's own error log."""
    stats = folder / f"stats-{time.monotonic_ns()}.csv"
    process = await asyncio.create_subprocess_exec(
        "sipp", *args, "-nostdin", "-trace_err", "-buff_size", str(BUFFER), "-timeout", f"{int(timeout)}s",
        "-timeout_error", "-trace_stat", "-stf", str(stats), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, cwd=folder)
    _, errors = await asyncio.wait_for(process.communicate(), timeout + 10)
    if process.returncode:
        logs = "".join(path.read_text(errors="replace")[:3000] for path in folder.glob("*_errors.log"))
        raise SystemExit(f"sipp {' '.join(args)} exited {process.returncode}: {errors.decode()[-500:]}{logs}")
    # StartTime;LastResetTime;CurrentTime;... each "date<TAB>time<TAB>epoch"; the last line is the end.
    last = stats.read_text().strip().splitlines()[-1].split(";")
    return float(last[2].split()[-1]) - float(last[0].split()[-1])


async def serve(folder: Path, scenario: str, port: int) -> asyncio.subprocess.Process:
    """A SIPp UAS on port, answering until stopped (a count would end it early: a request the
    other side retransmitted after its call ended is a new call to SIPp)."""
    process = await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(SCENARIOS / scenario), "-i", HOST, "-p", str(port), "-t", "u1", "-nostdin",
        "-buff_size", str(BUFFER), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=folder)
    await asyncio.sleep(0.5)  # SIPp binds within milliseconds; the loaded CI machine gets a margin
    return process


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
    await process.wait()


def client(scenario: str, target: int, port: int, devices: Path, calls: int, concurrency: int) -> tuple[str, ...]:
    return (f"{HOST}:{target}", "-sf", str(SCENARIOS / scenario), "-inf", str(devices), "-i", HOST, "-p", str(port),
            "-t", "u1", "-m", str(calls), "-r", "100000", "-l", str(concurrency))


async def anchor_round(folder: Path, devices: Path, count: int, concurrency: int) -> tuple[float, float]:
    platform_port, device_port = free_udp_and_tcp_port(HOST), free_udp_and_tcp_port(HOST)
    registrar = await serve(folder, "registrar.xml", platform_port)
    try:
        registering = await sipp(folder, *client("device_register.xml", platform_port, device_port, devices, count,
                                                 concurrency))
    finally:
        await stop(registrar)
    answering = await serve(folder, "device_catalog.xml", device_port)
    try:
        asking = await sipp(folder, *client("platform_catalog.xml", device_port, platform_port, devices, count,
                                            concurrency))
    finally:
        await stop(answering)
    return registering, asking


async def watchkeeper_round(folder: Path, devices: Path, ids: list[str], concurrency: int) -> tuple[float, float]:
    platform_port, device_port = free_udp_and_tcp_port(HOST), free_udp_and_tcp_port(HOST)
    platform = SipPlatform(HOST, platform_port, PLATFORM_ID, DOMAIN)
    platform.passwords.update({device: password(device) for device in ids})
    await platform.start()
    try:
        if platform._udp is not None:  # as SIPp's -buff_size: a burst of 100 answers must not overflow it
            platform._udp.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
        registering = await sipp(folder, *client("device_register.xml", platform_port, device_port, devices,
                                                 len(ids), concurrency))
        if len(platform.registrations) != len(ids):
            raise SystemExit(f"{len(platform.registrations)} of {len(ids)} devices registered")
        answering = await serve(folder, "device_catalog.xml", device_port)
        limit = asyncio.Semaphore(concurrency)

        async def ask(device: str) -> int:
            async with limit:
                pages = await platform.query(device, "Catalog", [], 30.0)
                return sum(len(page.items("DeviceList")) for page in pages)

        try:
            started = time.perf_counter()
            listed = await asyncio.gather(*(ask(device) for device in ids))
            asking = time.perf_counter() - started
        finally:
            await stop(answering)
        if set(listed) != {2}:
            raise SystemExit(f"Catalog answers listed {sorted(set(listed))} channels, not 2")
        return registering, asking
    finally:
        await platform.stop()


async def main(count: int, rounds: int, concurrency: int) -> None:
    if shutil.which("sipp") is None:
        raise SystemExit("SIPp missing: apt-get install sip-tester")
    ids = device_ids(count)
    with tempfile.TemporaryDirectory(prefix="gb28181-bench-") as name:
        folder = Path(name)
        devices = folder / "devices.csv"
        devices.write_text("SEQUENTIAL\n" + "".join(
            f"{device};[authentication username={device} password={password(device)}];\n" for device in ids))
        figures: dict[str, list[float]] = {key: [] for key in ("sipp_reg", "wk_reg", "sipp_cat", "wk_cat")}
        for index in range(rounds):
            sipp_reg, sipp_cat = await anchor_round(folder, devices, count, concurrency)
            wk_reg, wk_cat = await watchkeeper_round(folder, devices, ids, concurrency)
            for key, seconds in (("sipp_reg", sipp_reg), ("wk_reg", wk_reg), ("sipp_cat", sipp_cat),
                                 ("wk_cat", wk_cat)):
                figures[key].append(count / seconds)
            print(f"round {index + 1}: registrations/s SIPp {count / sipp_reg:,.0f}, watchkeeper {count / wk_reg:,.0f}; "
                  f"Catalog/s SIPp {count / sipp_cat:,.0f}, watchkeeper {count / wk_cat:,.0f}", flush=True)
    median = {key: statistics.median(values) for key, values in figures.items()}
    print(f"\n{count} devices, {rounds} interleaved rounds, at most {concurrency} exchanges at once (medians):")
    for label, ours, anchor in (("registrations/s", "wk_reg", "sipp_reg"), ("Catalog queries/s", "wk_cat", "sipp_cat")):
        ratios = [wk / sp for wk, sp in zip(figures[ours], figures[anchor])]
        print(f"  {label:18} watchkeeper {median[ours]:8,.0f}   SIPp {median[anchor]:8,.0f}   "
              f"ratio {statistics.median(ratios):.2f} (watchkeeper / SIPp, median of rounds)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=100)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.devices, arguments.rounds, arguments.concurrency))

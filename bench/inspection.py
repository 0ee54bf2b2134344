"""Inspection throughput: N simulated cameras, each clock + 5 live frames + a 24 h coverage query.

Run: python bench/inspection.py [--cameras 100 1000] [--frames 5] [--interval 1.0]
The simulators run in a separate process on this same machine (their load is part of the figure).
Prints cameras per minute and the memory each camera cost at peak, and the ratio of the full
inspection's wall time to an anchor measured in the same run: fetching the same snapshots bare.
Targets: >= 800 cameras/min and <= 2 MB per camera.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from watchkeeper.host import open_site
from watchkeeper.site.app import App
from watchkeeper.rules.runner import collect_checks, run_check

PASSWORD = "bench-Pass-2026"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class PeakMemory:
    """Samples this process's resident memory every 20 ms; the peak above the start is the cost."""

    def __init__(self) -> None:
        self.start = rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.start


def start_simulators(count: int) -> tuple[subprocess.Popen, list[int]]:
    process = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "simulate", "hikvision", "--devices",
                                str(count), "--password", PASSWORD], stdout=subprocess.PIPE, text=True)
    ports = []
    while len(ports) < count:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("simulator exited")
        ports.append(int(line.split("@127.0.0.1:")[1].split()[0]))
    return process, ports


def write_site(folder: Path, ports: list[int], frames: int, interval: float) -> Path:
    lines = ['[site]', 'name = "bench"', 'time_zone = "Asia/Shanghai"', '[policies]',
             f'inspection_frames = {frames}', f'frame_interval_seconds = {interval}',
             '[[people]]', 'id = "li"', 'name = "Li"', 'roles = ["operator"]', 'trained_on = 2025-01-01']
    for index, port in enumerate(ports):
        lines += ['[[cameras]]', f'id = "cam-{index:04d}"', 'location = "x"', 'purpose = "bench"', 'zone = "z"',
                  'platform = "hikvision"', 'host = "127.0.0.1"', f'port = {port}', 'username = "admin"',
                  'password = "env:WK_BENCH_PASSWORD"', 'timeout_seconds = 30']
    (folder / "site.toml").write_text("\n".join(lines))
    return folder / "site.toml"


async def coverage_queries(app: App) -> None:
    now = datetime.now(timezone.utc)
    semaphore = asyncio.Semaphore(128)

    async def one(camera_id: str) -> None:
        async with semaphore:
            driver = app.driver(app.camera_endpoint(camera_id))
            try:
                await driver.recordings(1, now - timedelta(days=1), now)
            finally:
                await driver.close()

    await asyncio.gather(*(one(camera.id) for camera in app.site.cameras))


async def bare_snapshots(app: App, frames: int, interval: float) -> float:
    """The anchor: the same snapshots fetched with the same spacing and concurrency, nothing judged."""
    semaphore = asyncio.Semaphore(128)

    async def one(camera_id: str) -> None:
        async with semaphore:
            driver = app.driver(app.camera_endpoint(camera_id))
            try:
                for index in range(frames):
                    if index:
                        await asyncio.sleep(interval)
                    await driver.snapshot(1)
            finally:
                await driver.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(camera.id) for camera in app.site.cameras))
    return time.perf_counter() - started


async def measure(site: Path, frames: int, interval: float) -> dict[str, float]:
    app = open_site(site)
    checks = collect_checks(app.pm)
    anchor = await bare_snapshots(app, frames, interval)
    memory = PeakMemory()
    started = time.perf_counter()
    await run_check(app, checks["clock"], "li")
    result = await run_check(app, checks["inspection"], "li", playback=False)
    await coverage_queries(app)
    elapsed = time.perf_counter() - started
    cost = memory.stop()
    app.close()
    count = len(app.site.cameras)
    assert result.summary["cameras"] == count and not result.findings, result.findings[:3]
    return {"cameras": count, "seconds": elapsed, "per_minute": count / elapsed * 60,
            "mb_per_camera": cost / count / 1e6, "anchor": anchor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    os.environ["WK_BENCH_PASSWORD"] = PASSWORD
    for count in args.cameras:
        simulator, ports = start_simulators(count)
        try:
            with tempfile.TemporaryDirectory() as folder:
                figures = asyncio.run(measure(write_site(Path(folder), ports, args.frames, args.interval),
                                              args.frames, args.interval))
        finally:
            simulator.terminate()
            simulator.wait(30)
        print(f"N={figures['cameras']}: {figures['per_minute']:,.0f} cameras/min ({figures['seconds']:.1f} s; "
              f"target >= 800), {figures['mb_per_camera']:.2f} MB per camera at peak (target <= 2), "
              f"ratio to bare snapshot fetch {figures['seconds'] / figures['anchor']:.2f}")


if __name__ == "__main__":
    main()

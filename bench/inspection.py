"""Inspection at 1080p with playback: cameras a minute and RSS growth per connected camera, against bare fetching.

Run: python bench/inspection.py [--cameras 100 1000] [--frames 5] [--interval 1.0] [--repeat 1] [--without-sniffio]

N simulated Hikvision cameras serve 1080p snapshots and 1080p recorded clips (the simulators run in
a separate process on this machine, encoding like a camera's hardware would: from a cache, so their
CPU is not the appliance's). Each camera's reference view is captured first, as at commissioning.
Then, in this one process, the anchor: the same snapshots fetched bare, with the same spacing and
concurrency, nothing decoded; then the inspection (`watchkeeper inspect`: live frames judged
against the reference, yesterday's clip fetched and judged). Printed: cameras a minute, the ratio
of the inspection's wall time to the anchor's, and the resident memory each run grew by at its
peak, per connected camera (cameras are inspected CAMERA_CONCURRENCY at a time) and against the
anchor's. Targets: >= 800 cameras a minute, <= 2 MB per connected camera, at 1,000 cameras.

--repeat R measures R anchor/inspection pairs per N, interleaved, on the same cameras (the runs
after the first find the reference views measured, as every shift's inspection after commissioning
does) and prints each and their medians. The machine is shared: the load average is printed with
each figure, and the CPU each camera cost is turned into the cameras a minute two free cores
would allow (a ceiling, not a measurement).

--without-sniffio hides sniffio and trio from this process, as on an install without them: then
httpcore's current_async_library() tries `import sniffio` on every pool event and fails. The
calls and their cost are counted either way.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import os
import resource
import statistics
import sys
import threading
import time

PASSWORD = "bench-Pass-2026"
PAGE = os.sysconf("SC_PAGE_SIZE")
RESOLUTION = "1920x1080"


class Hidden(importlib.abc.MetaPathFinder):
    """Makes `import sniffio` (and trio) fail as on an install without them: the same search of
    sys.path, then ModuleNotFoundError. (A bare None in sys.modules would fail faster than that.)"""

    NAMES = ("sniffio", "trio")

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - the finder protocol
        if name.split(".")[0] not in self.NAMES:
            return None
        importlib.machinery.PathFinder.find_spec(name + "_not_installed", path)
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)


if "--without-sniffio" in sys.argv:
    for loaded in [n for n in sys.modules if n.split(".")[0] in Hidden.NAMES]:
        del sys.modules[loaded]
    sys.meta_path.insert(0, Hidden())

import asyncio  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import httpcore._synchronization as httpcore_sync  # noqa: E402

from watchkeeper.host import open_site  # noqa: E402
from watchkeeper.rules import inspection  # noqa: E402
from watchkeeper.rules.runner import collect_checks, run_check  # noqa: E402
from watchkeeper.site.app import App  # noqa: E402


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of this process (all threads) or of `pid`."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


class CountedCalls:
    """Counts httpcore's current_async_library() calls and their time (the sniffio question)."""

    def __init__(self) -> None:
        self.calls, self.seconds = 0, 0.0
        original = httpcore_sync.current_async_library

        def counted() -> str:
            started = time.perf_counter()
            try:
                return original()
            finally:
                self.calls += 1
                self.seconds += time.perf_counter() - started

        httpcore_sync.current_async_library = counted


def start_simulators(count: int) -> tuple[subprocess.Popen, list[int]]:
    process = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "simulate", "hikvision", "--devices",
                                str(count), "--password", PASSWORD, "--resolution", RESOLUTION],
                               stdout=subprocess.PIPE, text=True)
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


async def per_camera(app: App, work) -> None:  # noqa: ANN001 - an async callable of (driver, channel)
    semaphore = asyncio.Semaphore(inspection.CAMERA_CONCURRENCY)

    async def one(camera) -> None:  # noqa: ANN001
        async with semaphore:
            endpoint, channel = inspection.source_of(app, camera)
            driver = app.driver(endpoint)
            try:
                await work(driver, channel, camera)
            finally:
                await driver.close()

    await asyncio.gather(*(one(camera) for camera in app.site.cameras))


async def commission(app: App) -> None:
    """Every camera's reference view, as at commissioning (not timed)."""
    async def capture(driver, channel, camera) -> None:  # noqa: ANN001
        app.store.db["baselines"].insert({"camera": camera.id, "captured_at": "", "captured_by": "li",
                                          "jpeg": await driver.snapshot(channel)}, replace=True)
    await per_camera(app, capture)


async def bare_snapshots(app: App, frames: int, interval: float) -> tuple[float, int]:
    """The anchor: the same snapshots fetched with the same spacing and concurrency, nothing judged."""
    async def fetch(driver, channel, camera) -> None:  # noqa: ANN001
        for index in range(frames):
            if index:
                await asyncio.sleep(interval)
            await driver.snapshot(channel)

    memory = PeakMemory()
    started = time.perf_counter()
    await per_camera(app, fetch)
    return time.perf_counter() - started, memory.stop()


async def measure(site: Path, frames: int, interval: float, counted: CountedCalls, simulator: int,
                  repeat: int) -> list[dict[str, float]]:
    app = open_site(site)
    checks = collect_checks(app.pm)
    await commission(app)
    figures = []
    for _ in range(repeat):
        load = os.getloadavg()[0]
        anchor_seconds, anchor_memory = await bare_snapshots(app, frames, interval)
        figures.append(await inspect_once(app, checks, counted, simulator) | {
            "anchor": anchor_seconds, "anchor_memory": anchor_memory, "load": (load + os.getloadavg()[0]) / 2})
    app.close()
    return figures


async def inspect_once(app: App, checks, counted: CountedCalls, simulator: int) -> dict[str, float]:  # noqa: ANN001
    calls_before, seconds_before = counted.calls, counted.seconds
    memory = PeakMemory()
    cpu, simulator_cpu = cpu_seconds(), cpu_seconds(simulator)
    started = time.perf_counter()
    result = await run_check(app, checks["inspection"], "li", playback=True)
    elapsed = time.perf_counter() - started
    cpu, simulator_cpu = cpu_seconds() - cpu, cpu_seconds(simulator) - simulator_cpu
    cost = memory.stop()
    rows = list(app.store.db["inspection_results"].rows_where("run = ?", [result.summary["run"]]))
    count = len(app.site.cameras)
    played = sum(1 for row in rows if str(row["playback"]).startswith("ok"))
    if result.summary["cameras"] != count or result.findings or played != count:
        raise SystemExit(f"the inspection did not inspect every camera cleanly: {result.summary}, "
                         f"{len(result.findings)} findings ({[str(f.kind) for f in result.findings[:3]]}), "
                         f"{played} of {count} playbacks ok")
    return {"cameras": count, "seconds": elapsed, "per_minute": count / elapsed * 60, "memory": cost,
            "pool_calls": counted.calls - calls_before, "pool_seconds": counted.seconds - seconds_before,
            "cpu_ms": cpu / count * 1e3, "simulator_cpu_ms": simulator_cpu / count * 1e3}


def report(f: dict[str, float]) -> None:
    connected = min(f["cameras"], inspection.CAMERA_CONCURRENCY)
    mb, anchor_mb = f["memory"] / connected / 1e6, f["anchor_memory"] / connected / 1e6
    print(f"N={f['cameras']}: {f['per_minute']:,.0f} cameras/min ({f['seconds']:.1f} s; target >= 800), "
          f"ratio to bare snapshot fetching {f['seconds'] / f['anchor']:.2f} (anchor {f['anchor']:.1f} s); "
          f"load average {f['load']:.1f}")
    print(f"  RSS growth at peak {f['memory'] / 1e6:.0f} MB = {mb:.2f} MB per connected camera "
          f"({connected} at once; target <= 2), bare fetching {anchor_mb:.2f} MB (ratio {mb / max(anchor_mb, 1e-6):.1f})")
    print(f"  CPU per camera: appliance {f['cpu_ms']:.0f} ms, simulators {f['simulator_cpu_ms']:.0f} ms "
          f"(two free cores would allow at most {120e3 / f['cpu_ms']:,.0f} cameras/min)")
    print(f"  httpcore current_async_library(): {f['pool_calls']:,} calls, "
          f"{f['pool_seconds'] * 1e3:.0f} ms ({f['pool_seconds'] / max(f['pool_calls'], 1) * 1e6:.1f} us a call)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1, help="anchor/inspection pairs per N, interleaved")
    parser.add_argument("--without-sniffio", action="store_true", help="hide sniffio and trio (see above)")
    args = parser.parse_args()
    os.environ["WK_BENCH_PASSWORD"] = PASSWORD
    counted = CountedCalls()
    print(f"{RESOLUTION} snapshots and clips, {args.frames} live frames {args.interval:g} s apart and the recorded "
          f"clip per camera, {inspection.CAMERA_CONCURRENCY} cameras at a time; sniffio "
          f"{'hidden' if args.without_sniffio else 'installed'}; load average {os.getloadavg()[0]:.2f}")
    for count in args.cameras:
        simulator, ports = start_simulators(count)
        try:
            with tempfile.TemporaryDirectory() as folder:
                figures = asyncio.run(measure(write_site(Path(folder), ports, args.frames, args.interval),
                                              args.frames, args.interval, counted, simulator.pid, args.repeat))
        finally:
            simulator.terminate()
            simulator.wait(30)
        for f in figures:
            report(f)
        if len(figures) > 1:
            ratios = [f["seconds"] / f["anchor"] for f in figures]
            print(f"N={count}, median of {len(figures)}: {statistics.median(f['per_minute'] for f in figures):,.0f} "
                  f"cameras/min, ratio to bare fetching {statistics.median(ratios):.2f}, CPU per camera "
                  f"{statistics.median(f['cpu_ms'] for f in figures):.0f} ms, largest RSS growth "
                  f"{max(f['memory'] for f in figures) / min(count, inspection.CAMERA_CONCURRENCY) / 1e6:.2f} MB "
                  f"per connected camera")


if __name__ == "__main__":
    main()

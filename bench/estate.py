"""Beyond one appliance (issue 20): distributed inspection throughput; the estate's ingest rate.

Run: python bench/estate.py workers [--cameras 40] [--rounds 3] [--frames 3] [--interval 0.2]
     python bench/estate.py ingest [--sites 100] [--pushes 5] [--rounds 5]

`workers` (this file's first part): N simulated Hikvision cameras serving 1080p snapshots and 1080p
recorded clips (in their own process, encoding from a cache as a camera's hardware would), inspected
with playback, so the work is CPU-bound frame analysis. The anchor is the in-process asyncio runner
(`watchkeeper inspect` without [distributed]); against it the same site is inspected through Redis
by 1, 2 and 4 `watchkeeper worker` processes. The configurations run interleaved, in a rotated
order each round; printed are each one's median cameras/min and its ratio to the anchor's median,
and what a camera costs: worker CPU, appliance (writer) CPU, Redis commands and bytes. Redis:
WATCHKEEPER_BENCH_REDIS (default the one `.ci/run` starts, redis://127.0.0.1:6390), database 12,
flushed before and after. Target on a 2-core machine: 2 workers >= 1.7x the in-process runner.

`ingest` (the estate's part, issue 20 part 2, in bench/estate_ingest.py): site pushes per second
with 100 simulated sites pushing at once, against a bare aiohttp handler reading the same bodies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import redis

from watchkeeper.host import open_site
from watchkeeper.rules import inspection
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.site.app import App

# The same simulated 1080p Hikvision cameras as the inspection bench (beside this file).
from inspection import PASSWORD, RESOLUTION, start_simulators  # noqa: E402
REDIS = os.environ.get("WATCHKEEPER_BENCH_REDIS", "redis://127.0.0.1:6390")
DB = 12
WORKER_COUNTS = (1, 2, 4)


# --- workers: distributed inspection against the in-process runner ------------------------------------

def redis_url() -> str:
    parts = urlsplit(REDIS)
    return f"redis://{parts.hostname}:{parts.port or 6379}/{DB}"


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of this process (all threads) or of `pid`."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_site(path: Path, ports: list[int], frames: int, interval: float, queue: str, url: str | None = None,
               distributed: tuple[str, ...] = ()) -> Path:
    """The bench's site; `distributed` adds lines to its [distributed] section."""
    lines = ['[site]', 'name = "bench"', 'time_zone = "Asia/Shanghai"', '[policies]',
             f'inspection_frames = {frames}', f'frame_interval_seconds = {interval}',
             '[distributed]', f'url = "{url or redis_url()}"', f'queue = "{queue}"', 'task_seconds = 300', *distributed,
             '[[people]]', 'id = "li"', 'name = "Li"', 'roles = ["operator"]', 'trained_on = 2025-01-01']
    for index, port in enumerate(ports):
        lines += ['[[cameras]]', f'id = "cam-{index:04d}"', 'location = "x"', 'purpose = "bench"', 'zone = "z"',
                  'platform = "hikvision"', 'host = "127.0.0.1"', f'port = {port}', 'username = "admin"',
                  'password = "env:WK_BENCH_PASSWORD"', 'timeout_seconds = 60']
    path.write_text("\n".join(lines))
    return path


class Workers:
    """`count` worker processes serving their own queue (idle ones do not take another set's tasks)."""

    def __init__(self, config: Path, count: int, folder: Path) -> None:
        self.logs = [folder / f"worker-{count}-{index}.log" for index in range(count)]
        self.processes = [subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "--config", str(config),
                                            "worker"], stdout=subprocess.DEVNULL, stderr=log.open("w"))
                          for log in self.logs]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while not all("worker for site" in log.read_text() for log in self.logs):
            if any(p.poll() is not None for p in self.processes) or time.monotonic() > deadline:
                raise SystemExit("a worker did not start:\n" + "\n".join(log.read_text()[-1000:] for log in self.logs))
            time.sleep(0.2)

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(30)


async def commission(app: App) -> None:
    """Every camera's reference view, as at commissioning (not timed)."""
    for camera in app.site.cameras:
        endpoint, channel = inspection.source_of(app, camera)
        driver = app.driver(endpoint)
        app.store.db["baselines"].insert({"camera": camera.id, "captured_at": "", "captured_by": "li",
                                          "jpeg": await driver.snapshot(channel)}, replace=True)
        await driver.close()


def broker_counts(client: redis.Redis) -> tuple[int, int]:
    """Commands Redis has processed, and bytes it has received plus sent."""
    stats = client.info("stats")
    return int(stats["total_commands_processed"]), int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


def inspect_once(app: App, site: object, workers: Workers | None, client: redis.Redis,
                 simulator: int) -> dict[str, float]:
    """One timed inspection of every camera, with what it cost the appliance, the workers and Redis."""
    app.site = site  # type: ignore[assignment] - the same site, with or without its [distributed]
    check = collect_checks(app.pm)["inspection"]
    commands, traffic = broker_counts(client)
    cpu, worker_cpu, simulator_cpu = cpu_seconds(), workers.cpu() if workers else 0.0, cpu_seconds(simulator)
    started = time.perf_counter()
    result = asyncio.run(run_check(app, check, "li"))
    elapsed = time.perf_counter() - started
    cameras = len(app.site.cameras)
    rows = app.store.conn.execute("SELECT count(*), sum(playback LIKE 'ok%') FROM inspection_results WHERE run = ?",
                                  [result.summary["run"]]).fetchone()
    if rows != (cameras, cameras) or result.summary["cameras"] != cameras:
        raise SystemExit(f"the inspection did not inspect every camera once with its playback: {rows}, "
                         f"{[(str(f.kind), f.subject) for f in result.findings[:3]]}")
    commands_after, traffic_after = broker_counts(client)
    used = (cpu_seconds() - cpu) + ((workers.cpu() if workers else 0.0) - worker_cpu) + (cpu_seconds(simulator)
                                                                                       - simulator_cpu)
    return {"per_minute": cameras / elapsed * 60, "cores": used / elapsed,
            "appliance_cpu_ms": (cpu_seconds() - cpu) / cameras * 1e3,
            "worker_cpu_ms": ((workers.cpu() if workers else 0.0) - worker_cpu) / cameras * 1e3,
            "simulator_cpu_ms": (cpu_seconds(simulator) - simulator_cpu) / cameras * 1e3,
            "commands": (commands_after - commands) / cameras, "bytes": (traffic_after - traffic) / cameras}


def bench_workers(args: argparse.Namespace) -> None:
    os.environ["WK_BENCH_PASSWORD"] = PASSWORD
    client = redis.Redis.from_url(redis_url())
    client.ping()
    client.flushdb()
    simulator, ports = start_simulators(args.cameras)
    sets: dict[int, Workers] = {}
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            configs = {count: write_site(folder / f"site-{count}.toml", ports, args.frames, args.interval,
                                         f"bench-{count}-{uuid.uuid4().hex[:6]}") for count in WORKER_COUNTS}
            for count, config in configs.items():
                sets[count] = Workers(config, count, folder)
            app = open_site(configs[1])
            asyncio.run(commission(app))
            for workers in sets.values():
                workers.wait_ready()
            sites = {count: attrs.evolve(app.site, distributed=open_site_config(configs[count]))
                     for count in WORKER_COUNTS}
            sites[0] = attrs.evolve(app.site, distributed=None)
            order = [0, *WORKER_COUNTS]
            runs: dict[int, list[dict[str, float]]] = {key: [] for key in order}
            print(f"{args.cameras} cameras, {RESOLUTION} snapshots and clips, {args.frames} live frames "
                  f"{args.interval:g} s apart and the recorded clip each; {os.cpu_count()} cores; load average "
                  f"{os.getloadavg()[0]:.2f}")
            for round_ in range(args.rounds):
                rotated = order[round_ % len(order):] + order[:round_ % len(order)]
                for key in rotated:
                    figures = inspect_once(app, sites[key], sets.get(key), client, simulator.pid)
                    runs[key].append(figures)
                    print(f"  round {round_ + 1}: {label(key):>12} {figures['per_minute']:7.0f} cameras/min, "
                          f"{figures['cores']:.2f} cores busy (load average {os.getloadavg()[0]:.1f})", flush=True)
            app.close()
    finally:
        for workers in sets.values():
            workers.stop()
        simulator.terminate()
        simulator.wait(30)
        client.flushdb()
    report(runs)


def open_site_config(config: Path) -> object:
    from watchkeeper.site.config import load_site

    return load_site(config).distributed


def label(key: int) -> str:
    return "in-process" if key == 0 else f"{key} worker{'s' if key > 1 else ''}"


def report(runs: dict[int, list[dict[str, float]]]) -> None:
    def median(key: int, figure: str) -> float:
        return statistics.median(run[figure] for run in runs[key])

    anchor = median(0, "per_minute")
    print(f"medians of {len(runs[0])} interleaved rounds (anchor: the in-process runner, {anchor:.0f} cameras/min)")
    for key in runs:
        print(f"  {label(key):>12}: {median(key, 'per_minute'):7.0f} cameras/min, ratio {median(key, 'per_minute') / anchor:.2f}"
              f", {median(key, 'cores'):.2f} cores busy | per camera: appliance CPU {median(key, 'appliance_cpu_ms'):.0f} ms, worker CPU "
              f"{median(key, 'worker_cpu_ms'):.0f} ms, simulators {median(key, 'simulator_cpu_ms'):.0f} ms, Redis {median(key, 'commands'):.0f} commands "
              f"{median(key, 'bytes') / 1e3:.0f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = parser.add_subparsers(dest="part", required=True)
    workers = parts.add_parser("workers", help="cameras/min: in-process runner against 1, 2 and 4 worker processes")
    workers.add_argument("--cameras", type=int, default=40)
    workers.add_argument("--rounds", type=int, default=3)
    workers.add_argument("--frames", type=int, default=3)
    workers.add_argument("--interval", type=float, default=0.2)
    import estate_ingest  # beside this file

    ingest = parts.add_parser("ingest", help="site pushes/s with 100 concurrent sites against a bare aiohttp handler")
    estate_ingest.add_arguments(ingest)
    args = parser.parse_args()
    if args.part == "workers":
        bench_workers(args)
    elif args.part == "ingest":
        estate_ingest.main(args)


if __name__ == "__main__":
    main()

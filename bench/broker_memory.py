"""Redis memory of one distributed inspection run (issue 20): its peak, and what the run leaves behind.

Run: python bench/broker_memory.py [--cameras 200] [--workers 2] [--window 32] [--rounds 3]

N simulated Hikvision cameras (own process), each camera's reference view commissioned (so each
task carries its reference's metrics and thumbnail, as in a real run), inspected with playback by
`watchkeeper worker` processes through a Redis of the bench's own (`redis-server` on a free port,
so other users of a shared Redis do not move its figures). While the run goes, a thread reads
INFO memory `used_memory` every 10 ms; printed per round are the baseline before the run, the peak
above it, and what stays in Redis after the run (results arq keeps), with medians over rounds and
the peak per camera, and the Redis commands the run cost a camera (INFO stats, less the bench's own sampling). Run it with --window 0 on an older checkout (PYTHONPATH at a tree where `watchkeeper` is that
checkout's framework/) to compare: the same bench drives either, through `run_check` alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis

from watchkeeper.host import open_site
from watchkeeper.rules.runner import collect_checks, run_check

sys.path.insert(0, str(Path(__file__).parent))
from estate import Workers, commission, write_site  # noqa: E402 - beside this file
from inspection import PASSWORD  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(folder: Path) -> tuple[subprocess.Popen, int]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (it is in .ci/apt-packages)")
    port = free_port()
    process = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("redis-server did not start")


def start_simulators(count: int, resolution: str) -> tuple[subprocess.Popen, list[int]]:
    process = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "simulate", "hikvision", "--devices",
                                str(count), "--password", PASSWORD, "--resolution", resolution],
                               stdout=subprocess.PIPE, text=True)
    ports = []
    while len(ports) < count:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise SystemExit("the simulators exited")
        ports.append(int(line.split("@127.0.0.1:")[1].split()[0]))
    return process, ports


class Sampler(threading.Thread):
    """used_memory every 10 ms until stopped: the run's peak."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client, self.peak, self.calls, self.done = client, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, int(self.client.info("memory")["used_memory"]))
            self.calls += 1
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", type=int, default=32, help="[distributed] window; 0 leaves it out (code older than windows)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resolution", default="1920x1080")
    args = parser.parse_args()
    os.environ["WK_BENCH_PASSWORD"] = PASSWORD
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        server, port = start_redis(folder)
        simulator, ports = start_simulators(args.cameras, args.resolution)
        workers = None
        try:
            client = redis.Redis(port=port)
            config = write_site(folder / "site.toml", ports, 2, 0.2, f"mem-{uuid.uuid4().hex[:6]}",
                                f"redis://127.0.0.1:{port}/0", (f"window = {args.window}",) if args.window else ())
            workers = Workers(config, args.workers, folder)
            app = open_site(config)
            asyncio.run(commission(app))
            workers.wait_ready()
            check = collect_checks(app.pm)["inspection"]
            print(f"{args.cameras} cameras ({args.resolution}), {args.workers} workers, window {args.window}; "
                  f"load average {os.getloadavg()[0]:.1f}")
            figures = []
            for round_ in range(args.rounds):
                base = int(client.info("memory")["used_memory"])
                commands = int(client.info("stats")["total_commands_processed"])
                sampler = Sampler(client)
                sampler.start()
                started = time.perf_counter()
                result = asyncio.run(run_check(app, check, "li"))
                elapsed = time.perf_counter() - started
                sampler.done.set()
                sampler.join()
                left = int(client.info("memory")["used_memory"])
                # Less the sampler's own INFO calls and this INFO.
                commands = int(client.info("stats")["total_commands_processed"]) - commands - sampler.calls - 2
                if result.summary["cameras"] != args.cameras or result.summary.get("ok", 0) + result.summary.get(
                        "warning", 0) + result.summary.get("fault", 0) != args.cameras:
                    raise SystemExit(f"the run did not record every camera: {result.summary}")
                figures.append((sampler.peak - base, left - base, commands / args.cameras))
                print(f"  round {round_ + 1}: baseline {base / 1e6:.2f} MB, peak +{(sampler.peak - base) / 1e6:.2f} MB, "
                      f"left after the run +{(left - base) / 1e6:.2f} MB, {len(client.keys('*'))} keys, "
                      f"{commands / args.cameras:.0f} commands a camera, "
                      f"{elapsed:.0f} s", flush=True)
            app.close()
        finally:
            if workers is not None:
                workers.stop()
            simulator.terminate()
            simulator.wait(30)
            server.terminate()
            server.wait(30)
    peak = statistics.median(f[0] for f in figures)
    left = statistics.median(f[1] for f in figures)
    print(f"median peak above baseline {peak / 1e6:.2f} MB ({peak / args.cameras / 1e3:.1f} kB a camera), "
          f"left after a run {left / 1e6:.2f} MB, {statistics.median(f[2] for f in figures):.0f} Redis commands a camera")


if __name__ == "__main__":
    main()

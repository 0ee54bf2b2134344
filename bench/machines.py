"""Separate machines modelled by CPU quotas: in-process against appliance + N workers, same CPU each.

In-process inspection at one machine's CPU share against the appliance and N workers each on a
machine of the same share (issue 20's multi-machine claim).

Run (as root, cgroup v1 `cpu` controller at /sys/fs/cgroup/cpu, or v2 at /sys/fs/cgroup):
    python bench/machines.py [--cameras 40] [--share 0.3] [--workers 2] [--rounds 5]

THE MODEL, AND ITS LIMITS. On one 2-core machine two worker processes cannot beat an in-process
runner that already keeps both cores busy (its frame analysis runs in threads that release the
GIL), so the "2 workers >= 1.7x" claim is about machines: each worker brings its own CPU. This
bench gives every "machine" the same fixed CPU share with a CFS quota (`--share` cores, default
0.3): the appliance (this process) in one cgroup, each `watchkeeper worker` in its own. The anchor
is the in-process runner on the appliance's share alone; against it, the appliance (writer) plus N
workers, each on its own share. The simulated cameras and Redis run outside the quotas: they are
other machines (the cameras' own hardware, the broker's host) in the model and in a real site.
A quota is a ceiling, not a guarantee: on a machine shared with other work a cgroup may get less
than its share. So for every run the bench prints what fraction of its quota each busy cgroup
actually used (the kernel's CPU accounting of its processes): the model holds for a run only when the CPU-bound side
(the in-process appliance; the workers) used close to all of its quota, i.e. was limited by its
own machine and not by the neighbours. What it does not model: network between machines (all
loopback here), memory bandwidth and caches shared by the real cores, and Redis on the appliance's
network. The configurations run interleaved, rotated each round; medians are printed, with each
one's ratio to the anchor's median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import attrs

from watchkeeper.host import open_site
from watchkeeper.rules.runner import collect_checks, run_check

sys.path.insert(0, str(Path(__file__).parent))
from broker_memory import start_redis, start_simulators  # noqa: E402 - beside this file
from estate import Workers, commission, cpu_seconds, write_site  # noqa: E402
from inspection import PASSWORD  # noqa: E402

PERIOD_US = 100_000


class Machine:
    """A cgroup with a CPU quota of `share` cores: one simulated machine's CPU."""

    def __init__(self, name: str, share: float) -> None:
        self.v1 = Path("/sys/fs/cgroup/cpu").is_dir() and (Path("/sys/fs/cgroup/cpu") / "cpu.cfs_quota_us").exists()
        root = Path("/sys/fs/cgroup/cpu") if self.v1 else Path("/sys/fs/cgroup")
        self.path = root / f"watchkeeper-bench-{os.getpid()}-{name}"
        self.path.mkdir()
        self.share = share
        self.pids: list[int] = []
        if self.v1:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(int(share * PERIOD_US)))
        else:
            (self.path / "cpu.max").write_text(f"{int(share * PERIOD_US)} {PERIOD_US}")

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))
        self.pids.append(pid)

    def used(self) -> float:
        """CPU seconds its processes used (all their threads), from the kernel's accounting."""
        return sum(cpu_seconds(None if pid == os.getpid() else pid) for pid in self.pids)

    def remove(self, fallback: Path) -> None:
        for pid in (self.path / "cgroup.procs").read_text().split():
            (fallback / "cgroup.procs").write_text(pid)
        self.path.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=40)
    parser.add_argument("--share", type=float, default=0.3, help="cores each simulated machine has")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--resolution", default="1920x1080")
    parser.add_argument("--jobs", type=int, default=0,
                        help="worker_jobs (default: the cameras, so each worker may take every camera at once, as "
                             "the in-process runner does; fewer slots leave a run's tail to few tasks)")
    args = parser.parse_args()
    os.environ["WK_BENCH_PASSWORD"] = PASSWORD
    machines: list[Machine] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        # The cameras and Redis first, outside every quota (they are other machines).
        server, redis_port = start_redis(folder)
        simulator, ports = start_simulators(args.cameras, args.resolution)
        workers = None
        home = None
        try:
            config = write_site(folder / "site.toml", ports, args.frames, args.interval,
                                f"machines-{uuid.uuid4().hex[:6]}", f"redis://127.0.0.1:{redis_port}/0",
                                (f"worker_jobs = {args.jobs or args.cameras}",))
            workers = Workers(config, args.workers, folder)
            app = open_site(config)
            asyncio.run(commission(app))  # reference views measured once, before any quota
            workers.wait_ready()
            appliance = Machine("appliance", args.share)
            machines.append(appliance)
            home = appliance.path.parent
            for index, process in enumerate(workers.processes):
                machine = Machine(f"worker-{index}", args.share)
                machine.add(process.pid)
                machines.append(machine)
            appliance.add(os.getpid())
            check = collect_checks(app.pm)["inspection"]
            sites = {"in-process": attrs.evolve(app.site, distributed=None), f"{args.workers} workers": app.site}
            order = list(sites)
            runs: dict[str, list[float]] = {key: [] for key in order}
            print(f"{args.cameras} cameras ({args.resolution}, {args.frames} frames {args.interval:g} s apart and the "
                  f"clip each); every machine {args.share:g} cores; {os.cpu_count()} cores here, load average "
                  f"{os.getloadavg()[0]:.1f}")
            for round_ in range(args.rounds):
                for key in order[round_ % 2:] + order[:round_ % 2]:
                    app.site = sites[key]
                    before = [m.used() for m in machines]
                    cameras_before = cpu_seconds(simulator.pid)
                    started = time.perf_counter()
                    result = asyncio.run(run_check(app, check, "li"))
                    elapsed = time.perf_counter() - started
                    if result.summary["cameras"] != args.cameras:
                        raise SystemExit(f"not every camera was inspected: {result.summary}")
                    used = [(m.used() - b) / (m.share * elapsed) for m, b in zip(machines, before)]
                    cameras_cores = (cpu_seconds(simulator.pid) - cameras_before) / elapsed
                    runs[key].append(args.cameras / elapsed * 60)
                    print(f"  round {round_ + 1}: {key:>10} {runs[key][-1]:6.0f} cameras/min; quota used: appliance "
                          f"{used[0]:.0%}, workers " + ", ".join(f"{u:.0%}" for u in used[1:])
                          + f"; the cameras' simulator {cameras_cores:.2f} cores (load average "
                          f"{os.getloadavg()[0]:.1f})", flush=True)
            app.close()
        finally:
            if home is not None:
                for machine in machines:
                    machine.remove(home)
            if workers is not None:
                workers.stop()
            simulator.terminate()
            simulator.wait(30)
            server.terminate()
            server.wait(30)
    anchor = statistics.median(runs["in-process"])
    for key in order:
        value = statistics.median(runs[key])
        print(f"{key:>12}: {value:6.0f} cameras/min (median of {args.rounds}), {value / anchor:.2f}x the in-process runner")


if __name__ == "__main__":
    main()

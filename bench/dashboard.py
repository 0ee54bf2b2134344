"""/api/status latency with 300,000 journal entries while 8 clients page the journal.

The dashboard runs as the real `watchkeeper web` in a child process; 8 clients in a second child
page the journal (`/api/journal`, newest to oldest, over and over); this process asks `/api/status`
one request at a time. Rounds alternate: with the pagers running, then with them paused (the
anchor: the same request on an idle server, same run, interleaved). Before the dashboard kept its
journal verification per head, each request walked the whole chain on the event loop (16 s).

Run: python bench/dashboard.py [--entries 300000] [--rounds 5] [--requests 20] [--pagers 8]
Prints medians in ms and the loaded/idle ratio. Target: loaded median under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

from watchkeeper.host import open_site
from watchkeeper.site import identity

KINDS = ("access", "access", "access", "operation", "inspection", "clock", "retention", "maintenance")


def build_site(folder: Path, entries: int) -> tuple[Path, dict[str, str]]:
    """A site whose journal holds `entries` entries spread over the past year, as a busy site's would,
    and the headers carrying li's API token (every dashboard request needs a person)."""
    config = folder / "site.toml"
    config.write_text(textwrap.dedent("""\
        [site]
        name = "Bench"
        time_zone = "Asia/Shanghai"
        [[people]]
        id = "li"
        name = "Li"
        roles = ["operator"]
        trained_on = 2025-01-01
        """))
    app = open_site(config)
    now = datetime.now(timezone.utc)
    step = timedelta(days=365) / entries
    batch = 5000
    for offset in range(0, entries, batch):
        app.journal.append_many([
            (KINDS[i % len(KINDS)], "li", f"door-{i % 4}", {"event": "entry", "badge": str(10000 + i % 500), "n": i},
             now - timedelta(days=365) + step * i) for i in range(offset, min(offset + batch, entries))])
    token = identity.issue_token(app, "li", "li", "bench")
    app.close()
    return config, {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_forever(base: str, headers: dict[str, str], clients: int, running: multiprocessing.Event,
                 stop: multiprocessing.Event, pages: multiprocessing.Value) -> None:
    async def client(session: aiohttp.ClientSession) -> None:
        before = None
        while not stop.is_set():
            if not running.is_set():
                await asyncio.sleep(0.01)
                continue
            query = f"?limit=100&before={before}" if before else "?limit=100"
            async with session.get(base + "/api/journal" + query) as response:
                before = (await response.json())["older"]
            with pages.get_lock():
                pages.value += 1

    async def main() -> None:
        async with aiohttp.ClientSession(headers=headers) as session:
            await asyncio.gather(*(client(session) for _ in range(clients)))

    asyncio.run(main())


async def probe(session: aiohttp.ClientSession, base: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.get(base + "/api/status") as response:
            body = await response.json()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status == 200 and body["journal"]["ok"], body
    return times


async def measure(base: str, headers: dict[str, str], args: argparse.Namespace, running: multiprocessing.Event,
                  pages: multiprocessing.Value) -> tuple[list[float], list[float], float]:
    loaded, idle = [], []
    paged_seconds, paged = 0.0, 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120), headers=headers) as session:
        started = time.perf_counter()
        await probe(session, base, 1)  # the first walk of the chain (in the server's worker thread)
        print(f"first answer (full walk of the chain): {time.perf_counter() - started:.2f} s")
        for _ in range(args.rounds):
            running.set()
            await asyncio.sleep(0.5)  # let the pagers get going
            before, started = pages.value, time.perf_counter()
            loaded.append(statistics.median(await probe(session, base, args.requests)))
            paged_seconds, paged = paged_seconds + time.perf_counter() - started, paged + pages.value - before
            running.clear()
            await asyncio.sleep(0.5)
            idle.append(statistics.median(await probe(session, base, args.requests)))
    return loaded, idle, paged / paged_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--pagers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        started = time.perf_counter()
        config, headers = build_site(Path(name), args.entries)
        print(f"{args.entries} journal entries written in {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "--config", str(config), "web",
                                   "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True,
                                  env={k: v for k, v in os.environ.items() if k != "WATCHKEEPER_WEB_TOKEN"})
        server.stderr.readline()  # "dashboard at ...": listening
        base = f"http://127.0.0.1:{port}"
        running, stop, pages = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Value("l", 0)
        pagers = multiprocessing.Process(target=page_forever, args=(base, headers, args.pagers, running, stop, pages))
        pagers.start()
        try:
            loaded, idle, rate = asyncio.run(measure(base, headers, args, running, pages))
        finally:
            stop.set()
            running.set()
            pagers.join(30)
            server.send_signal(signal.SIGINT)
            server.wait(30)
    print(f"/api/status with {args.pagers} clients paging: median {statistics.median(loaded):.1f} ms "
          f"(rounds: {', '.join(f'{v:.1f}' for v in loaded)}); pagers read {rate:.0f} pages of 100/s")
    print(f"/api/status idle (anchor): median {statistics.median(idle):.1f} ms "
          f"(rounds: {', '.join(f'{v:.1f}' for v in idle)})")
    print(f"loaded / idle: {statistics.median(loaded) / statistics.median(idle):.2f}x")


if __name__ == "__main__":
    main()

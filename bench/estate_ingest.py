"""Estate ingest: site pushes per second with 100 simulated sites pushing concurrently, against an anchor.

Run: python bench/estate_ingest.py [--sites 100] [--pushes 5] [--rounds 5] [--postgres]

The estate (`watchkeeper estate serve`'s app: authenticate the site key, check every item's digest,
judge the pushed head's links against the chain accepted before, store the items and their effects
durably in SQLite (or PostgreSQL with --postgres), the pushes that arrive together sharing one transaction) and the anchor (a bare aiohttp handler that reads the same JSON
body and acknowledges it) are served by one child process, so both get the same core; the pushing
sites run in this process over real HTTP. Each round runs the anchor and the estate in turn (the
order alternating), every site sending `--pushes` pushes one after the other, all sites at once. A
push is what an appliance sends every minute: a journal head with 20 new links, the day's verdicts
for R1-R10 and its open findings. Prints the medians and the estate/anchor ratio. The distributed
lane's bench/estate.py calls `ingest_rate()` for its estate section.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import signal
import socket
import sys
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from watchkeeper.faces.estate.config import EstateConfig
from watchkeeper.faces.estate.protocol import PUSH_PATH, SITE_HEADER, digest
from watchkeeper.faces.estate.server import make_estate_app
from watchkeeper.core.models import Secret
from watchkeeper.faces.estate.store import open_store

LINKS = 20
CLAUSES = [f"R{n}" for n in range(1, 11)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _anchor(request: web.Request) -> web.Response:
    data = await request.json()
    return web.json_response({"acked": data["items"][-1]["seq"], "flags": []})


def _config(folder: str, database_url: str) -> EstateConfig:
    return EstateConfig(name="bench", store=Path(folder) / "estate.db", database_url=Secret(database_url),
                        journal_store=Path(folder) / "estate-journal.db", journal_key=Path(folder) / "estate-journal.key")


def _serve(folder: str, estate_port: int, anchor_port: int, ready: Any, database_url: str = "") -> None:
    async def main() -> None:
        config = _config(folder, database_url)
        estate = web.AppRunner(make_estate_app(config, open_store(config)), access_log=None)
        anchor_app = web.Application(client_max_size=8 * 1024 * 1024)
        anchor_app.router.add_post(PUSH_PATH, _anchor)
        anchor = web.AppRunner(anchor_app, access_log=None)
        for runner, port in ((estate, estate_port), (anchor, anchor_port)):
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        for runner in (estate, anchor):  # the estate's writer process ends with it
            await runner.cleanup()

    asyncio.run(main())


class Site:
    """One simulated appliance: its key, its outbox seq and its journal chain's tip."""

    def __init__(self, site_id: str, key: str) -> None:
        self.site_id, self.key = site_id, key
        self.seq, self.journal_seq, self.tip = 0, 0, "0" * 64

    def push_body(self) -> dict[str, Any]:
        links = []
        for _ in range(LINKS):
            self.journal_seq += 1
            new = hashlib.sha256(f"{self.site_id}{self.journal_seq}".encode()).hexdigest()
            links.append([self.journal_seq, self.tip, new])
            self.tip = new
        bodies = [
            ("head", {"seq": self.journal_seq, "hash": self.tip, "time": "2026-11-30T00:00:00+00:00", "key_id": "k" * 16,
                      "links": links, "verified": {"status": "ok", "head_seq": self.journal_seq, "reason": ""}}),
            ("verdicts", {"start": "2026-11-29T16:00:00+00:00", "end": "2026-11-30T16:00:00+00:00", "site_name":
                          self.site_id, "time_zone": "Asia/Shanghai", "verdicts": [
                              {"clause": c, "status": "met", "rule": f"{c}.kept", "reason": "every duty has evidence",
                               "evidence": {"journal": list(range(self.journal_seq - 5, self.journal_seq))},
                               "findings": []} for c in CLAUSES]}),
            ("findings", {"open": [{"id": n, "kind": "blurred", "subject": f"cam-{n}", "channel": None, "severity":
                                    "warning", "clause": "R5", "reason": "image is blurred", "opened_at":
                                    "2026-11-30T00:00:00+00:00", "last_seen_at": "2026-11-30T00:00:00+00:00"}
                                   for n in range(3)]}),
        ]
        items = []
        for kind, body in bodies:
            self.seq += 1
            items.append({"seq": self.seq, "kind": kind, "digest": digest(kind, body), "body": body,
                          "created_at": "2026-11-30T00:00:00+00:00"})
        return {"items": items}


async def _run(port: int, sites: list[Site], pushes: int) -> float:
    """All sites at once, each sending `pushes` pushes in turn; returns pushes per second."""
    bodies = [[site.push_body() for _ in range(pushes)] for site in sites]  # built before the clock starts
    connector = aiohttp.TCPConnector(limit=len(sites))
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(site: Site, queue: list[dict[str, Any]]) -> None:
            headers = {"Authorization": f"Bearer {site.key}", SITE_HEADER: site.site_id}
            for body in queue:
                async with session.post(f"http://127.0.0.1:{port}{PUSH_PATH}", json=body, headers=headers) as response:
                    assert response.status == 200, await response.text()
                    assert (await response.json())["acked"] == body["items"][-1]["seq"]

        started = time.perf_counter()
        await asyncio.gather(*(one(site, queue) for site, queue in zip(sites, bodies)))
        return len(sites) * pushes / (time.perf_counter() - started)


def ingest_rate(sites: int = 100, pushes: int = 5, rounds: int = 5, database_url: str = "") -> dict[str, float]:
    """Median pushes/s of the estate and of the anchor, and their ratio (`database_url`: the estate's
    data in that PostgreSQL database instead of SQLite)."""
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(_config(folder, database_url))
        simulated = [Site(f"site-{n:03d}", store.enrol(f"site-{n:03d}", "bench")) for n in range(sites)]
        store.close()
        anchors = [Site(site.site_id, site.key) for site in simulated]  # the anchor's own seq counters
        estate_port, anchor_port = _free_port(), _free_port()
        ready = multiprocessing.Event()
        # Not a daemon: the estate starts its writer process, and a daemonic process may have no children.
        server = multiprocessing.Process(target=_serve, args=(folder, estate_port, anchor_port, ready,
                                                                         database_url))
        server.start()
        try:
            if not ready.wait(60):
                raise RuntimeError("the bench's servers did not start")
            estate_rates, anchor_rates = [], []
            for index in range(rounds):
                order = [("estate", estate_port, simulated), ("anchor", anchor_port, anchors)]
                for name, port, group in order if index % 2 == 0 else order[::-1]:
                    rate = asyncio.run(_run(port, group, pushes))
                    (estate_rates if name == "estate" else anchor_rates).append(rate)
        finally:
            server.terminate()
            server.join()
    estate, anchor = statistics.median(estate_rates), statistics.median(anchor_rates)
    return {"estate": estate, "anchor": anchor, "ratio": estate / anchor}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--pushes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", action="store_true",
                        help="the estate's data in a PostgreSQL server started for the run (initdb, pg_ctl)")


def _postgres() -> Any:
    """A throwaway PostgreSQL server, as the estate's tests start one (tests/estate_postgres.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.estate_postgres import fresh_database, postgres_server

    return postgres_server(), fresh_database


def main(args: argparse.Namespace | None = None) -> None:
    if args is None:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        add_arguments(parser)
        args = parser.parse_args()
    if getattr(args, "postgres", False):
        server, fresh_database = _postgres()
        with server as url:
            if url is None:
                raise SystemExit("PostgreSQL is not installed (Debian: postgresql)")
            result = ingest_rate(args.sites, args.pushes, args.rounds, fresh_database(url, "estate_bench"))
    else:
        result = ingest_rate(args.sites, args.pushes, args.rounds)
    print(f"estate ingest ({'PostgreSQL' if getattr(args, 'postgres', False) else 'SQLite'}), {args.sites} sites "
          f"pushing concurrently, {args.pushes} pushes each, median of {args.rounds} rounds (cpus: {os.cpu_count()}):")
    print(f"  anchor (bare aiohttp handler, same body): {result['anchor']:8.1f} pushes/s")
    print(f"  estate (auth, digests, head check, durable store):  {result['estate']:8.1f} pushes/s")
    print(f"  ratio estate/anchor: {result['ratio']:.2f}")


if __name__ == "__main__":
    main()

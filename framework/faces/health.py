"""`/healthz` and `/metrics`: what the site's existing monitoring scrapes from the appliance."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS
from watchkeeper.evidence.journal import Verification
from watchkeeper.evidence.store import disk_problem
from watchkeeper.rules.runner import collect_checks

#: How long /healthz waits for the store's write lock before calling the store stuck.
WRITE_PROBE_SECONDS = 2.0


#: A full walk of the chain runs again at least this often (in the background, the cached answer
#: served meanwhile): new entries are walked incrementally, and an edit behind the triggers' back in
#: the part already walked is caught by the next full walk.
FULL_WALK_SECONDS = 600.0


class JournalCache:
    """The journal's verification, kept per head and brought up to date in a worker thread.

    Nothing walks the chain on the event loop that also serves the doors: the first walk and each
    new head's incremental walk (only the entries after the last verified head) run in a thread over
    a read-only connection; a broken chain stays broken until a full walk says otherwise.
    """

    def __init__(self, full_walk_seconds: float = FULL_WALK_SECONDS) -> None:
        self.head: tuple[int, str] | None = None
        self.verification: Verification | None = None
        self.full_walk_seconds = full_walk_seconds
        self.walked_at = -math.inf
        self.lock = asyncio.Lock()
        self.background: asyncio.Task[None] | None = None

    async def current(self, app: Any) -> Verification:
        """The verification of the journal as it is now (an index lookup on the loop, walks in a thread)."""
        head = _head(app.store.conn)
        if self.verification is None or (head != self.head and self.verification.ok):
            async with self.lock:
                if self.verification is None:
                    self.walked_at = time.monotonic()
                    self.head, self.verification = await asyncio.to_thread(_verify_readonly, app, None)
                elif head != self.head and self.verification.ok:
                    self.head, self.verification = await asyncio.to_thread(_verify_readonly, app, self.verification)
        if time.monotonic() - self.walked_at > self.full_walk_seconds and (
                self.background is None or self.background.done()):
            self.walked_at = time.monotonic()
            self.background = asyncio.create_task(self._walk_fully(app))
        return self.verification

    async def _walk_fully(self, app: Any) -> None:
        head, verification = await asyncio.to_thread(_verify_readonly, app, None)
        async with self.lock:
            if not verification.ok or self.head is None or head[0] >= self.head[0]:
                self.head, self.verification = head, verification

    async def check(self, app: Any) -> tuple[bool, str]:
        verification = await self.current(app)
        problem = verification.problem
        return verification.ok, f"entry {problem.seq}: {problem.reason}" if problem else ""


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, "")


def _verify_readonly(app: Any, since: Verification | None) -> tuple[tuple[int, str], Verification]:
    """(head, verification) of the site's journal over a read-only connection of its own, both read
    in one snapshot; `since` walks only the entries after an earlier verification."""

    class ReadOnly:
        conn = sqlite3.connect(f"file:{app.store.path}?mode=ro", uri=True, isolation_level=None)

    journal = copy.copy(app.journal)
    journal.store = ReadOnly()
    try:
        # verify takes its snapshot under the anchor's lock, with the anchor: a snapshot taken before
        # (to read the head) met an anchor already moved on by an append, read as entries deleted.
        verification = journal.verify(since)
        return (verification.head_seq, verification.head_hash), verification
    finally:
        ReadOnly.conn.close()


def _store_writable(app: Any) -> tuple[bool, str]:
    # A lock can be taken on a full or read-only disk; the next write cannot be made there.
    problem = disk_problem(app.store.path)
    if problem is not None:
        return False, problem
    connection = sqlite3.connect(app.store.path, timeout=WRITE_PROBE_SECONDS, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True, ""
    except sqlite3.Error as error:
        return False, str(error)
    finally:
        connection.close()


def _unreachable(app: Any) -> list[dict[str, Any]]:
    kinds = [str(kind) for kind in DEVICE_FAILURE_KINDS]
    rows = app.store.conn.execute(
        f"SELECT subject, kind, reason FROM findings WHERE closed_at IS NULL AND kind IN ({','.join('?' * len(kinds))})"
        " ORDER BY subject", kinds).fetchall()
    return [{"device": subject, "kind": kind, "reason": reason} for subject, kind, reason in rows]


async def healthz(request: web.Request) -> web.Response:
    """200 when the store takes writes and the journal verifies (devices down make it "degraded"),
    503 otherwise: the evidence itself is at risk."""
    from watchkeeper.faces.web import APP

    app = request.app[APP]
    writable, store_problem = await asyncio.to_thread(_store_writable, app)
    journal_ok, journal_problem = await request.app[JOURNAL_CACHE].check(app)
    devices = _unreachable(app)
    healthy = writable and journal_ok
    body = {
        "status": "ok" if healthy and not devices else ("degraded" if healthy else "failing"),
        "store": {"writable": writable, "problem": store_problem},
        "journal": {"verifies": journal_ok, "problem": journal_problem},
        "devices_unreachable": devices,
        "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return web.json_response(body, status=200 if healthy else 503)


class StoreCollector(Collector):
    """Reads the store at each scrape: nothing to keep in step, and a restarted appliance loses nothing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        conn = self.app.store.conn
        findings = GaugeMetricFamily("watchkeeper_open_findings", "Open findings", labels=["kind", "clause", "severity"])
        for kind, clause, severity, count in conn.execute(
                "SELECT kind, clause, severity, count(*) FROM findings WHERE closed_at IS NULL GROUP BY 1, 2, 3"):
            findings.add_metric([kind, clause or "", severity or ""], count)
        yield findings

        inspection = GaugeMetricFamily("watchkeeper_last_inspection_timestamp_seconds",
                                       "When the last inspection run finished, and whether it was signed",
                                       labels=["signed"])
        for signed in (True, False):
            row = conn.execute(
                "SELECT max(finished_at) FROM inspection_runs WHERE finished_at IS NOT NULL AND "
                + ("signed_by IS NOT NULL" if signed else "1")).fetchone()
            if row and row[0]:
                inspection.add_metric(["true" if signed else "any"], datetime.fromisoformat(row[0]).timestamp())
        yield inspection

        offsets = GaugeMetricFamily("watchkeeper_clock_offset_seconds", "Each device's last measured clock offset",
                                    labels=["device"])
        for device, offset in conn.execute(
                "SELECT device, offset_seconds FROM clock_readings WHERE id IN "
                "(SELECT max(id) FROM clock_readings GROUP BY device) AND offset_seconds IS NOT NULL"):
            offsets.add_metric([device], offset)
        yield offsets

        doors = GaugeMetricFamily("watchkeeper_door_events", "Door events recorded, by door and outcome",
                                  labels=["door", "event", "allowed"])
        for door, event, allowed, count in conn.execute(
                "SELECT door, event, allowed, count(*) FROM access_events GROUP BY 1, 2, 3"):
            doors.add_metric([door, event or "", "true" if allowed else "false"], count)
        yield doors

        durations = GaugeMetricFamily("watchkeeper_check_duration_seconds", "How long each check's last run took",
                                      labels=["check"])
        for name in sorted(collect_checks(self.app.pm)):
            # Each check's newest entry, found backwards through the subject index: a scan of every
            # entry's JSON here stalled the loop that serves the doors at each scrape.
            row = conn.execute("SELECT body FROM journal WHERE subject = ? AND json_extract(body, '$.duration_seconds')"
                               " IS NOT NULL ORDER BY seq DESC LIMIT 1", [name]).fetchone()
            if row is not None:
                durations.add_metric([name], float(json.loads(row[0])["duration_seconds"]))
        yield durations


async def metrics(request: web.Request) -> web.Response:
    registry: CollectorRegistry = request.app[REGISTRY]
    # On the loop's thread: the collector reads through the site's own connection.
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


JOURNAL_CACHE = web.AppKey("watchkeeper_journal_cache", JournalCache)
REGISTRY = web.AppKey("watchkeeper_metrics_registry", CollectorRegistry)


def add_routes(web_app: web.Application, app: Any) -> None:
    """Mount /healthz and /metrics on the dashboard's application."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StoreCollector(app))
    web_app[REGISTRY] = registry
    web_app[JOURNAL_CACHE] = JournalCache()
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)

"""`/healthz` and `/metrics`: what the site's existing monitoring scrapes from the appliance."""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS

#: How long /healthz waits for the store's write lock before calling the store stuck.
WRITE_PROBE_SECONDS = 2.0


class JournalCache:
    """The last verification, kept while the journal's head is unchanged (verifying is a full walk)."""

    def __init__(self) -> None:
        self.head: tuple[int, str] | None = None
        self.ok = False
        self.problem = ""
        self.lock = asyncio.Lock()

    async def check(self, app: Any) -> tuple[bool, str]:
        row = app.store.conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
        head = (row[0], row[1]) if row else (0, "")
        async with self.lock:
            if head != self.head:
                # Its own read-only connection: the walk runs in a thread, off the loop that serves doors.
                result = await asyncio.to_thread(_verify_readonly, app)
                self.head, (self.ok, self.problem) = head, result
        return self.ok, self.problem


def _verify_readonly(app: Any) -> tuple[bool, str]:
    """The site's journal verified over a read-only connection of its own (the walk never writes)."""

    class ReadOnly:
        conn = sqlite3.connect(f"file:{app.store.path}?mode=ro", uri=True)

    journal = copy.copy(app.journal)
    journal.store = ReadOnly()
    try:
        verification = journal.verify()
    finally:
        ReadOnly.conn.close()
    problem = verification.problem
    return verification.ok, f"entry {problem.seq}: {problem.reason}" if problem else ""


def _store_writable(app: Any) -> tuple[bool, str]:
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
        for subject, body in conn.execute(
                "SELECT subject, body FROM journal WHERE seq IN (SELECT max(seq) FROM journal WHERE "
                "json_extract(body, '$.duration_seconds') IS NOT NULL GROUP BY subject)"):
            durations.add_metric([subject], float(json.loads(body)["duration_seconds"]))
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

"""`/healthz` and `/metrics` (issue 19), read back by Prometheus's own parser."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.faces.web import make_web_app
from watchkeeper.host import open_site


@pytest.fixture
def app(site_file: Path):
    opened = open_site(site_file)
    yield opened
    opened.close()


async def _get(app, path: str) -> tuple[int, str, dict]:
    async with TestClient(TestServer(make_web_app(app))) as client:
        response = await client.get(path)
        text = await response.text()
        return response.status, text, dict(response.headers)


async def test_metrics_are_read_from_the_store(app) -> None:
    findings = app.finding_store()
    findings.record(Finding(FindingKind.BLURRED, "gate", "detail 1.1 below 20"))
    findings.record(Finding(FindingKind.UNREACHABLE, "nvr", "no answer in 5 s"))
    app.store.db["clock_readings"].insert({"device": "nvr", "time_utc": "2026-11-29T00:00:00+00:00",
                                           "offset_seconds": 44.5, "reference": "system"})
    app.store.db["access_events"].insert({"time_utc": "2026-11-29T00:00:00+00:00", "door": "room",
                                          "event": "entry", "allowed": 0})
    app.journal.append("clock", "watchkeeper", "clock", {"check": "clock", "duration_seconds": 1.25})
    status, text, headers = await _get(app, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples}
    assert samples[("watchkeeper_open_findings", (("clause", "R5"), ("kind", "blurred"), ("severity", "fault")))] == 1
    assert samples[("watchkeeper_clock_offset_seconds", (("device", "nvr"),))] == 44.5
    assert samples[("watchkeeper_door_events", (("allowed", "false"), ("door", "room"), ("event", "entry")))] == 1
    assert samples[("watchkeeper_check_duration_seconds", (("check", "clock"),))] == 1.25
    findings.close(FindingKind.BLURRED, "gate")
    _, text, _ = await _get(app, "/metrics")
    assert 'kind="blurred"' not in text


async def test_healthz_ok_degraded_and_failing(app) -> None:
    status, text, _ = await _get(app, "/healthz")
    assert status == 200 and '"status": "ok"' in text
    app.finding_store().record(Finding(FindingKind.UNREACHABLE, "nvr", "no answer in 5 s"))
    status, text, _ = await _get(app, "/healthz")
    assert status == 200 and '"status": "degraded"' in text and '"device": "nvr"' in text
    # An entry edited behind the triggers' back: the evidence is at risk, monitoring must page someone.
    connection = sqlite3.connect(app.store.path)
    connection.execute("DROP TRIGGER journal_no_update")
    connection.execute("UPDATE journal SET subject = 'forged' WHERE seq = 1")
    connection.commit()
    connection.close()
    status, text, _ = await _get(app, "/healthz")
    assert status == 503 and '"verifies": false' in text and "entry 1" in text


async def test_healthz_names_a_store_that_takes_no_writes(app) -> None:
    blocker = sqlite3.connect(app.store.path, isolation_level=None, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        status, text, _ = await _get(app, "/healthz")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert status == 503 and '"writable": false' in text and "locked" in text


def test_the_readonly_verification_never_mistakes_a_concurrent_append_for_a_deletion(app, site_file: Path) -> None:
    """/healthz walked the chain in a snapshot taken before it read the anchor: an entry committed in
    between (the appliance writing as it is scraped) read as "entries deleted", cached for minutes."""
    import threading

    from watchkeeper.faces.health import _verify_readonly

    writer, stop = open_site(site_file), threading.Event()

    def append() -> None:
        while not stop.is_set():
            writer.journal.append("operation", "li", "busy", {"n": 1})

    thread = threading.Thread(target=append)
    thread.start()
    try:
        results = [_verify_readonly(app, None)[1] for _ in range(60)]
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert [r.problem.reason for r in results if not r.ok] == []

"""The dashboard off the hot path: journal walks in a worker thread, incremental per head; pages by seq; indexed queries.

The timing of the same thing at 300,000 entries is bench/dashboard.py; these tests assert behaviour only.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, generate_latest

from watchkeeper.evidence.journal import Journal
from watchkeeper.faces.report import build_report
from watchkeeper.faces import health
from watchkeeper.faces.web import JOURNAL_PAGE_MAX, make_web_app

ENTRIES = 2500


def fill(app, count: int = ENTRIES) -> None:
    for offset in range(0, count, 500):
        app.journal.append_many([("access", "li", f"door-{i % 3}", {"n": i}, None)
                                 for i in range(offset, min(offset + 500, count))])


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """Every journal walk: the thread it ran on and where it started (None: from the first entry)."""
    seen: list[tuple[str, int | None]] = []
    real = Journal.verify

    def spy(self, since=None):
        seen.append((threading.current_thread().name, since.head_seq if since else None))
        return real(self, since)

    monkeypatch.setattr(Journal, "verify", spy)
    return seen


async def test_pages_walk_the_journal_in_a_thread_once_per_head(app, walks) -> None:
    fill(app)
    loop_thread = threading.current_thread().name
    async with TestClient(TestServer(make_web_app(app))) as client:
        for path in ("/api/status", "/", "/journal", "/report?period=week", "/healthz", "/api/status"):
            assert (await client.get(path)).status == 200, path
        head = app.store.conn.execute("SELECT max(seq) FROM journal").fetchone()[0]
        assert [since for _, since in walks] == [None], walks  # one full walk, then the cache
        app.journal.append("operation", "li", "console", "handover")
        status = await (await client.get("/api/status")).json()
        assert status["journal"] == {"ok": True, "head_seq": head + 1, "head_hash": status["journal"]["head_hash"]}
        assert [since for _, since in walks] == [None, head]  # only the new entry was walked
    assert loop_thread not in {thread for thread, _ in walks}


def _tamper(app, sql: str) -> None:
    raw = sqlite3.connect(app.store.path)
    raw.execute("DROP TRIGGER IF EXISTS journal_no_update")
    raw.execute("DROP TRIGGER IF EXISTS journal_no_delete")
    raw.execute(sql)
    raw.commit()
    raw.close()


async def test_a_changed_head_is_walked_again(app) -> None:
    fill(app, 50)
    async with TestClient(TestServer(make_web_app(app))) as client:
        assert (await (await client.get("/api/status")).json())["journal"]["ok"] is True
        _tamper(app, "DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal)")
        assert (await (await client.get("/api/status")).json())["journal"]["ok"] is False
        # The deleted head is named for what it is (the anchor remembers a later entry), not "BROKEN".
        page = await (await client.get("/journal")).text()
        assert "Journal does not verify" in page and "were deleted" in page


async def test_an_edit_behind_the_head_is_caught_by_the_next_full_walk(app) -> None:
    fill(app, 50)
    async with TestClient(TestServer(make_web_app(app))) as client:
        assert (await (await client.get("/api/status")).json())["journal"]["ok"] is True
        _tamper(app, "UPDATE journal SET body = '{\"n\":-1}' WHERE seq = 10")
        client.app[health.JOURNAL_CACHE].full_walk_seconds = 0  # the periodic walk is due now
        for _ in range(100):  # it runs in the background; the cached answer is served meanwhile
            status = await (await client.get("/api/status")).json()
            if not status["journal"]["ok"]:
                break
            await asyncio.sleep(0.05)
        assert status["journal"]["ok"] is False


async def test_eight_clients_page_the_journal_while_status_answers(app) -> None:
    fill(app)
    head = app.store.conn.execute("SELECT max(seq) FROM journal").fetchone()[0]
    async with TestClient(TestServer(make_web_app(app))) as client:

        async def page_through() -> list[int]:
            seqs, before = [], None
            while True:
                query = f"?limit=97&before={before}" if before else "?limit=97"
                page = await (await client.get("/api/journal" + query)).json()
                seqs += [entry["seq"] for entry in page["entries"]]
                if page["older"] is None:
                    return seqs
                before = page["older"]

        async def ask_status() -> list[dict]:
            return [await (await client.get("/api/status")).json() for _ in range(20)]

        *pages, statuses = await asyncio.gather(*(page_through() for _ in range(8)), ask_status())
    assert all(seqs == list(range(head, 0, -1)) for seqs in pages)
    assert all(s["journal"]["ok"] and s["journal"]["head_seq"] == head for s in statuses)


@pytest.mark.parametrize("query", ["?before=0", "?before=abc", f"?limit={JOURNAL_PAGE_MAX + 1}", "?limit=0"])
async def test_journal_page_parameters_are_checked(app, query: str) -> None:
    async with TestClient(TestServer(make_web_app(app))) as client:
        assert (await client.get("/api/journal" + query)).status == 400
        assert (await client.get("/journal" + query)).status == 400


async def test_journal_page_links_to_older_entries(app) -> None:
    fill(app, 250)
    async with TestClient(TestServer(make_web_app(app))) as client:
        first = await (await client.get("/journal")).text()
        assert 'id="older"' in first and 'id="seq-1"' not in first
        head = app.store.conn.execute("SELECT max(seq) FROM journal").fetchone()[0]
        last = await (await client.get(f"/journal?before=101&limit=100")).text()
        assert 'id="seq-1"' in last and 'id="older"' not in last and f'id="seq-{head}"' not in last


def fill_year(app, count: int = 5000) -> None:
    """Entries spread over the past year, mostly of the commonest kind, as a site's journal is."""
    now = datetime.now(timezone.utc)
    step = timedelta(days=365) / count
    kinds = ("operation", "operation", "access", "inspection")
    app.journal.append_many([(kinds[i % len(kinds)], "li", f"door-{i % 3}", {"n": i}, now - timedelta(days=365) + step * i)
                             for i in range(count)])


def _instructions(conn: sqlite3.Connection, sql: str) -> int:
    """SQLite virtual-machine instructions (in hundreds) one statement takes: its work, not its time."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 100)
    try:
        conn.execute(sql).fetchall()
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0]


def _heavy_journal_queries(app, work) -> dict[str, float]:
    """The journal queries `work` makes that cost a tenth or more of one pass over the whole journal."""
    statements: list[str] = []
    app.store.conn.set_trace_callback(statements.append)
    try:
        work()
    finally:
        app.store.conn.set_trace_callback(None)
    whole = _instructions(app.store.conn, "SELECT count(*) FROM journal WHERE body LIKE '%no such text%'")
    queries = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT") and " journal" in sql]
    assert queries, statements
    costs = {sql: _instructions(app.store.conn, sql) / whole for sql in queries}
    return {sql: round(cost, 2) for sql, cost in costs.items() if cost >= 0.1}


def test_the_report_the_dashboard_builds_reads_no_whole_journal(app) -> None:
    fill_year(app)
    verification = app.journal.verify()  # the cache's walk, in its thread; not a page's query
    assert not _heavy_journal_queries(app, lambda: build_report(app, "day", verification=verification))


def test_a_metrics_scrape_reads_no_whole_journal(app) -> None:
    fill_year(app)
    registry = CollectorRegistry()
    registry.register(health.StoreCollector(app))
    assert not _heavy_journal_queries(app, lambda: generate_latest(registry))

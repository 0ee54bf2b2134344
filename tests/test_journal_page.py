"""The dashboard's journal page names what is wrong with the chain, not "BROKEN" for every problem."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from watchkeeper.faces.web import make_web_app
from watchkeeper.host import open_site


async def test_a_missing_anchor_is_not_called_a_broken_chain(site_file: Path) -> None:
    app = open_site(site_file)
    app.journal.append("operation", "li", "console", "shift handover")
    head = site_file.parent / "keys" / "journal.key.head"
    head.unlink()
    try:
        async with TestClient(TestServer(make_web_app(app))) as client:
            page = await (await client.get("/journal")).text()
    finally:
        app.close()
    assert "Journal does not verify" in page and "is missing" in page
    assert "BROKEN" not in page


async def test_an_edited_entry_is_a_broken_chain(site_file: Path) -> None:
    import sqlite3
    app = open_site(site_file)
    app.journal.append("operation", "li", "console", "shift handover")
    database = site_file.parent / "data" / "watchkeeper.db"
    raw = sqlite3.connect(database, isolation_level=None)
    raw.execute("DROP TRIGGER IF EXISTS journal_no_update")
    raw.execute("UPDATE journal SET body = 'nothing happened' WHERE body LIKE '%shift handover%'")
    raw.close()
    try:
        async with TestClient(TestServer(make_web_app(app))) as client:
            page = await (await client.get("/journal")).text()
    finally:
        app.close()
    assert "BROKEN at entry" in page and "does not match its HMAC" in page

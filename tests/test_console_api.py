"""The JSON API: every /api/ route is in the OpenAPI document, and its actions run as the token's person."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from watchkeeper.faces.api.openapi import document
from watchkeeper.faces.console.actions import ACTIONS
from watchkeeper.faces.web import make_web_app

SITE_EXTRA = """
[[maintenance]]
id = "wipe"
title = "Wipe the desks"
every = "daily"
countersign = true
"""


def api_routes(web_app) -> set[tuple[str, str]]:
    found = set()
    for route in web_app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            found.add((route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    return found


def test_every_api_route_is_documented(app) -> None:
    """A contract without a schema tool: the router's /api/ routes and the document's are the same set."""
    documented = {(method, path) for path, item in document()["paths"].items() for method in item}
    assert api_routes(make_web_app(app)) == documented
    spec = document()
    assert spec["openapi"].startswith("3.")
    for action in ACTIONS:
        operation = spec["paths"]["/api" + action.path]["post"]
        assert operation["x-permission"] == action.permission
        required = operation["requestBody"]["content"]["application/json"]["schema"].get("required", [])
        in_path = set(re.findall(r"\{(\w+)\}", action.path))
        assert set(required) == {f.name for f in action.fields if f.required and f.name not in in_path}


@pytest.fixture
def token_app(site_file):
    identity = pytest.importorskip("watchkeeper.site.identity", reason="the API needs identity's tokens")
    from watchkeeper.host import open_site

    site_file.write_text(site_file.read_text(encoding="utf-8") + SITE_EXTRA, encoding="utf-8")
    opened = open_site(site_file)
    tokens = {person: identity.issue_token(opened, person, "test", "api test") for person in ("li", "zhang")}
    yield opened, tokens
    opened.close()


def journal(app, person: str) -> list[tuple[str, str, str]]:
    return app.store.conn.execute("SELECT actor, subject, body FROM journal WHERE actor = ? ORDER BY seq",
                                  [person]).fetchall()


async def test_actions_run_as_the_tokens_person(token_app) -> None:
    app, tokens = token_app
    client = TestClient(TestServer(make_web_app(app)))
    await client.start_server()
    try:
        as_li = {"Authorization": f"Bearer {tokens['li']}"}
        as_zhang = {"Authorization": f"Bearer {tokens['zhang']}"}
        assert (await client.get("/api/today")).status == 401
        assert (await client.get("/api/openapi.json")).status == 401
        today = await (await client.get("/api/today", headers=as_li)).json()
        assert today["site"] == "Test site" and today["findings"] == []

        answer = await client.post("/api/journal", json={"text": "handed the keys to the guard"}, headers=as_li)
        assert answer.status == 200 and (await answer.json())["by"] == "li"
        assert any('"handed the keys to the guard"' in body for _a, _s, body in journal(app, "li"))

        bad = await client.post("/api/visitors", json={"name": "Zhou"}, headers=as_li)
        assert bad.status == 400 and "organisation" in (await bad.json())["error"]
        registered = await client.post("/api/visitors", headers=as_li, json={
            "name": "Zhou Tao", "organisation": "Lifts", "purpose": "inspect the lift controller",
            "valid_from": "2026-01-01T09:00", "valid_to": "2026-01-01T11:00", "badge": "7102"})
        visitor = (await registered.json())["result"]["visitor"]
        refused = await client.post(f"/api/visitors/{visitor}/approve", headers=as_li)
        assert refused.status == 403
        assert any('"refused":"visitor.approve"' in body.replace(" ", "") for _a, _s, body in journal(app, "li"))
        approved = await client.post(f"/api/visitors/{visitor}/approve", headers=as_zhang)
        assert approved.status == 200
        assert journal(app, "zhang")[-1][:2] == ("zhang", f"visitor-{visitor}")
        # The rule's own refusal (approving one's own registration) is a 403 with its reason too.
        own = await client.post("/api/visitors", headers=as_zhang, json={
            "name": "Wu", "organisation": "Cleaners", "purpose": "weekly clean of the room",
            "valid_from": "2026-01-01T09:00", "valid_to": "2026-01-01T11:00", "pin": "4321"})
        own_id = (await own.json())["result"]["visitor"]
        mine = await client.post(f"/api/visitors/{own_id}/approve", headers=as_zhang)
        assert mine.status == 403 and "may not also approve" in (await mine.json())["error"]

        tick = await client.post("/api/checklist/wipe/tick", json={"note": "done"}, headers=as_li)
        tick_id = (await tick.json())["result"]["tick"]
        assert (await client.post(f"/api/ticks/{tick_id}/countersign", headers=as_zhang)).status == 200
        room = await (await client.get("/api/room", headers=as_li)).json()
        assert room["ticks"][0]["countersigned_by"] == "zhang"
        page = await (await client.get("/api/journal?actor=zhang&limit=2", headers=as_li)).json()
        assert {e["actor"] for e in page["entries"]} == {"zhang"} and page["verification"]["ok"] is True
        assert (await client.get("/api/journal?limit=0", headers=as_li)).status == 400
        assert (await client.get("/api/cameras/nowhere", headers=as_li)).status == 404
    finally:
        await client.close()


def test_docs_list_every_api_route() -> None:
    from pathlib import Path

    from watchkeeper.faces.api.openapi import markdown

    docs = (Path(__file__).resolve().parents[1] / "docs" / "console.md").read_text(encoding="utf-8")
    assert markdown() in docs, "regenerate the table: python -m watchkeeper.faces.api.openapi"


async def test_journal_screen_names_the_chains_problem(token_app, site_file) -> None:
    """A missing head anchor is named as such on the console's journal screen and in the API, not 'broken'."""
    app, tokens = token_app
    app.journal.append("operation", "li", "console", {"text": "shift handover"})
    (site_file.parent / "keys" / "journal.key.head").unlink()
    as_li = {"Authorization": f"Bearer {tokens['li']}"}
    async with TestClient(TestServer(make_web_app(app))) as client:
        page = await (await client.get("/console/journal", headers=as_li)).text()
        verification = (await (await client.get("/api/journal", headers=as_li)).json())["verification"]
    assert 'data-status="anchor_missing"' in page and "Journal does not verify" in page and "BROKEN" not in page
    assert verification["ok"] is False and verification["status"] == "anchor_missing"
    assert "missing" in verification["problems"][0]["reason"]

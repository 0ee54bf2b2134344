"""The dashboard: today's clauses and findings, the journal, the report, tokens, plugin routes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from watchkeeper.host import open_site
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.host.pluginhost import load_plugins
from tests.logins import logged_in
from watchkeeper.faces.web import WebConfigError, make_web_app


@pytest.fixture
async def client(app):
    await run_check(app, collect_checks(app.pm)["maintenance"])
    app.journal.append("operation", "li", "console", "<b>shift handover</b>")
    async with logged_in(app) as test_client:
        yield test_client


async def test_dashboard_shows_clauses_and_escapes_text(client) -> None:
    response = await client.get("/")
    assert response.status == 200
    page = await response.text()
    assert "Test site" in page and 'id="clauses"' in page and "R10" in page
    journal = await (await client.get("/journal")).text()
    assert "&lt;b&gt;shift handover&lt;/b&gt;" in journal and "<b>shift handover" not in journal
    assert "Journal verified" in journal


async def test_status_api_and_report(client) -> None:
    status = await (await client.get("/api/status")).json()
    assert status["clauses"]["R4"] == "not due" and status["journal"]["ok"] is True
    r10 = next(v for v in status["verdicts"] if v["clause"] == "R10")
    assert (r10["status"], r10["rule"]) == ("no evidence", "R10.no_review")
    report = await client.get("/report?period=week")
    assert report.status == 200 and "Compliance report" in await report.text()
    assert (await client.get("/report?period=decade")).status == 400


def test_a_remote_bind_needs_no_shared_token_but_a_set_one_is_refused(app, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every person logs in now (tests/test_identity_web.py); the old shared token is refused, not ignored.
    monkeypatch.delenv("WATCHKEEPER_WEB_TOKEN", raising=False)
    make_web_app(app, "0.0.0.0")
    monkeypatch.setenv("WATCHKEEPER_WEB_TOKEN", "a-long-dashboard-token")
    with pytest.raises(WebConfigError, match="WATCHKEEPER_WEB_TOKEN"):
        make_web_app(app, "192.0.2.1")


async def test_plugin_routes_live_under_plugins(site_file: Path, tmp_path: Path) -> None:
    plugins = tmp_path / "routes"
    plugins.mkdir()
    (plugins / "hello.py").write_text(textwrap.dedent("""\
        from aiohttp import web
        from watchkeeper import hookimpl
        from watchkeeper.faces.web import APP

        async def hello(request):
            return web.Response(text="hello from " + request.app[APP].site.name)

        @hookimpl
        def register_routes(register):
            register("GET", "/plugins/hello", hello)
    """))
    app = open_site(site_file, load_plugins(plugins))
    try:
        async with logged_in(app) as test_client:
            assert await (await test_client.get("/plugins/hello")).text() == "hello from Test site"
        (plugins / "hello.py").write_text((plugins / "hello.py").read_text().replace("/plugins/hello", "/journal"))
        shadowing = open_site(site_file, load_plugins(plugins))
        try:
            with pytest.raises(ValueError, match="must start with /plugins/"):
                make_web_app(shadowing)
        finally:
            shadowing.close()
    finally:
        app.close()

"""Web identity: every route needs a person, CSRF on state changes, lockout, idle timeout, roles, headers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from watchkeeper.faces import webauth
from watchkeeper.faces.web import WebConfigError, make_web_app
from watchkeeper.site import identity
from tests.logins import PASSWORD, csrf, give_login, login


@pytest.fixture
async def web_app(app):
    give_login(app, "li")
    give_login(app, "zhang")
    built = make_web_app(app)

    async def change(request: web.Request) -> web.Response:
        return web.json_response({"by": webauth.require(request, "findings.close")})

    # A state-changing route of the kind the console adds, to test CSRF and roles on.
    webauth.route(built, "POST", "/api/test-change", change, action="findings.acknowledge")
    return built


@pytest.fixture
async def client(web_app):
    async with TestClient(TestServer(web_app)) as test_client:
        yield test_client


def _entries(app, where: str = "1") -> list[dict]:
    cursor = app.store.conn.execute(f"SELECT actor, subject, body FROM journal WHERE {where} ORDER BY seq")
    return [{"actor": a, "subject": s, "body": json.loads(b)} for a, s, b in cursor]


def _concrete(path: str) -> str:
    return path.replace("{", "").replace("}", "")  # /x/{id} -> /x/id: any value reaches the check


async def test_every_route_without_a_person_is_refused_or_sent_to_login(web_app, client) -> None:
    public = web_app[webauth.PUBLIC]
    checked = 0
    for added in web_app.router.routes():
        if added in public or added.resource is None:
            continue
        path = _concrete(added.resource.canonical)
        response = await client.request(added.method, path, allow_redirects=False)
        if path.startswith(webauth.MACHINE_PREFIXES) or added.method not in webauth.SAFE_METHODS:
            assert response.status == 401, (added.method, path)
        else:
            assert response.status == 303 and response.headers["Location"].startswith("/login?next="), path
        checked += 1
    assert checked >= 8  # the dashboard's, /metrics, logout and the test route at least
    assert (await client.get("/healthz")).status in (200, 503)
    assert (await client.get("/nowhere", allow_redirects=False)).status == 303


async def test_login_then_pages_and_logout(app, client) -> None:
    await login(client, "li")
    assert (await client.get("/")).status == 200
    assert any(e["body"].get("login") == "web" and e["actor"] == "li" for e in _entries(app))
    token = csrf(client, app)
    assert (await client.post("/logout", headers={webauth.CSRF_HEADER: token}, allow_redirects=False)).status == 303
    assert (await client.get("/", allow_redirects=False)).status == 303
    assert any(e["body"].get("logout") == "web" for e in _entries(app))


async def test_session_cookie_flags_and_security_headers(client) -> None:
    response = await login(client, "li")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a browser would drop a Secure cookie
    for path in ("/", "/login", "/api/status", "/healthz", "/nowhere"):
        headers = (await client.get(path, allow_redirects=False)).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert "unsafe-inline" not in headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin"


async def test_cross_site_post_without_csrf_token_is_refused_and_journaled(app, client) -> None:
    await login(client, "li")
    refused = await client.post("/api/test-change", data={"x": "1"})
    assert refused.status == 403
    foreign = await client.post("/api/test-change", headers={"Origin": "https://evil.example",
                                                            webauth.CSRF_HEADER: csrf(client, app)})
    assert foreign.status == 403
    assert len([e for e in _entries(app) if e["body"].get("refused") == "csrf"]) == 2
    # With its token, li passes the route's check (acknowledge) and the handler's finer one refuses
    # (closing is a supervisor's): 403, journaled by App.require.
    allowed = await client.post("/api/test-change", headers={webauth.CSRF_HEADER: csrf(client, app)})
    assert allowed.status == 403
    assert _entries(app)[-1]["body"]["refused"] == "findings.close"


async def test_bearer_api_token_needs_no_csrf_and_a_wrong_one_is_401(app, client) -> None:
    token = identity.issue_token(app, "zhang", "zhang", "script")
    answer = await client.post("/api/test-change", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200 and (await answer.json())["by"] == "zhang"
    assert (await client.get("/api/status", headers={"Authorization": f"Bearer {token}x"})).status == 401
    assert (await client.get("/api/status?token=" + token)).status == 401
    identity.revoke_tokens(app, "zhang", "zhang")
    assert (await client.get("/api/status", headers={"Authorization": f"Bearer {token}"})).status == 401


async def test_five_wrong_passwords_lock_the_login_and_are_journaled(app, client) -> None:
    for _attempt in range(5):
        await login(client, "li", "not the password", expect=401)
    locked = await login(client, "li", PASSWORD, expect=401)  # the right one no longer opens it
    assert "locked" in await locked.text()
    failures = [e for e in _entries(app) if e["subject"] == "li" and "login_failed" in e["body"]]
    assert [e["body"].get("failures") for e in failures] == [1, 2, 3, 4, 5, 5]
    assert [e["body"]["login_failed"] for e in failures][-1] == "locked"
    assert any(e["body"].get("login_locked") == "li" for e in _entries(app))
    identity.unlock(app, "li", "admin")
    await login(client, "li")


async def test_login_throttling_per_address(client) -> None:
    for _attempt in range(webauth.THROTTLE_ATTEMPTS):
        await login(client, "nobody", "whatever-password", expect=401)
    await login(client, "nobody", "whatever-password", expect=429)


async def test_a_revoked_or_unknown_person_cannot_log_in(app, client) -> None:
    await login(client, "stranger", PASSWORD, expect=401)
    await login(client, "new-op", PASSWORD, expect=401)  # in the config, no password set
    app.store.conn.execute("UPDATE people SET revoked_at = '2026-01-01', revoked_by = 'zhang' WHERE id = 'li'")
    await login(client, "li", PASSWORD, expect=401)
    codes = [e["body"]["login_failed"] for e in _entries(app) if "login_failed" in e["body"]]
    assert codes == ["unknown", "no_login", "unknown"]


async def test_a_session_ends_after_its_idle_timeout(app, client) -> None:
    await login(client, "li")
    assert (await client.get("/", allow_redirects=False)).status == 200
    idle = timedelta(minutes=app.site.identity.session_idle_minutes, seconds=1)
    stale = (datetime.now(timezone.utc) - idle).isoformat(timespec="seconds")
    app.store.conn.execute("UPDATE web_sessions SET last_seen_at = ?", [stale])
    assert (await client.get("/", allow_redirects=False)).status == 303
    assert app.store.conn.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 0


async def test_a_session_ends_after_its_absolute_lifetime(app, client) -> None:
    await login(client, "li")
    old = (datetime.now(timezone.utc) - timedelta(hours=app.site.identity.session_hours, seconds=1))
    app.store.conn.execute("UPDATE web_sessions SET created_at = ?", [old.isoformat(timespec="seconds")])
    assert (await client.get("/api/status")).status == 401


async def test_an_auditor_reads_but_a_refused_route_is_403_and_journaled(app, site_file) -> None:
    site_file.write_text(site_file.read_text() + '\n[[people]]\nid = "audit"\nname = "Auditor"\nroles = ["auditor"]\n')
    from watchkeeper.host import open_site

    reopened = open_site(site_file)
    try:
        give_login(reopened, "audit")
        built = make_web_app(reopened)

        async def change(request: web.Request) -> web.Response:
            return web.Response(text="done")

        webauth.route(built, "POST", "/api/acknowledge", change, action="findings.acknowledge")
        async with TestClient(TestServer(built)) as test_client:
            await login(test_client, "audit")
            assert (await test_client.get("/api/status")).status == 200
            refused = await test_client.post("/api/acknowledge", headers={webauth.CSRF_HEADER: csrf(test_client, reopened)})
            assert refused.status == 403
        assert _entries(reopened)[-1] == {"actor": "audit", "subject": "/api/acknowledge", "body": {
            "refused": "findings.acknowledge", "reason": "'audit' has none of the roles allowed to findings.acknowledge: maintenance, operator, supervisor",
            "plugin": "watchkeeper.rules.policy", "proof": "session"}}
    finally:
        reopened.close()


async def test_login_redirects_only_to_local_paths(client) -> None:
    assert webauth._next_path("//evil.example/x") == "/"
    assert webauth._next_path("https://evil.example") == "/"
    assert webauth._next_path("/journal?before=3") == "/journal?before=3"


def test_the_old_shared_token_is_refused_with_what_replaced_it(app, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_WEB_TOKEN", "a-long-dashboard-token")
    with pytest.raises(WebConfigError, match="people token"):
        make_web_app(app)


async def test_the_login_page_speaks_chinese(client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    page = await (await client.get("/login")).text()
    assert 'lang="zh_CN"' in page and "登录" in page and "人员编号" in page and "密码" in page
    failed = await login(client, "li", "not the password", expect=401)
    assert "人员编号或密码错误" in await failed.text()

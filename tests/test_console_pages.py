"""The console's screens on the demo site, per role: what renders, what is offered, what leaves the box."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.logins import logged_in
from watchkeeper.faces.demo import run_demo
from watchkeeper.faces.web import make_web_app
from watchkeeper.faces.webauth import SESSION_COOKIE
from watchkeeper.host import open_site
from watchkeeper.rules.door_service import Access
from watchkeeper.site.config import Person

identity = pytest.importorskip("watchkeeper.site.identity", reason="the console needs identity's tokens")
SCREENS = ("/console/", "/console/cameras/gate", "/console/cameras/store-2", "/console/room", "/console/footage",
           "/console/journal", "/console/journal?kind=retrieval&actor=li", "/console/reports", "/console/devices")


@pytest.fixture
async def demo(tmp_path: Path):
    await run_demo(tmp_path / "site", say=lambda line: None)
    app = open_site(tmp_path / "site" / "site.toml")
    Access(app).add_person("zhang", Person("audit", "Auditor Sun", ("auditor",)))
    tokens = {person: {"Authorization": "Bearer " + identity.issue_token(app, person, "test", "pages")}
              for person in ("li", "zhang", "audit")}
    client = TestClient(TestServer(make_web_app(app)))
    await client.start_server()
    yield app, client, tokens, tmp_path / "site"
    await client.close()
    app.close()


def forms(page: str) -> set[str]:
    return set(re.findall(r'<form method="post"[^>]*data-action="([^"]+)"', page))


def last_entry(app, actor: str) -> dict:
    row = app.store.conn.execute("SELECT subject, body FROM journal WHERE actor = ? ORDER BY seq DESC LIMIT 1",
                                 [actor]).fetchone()
    return {"subject": row[0], **json.loads(row[1])}


async def test_screens_per_role_and_downloads(demo) -> None:
    app, client, tokens, folder = demo
    for path in SCREENS:
        assert (await client.get(path, allow_redirects=False)).status in (302, 303), path  # no session: log in
        for person in tokens:
            answer = await client.get(path, headers=tokens[person])
            assert answer.status == 200, (path, person, await answer.text())
    # The auditor reads everything and is offered nothing to do; the operator no supervisor's act.
    for path in ("/console/", "/console/room", "/console/footage", "/console/journal", "/console/reports"):
        assert forms(await (await client.get(path, headers=tokens["audit"])).text()) == set(), path
    operator = set().union(*[forms(await (await client.get(p, headers=tokens["li"])).text()) for p in SCREENS])
    assert {"findings.acknowledge", "findings.note", "visitor.register", "footage.request", "report.generate"} <= operator
    assert not operator & {"findings.assign", "visitor.approve", "footage.hold", "review.sign"}
    supervisor = set().union(*[forms(await (await client.get(p, headers=tokens["zhang"])).text()) for p in SCREENS])
    assert {"findings.assign", "footage.hold", "review.sign", "report.generate"} <= supervisor

    # Pictures and charts of the appliance's own origin.
    for path in ("/api/cameras/gate/frames/reference", "/api/cameras/gate/frames/latest"):
        answer = await client.get(path, headers=tokens["li"])
        assert answer.status == 200 and (await answer.read())[:2] == b"\xff\xd8"
    for path in ("/console/cameras/car-park/charts/clock.png", "/console/cameras/store-2/charts/coverage.png"):
        answer = await client.get(path, headers=tokens["li"])
        assert answer.status == 200 and (await answer.read())[:4] == b"\x89PNG"

    # Diagnostics carry no secret: neither the devices' password nor the reader's key, for any device.
    secrets = [(folder / "secrets" / name).read_text().strip() for name in ("devices.pass", "reader.key")]
    devices = await (await client.get("/api/devices", headers=tokens["li"])).json()
    assert {d["id"] for d in devices} >= {"gate", "nvr", "room-door"}
    for device in devices:
        answer = await client.get(f"/api/devices/{device['id']}/diagnostics", headers=tokens["li"])
        text = await answer.text()
        assert answer.status == 200 and "attachment" in answer.headers["Content-Disposition"]
        assert not any(secret in text for secret in secrets), device["id"]
    assert json.loads(text)["config"]["scbk"] == "********"

    # An export: the manifest to anyone signed in, the clip only to who may view footage, journaled.
    manifest = await (await client.get("/api/footage/exports/1/manifest", headers=tokens["audit"])).json()
    assert (await client.get("/api/footage/exports/1/clip", headers=tokens["audit"])).status == 403
    assert last_entry(app, "audit")["refused"] == "footage.view"
    clip = await client.get("/api/footage/exports/1/clip", headers=tokens["li"])
    assert hashlib.sha256(await clip.read()).hexdigest() == manifest["files"][0]["sha256"]
    assert last_entry(app, "li") == {"subject": "export-1", "downloaded": 1, "file": manifest["files"][0]["name"],
                                     "proof": "api_token"}


    # Each person's page in their browser's language; the switch sends them back only within the console.
    chinese = await (await client.get("/console/room", headers={**tokens["li"], "Accept-Language": "zh-CN,zh;q=0.9"})).text()
    assert '<html lang="zh-CN">' in chinese and "监控室" in chinese
    english = await (await client.get("/console/room", headers={**tokens["li"], "Accept-Language": "en-US"})).text()
    assert '<html lang="en">' in english and "Monitoring room" in english
    switched = await client.get("/console/language?to=zh_CN&back=/console/devices", headers=tokens["li"],
                                allow_redirects=False)
    assert switched.status == 303 and switched.headers["Location"] == "/console/devices"
    assert "lang=zh_CN" in switched.headers["Set-Cookie"]
    away = await client.get("/console/language?to=en&back=//elsewhere.example/", headers=tokens["li"],
                            allow_redirects=False)
    assert away.headers["Location"] == "/console/"

async def test_report_generated_and_reviewed_through_the_api(demo) -> None:
    app, client, tokens, _folder = demo
    made = await client.post("/api/reports", json={"period": "week"}, headers=tokens["zhang"])
    result = (await made.json())["result"]
    assert made.status == 200 and last_entry(app, "zhang")["generated"] == result["report"]
    html = next(name for name in result["files"] if name.endswith(".html"))
    page = await client.get(f"/api/reports/{result['report']}/files/{html}", headers=tokens["li"])
    assert page.status == 200 and "<html" in await page.text()
    assert (await client.get(f"/api/reports/{result['report']}/files/other.html", headers=tokens["li"])).status == 404
    assert (await client.post("/api/reports", json={"period": "fortnight"}, headers=tokens["zhang"])).status == 400
    refused = await client.post("/api/reviews", json={"report": result["report"], "comments": "fine"},
                                headers=tokens["li"])
    assert refused.status == 403
    signed = await client.post("/api/reviews", headers=tokens["zhang"], json={
        "report": result["report"], "comments": "retrievals checked against their cases",
        "actions": ["refocus the gate camera"]})
    assert signed.status == 200
    reviews = (await (await client.get("/api/reports", headers=tokens["audit"])).json())["reviews"]
    assert reviews[0]["signed_by"] == "zhang" and reviews[0]["actions"] == ["refocus the gate camera"]


async def test_a_person_signed_in_logs_out_from_every_screen(demo) -> None:
    """The header offers Log out to a person with a session (not to an API token, which has none to end);
    the POST ends the session server-side, journaled, and the old cookie opens nothing afterwards."""
    app, client, tokens, _folder = demo
    assert 'id="logout"' not in await (await client.get("/console/", headers=tokens["li"])).text()
    async with logged_in(app, "li", web_app=make_web_app(app)) as browser:
        page = await (await browser.get("/console/room")).text()
        form = re.search(r'<form id="logout" method="post" action="/logout"[^>]*>'
                         r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page)
        assert form is not None, page
        cookie = next(c for c in browser.session.cookie_jar if c.key == SESSION_COOKIE).value
        assert (await browser.post("/logout", data={"ignored": "1"}, allow_redirects=False)).status == 403
        done = await browser.post("/logout", data={form.group(1): form.group(2)}, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/login"
        assert last_entry(app, "li")["logout"] == "web"
        browser.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
        assert (await browser.get("/console/", allow_redirects=False)).status in (302, 303)

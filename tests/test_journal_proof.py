"""A person's journal entries say how that person proved who they were (a password, their OS account,
a console session, an API token, or only the site's trust_actor policy); their console language follows them."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from tests.logins import csrf, logged_in, proven


def entries(site_file: Path, actor: str) -> list[dict]:
    app = open_site(site_file)
    try:
        return [json.loads(entry["body"]) for entry in app.journal.entries() if entry["actor"] == actor]
    finally:
        app.close()


def note(site_file: Path, *identity: str) -> None:
    result = CliRunner().invoke(make_cli(config=site_file), [
        "--config", str(site_file), "journal", "add", "--kind", "operation", "--subject", "site",
        "--text", "walked the room", *identity])
    assert result.exit_code == 0, result.output


def test_cli_entries_name_the_proof(site_file: Path) -> None:
    note(site_file, *proven(["--config", str(site_file), "--actor", "li"])[2:])
    assert entries(site_file, "li")[-1]["proof"] == "password"
    # The OS account mapped to a person is proof of its own.
    account = pwd.getpwuid(os.getuid()).pw_name
    site_file.write_text(site_file.read_text().replace('id = "zhang"', f'id = "zhang"\nos_user = "{account}"'))
    note(site_file)
    assert entries(site_file, "zhang")[-1]["proof"] == "os_user"
    # Taken on the policy's word: said so on the entry, besides the warning entry.
    site_file.write_text(site_file.read_text().replace("retention_days = 30", "retention_days = 30\ntrust_actor = true"))
    note(site_file, "--actor", "new-op")
    warning, written = entries(site_file, "new-op")[-2:]
    assert written["proof"] == "trust_actor" and "trust_actor" in warning["warning"]


def test_an_entry_about_someone_else_carries_no_proof(site_file: Path) -> None:
    note(site_file, *proven(["--config", str(site_file), "--actor", "li"])[2:])
    app = open_site(site_file)
    app.journal.append("operation", "zhang", "site", {"text": "written by the system for zhang"})
    app.close()
    assert "proof" not in entries(site_file, "zhang")[-1]


@pytest.mark.parametrize("token", [False, True], ids=["session", "api_token"])
async def test_console_entries_name_the_proof(site_file: Path, token: bool) -> None:
    app = open_site(site_file)
    async with logged_in(app, "li", token=token) as client:
        headers = {} if token else {"X-CSRF-Token": csrf(client, app)}
        response = await client.post("/api/journal", json={"kind": "operation", "subject": "site",
                                                           "text": "walked the room"}, headers=headers)
        assert response.status < 300, await response.text()
    written = [json.loads(e["body"]) for e in app.journal.entries() if e["actor"] == "li"][-1]
    assert written.get("text") == "walked the room" or "walked the room" in json.dumps(written)
    assert written["proof"] == ("api_token" if token else "session")
    app.close()


async def test_the_consoles_language_follows_the_person(site_file: Path) -> None:
    """Chosen on one workstation, brought back at the next login on another (and nobody else's)."""
    from aiohttp.test_utils import TestClient, TestServer

    from watchkeeper.faces.web import make_web_app
    from watchkeeper.site import identity
    from tests.logins import give_login, login

    app = open_site(site_file)
    async with logged_in(app, "li") as first:
        switched = await first.get("/console/language?to=zh_CN&back=/console/", allow_redirects=False)
        assert switched.status == 303
    assert identity.preferred_language(app, "li") == "zh_CN"
    give_login(app, "zhang")
    for person, expected in (("li", "zh_CN"), ("zhang", None)):
        async with TestClient(TestServer(make_web_app(app))) as second:  # a fresh browser: no cookies
            response = await login(second, person)
            cookie = response.cookies.get("lang")
            assert (cookie.value if cookie else None) == expected, person
            if expected:
                page = await (await second.get("/console/room")).text()
                assert '<html lang="zh-CN">' in page and "监控室" in page
    app.close()

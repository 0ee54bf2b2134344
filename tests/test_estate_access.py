"""Who may read the estate: its commands that show the sites' data ask a proven person with a role, as its
dashboard does, and say why not in the reader's language; a dashboard session ends at its logout button."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.logins import password_fd, shared_fd
from watchkeeper.faces.estate.config import load_estate
from watchkeeper.faces.estate.store import open_store
from tests.test_estate import cli, enrol, estate_admin, estate_journal, free_port, write_estate


def _commands(config: Path, out: Path) -> dict[str, list[object]]:
    return {"report": ["estate", "report", "--output", out, "--config", config],
            "heads": ["estate", "heads", "s1", "--config", config]}


def test_report_and_heads_need_a_proven_person_of_the_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_estate(tmp_path, free_port())
    admin = estate_admin(config)
    added = cli("estate", "people", "add", "vera", "--role", "viewer", "--reason", "regional auditor",
                "--new-password-fd", shared_fd(), "--config", config, *admin)
    assert added.exit_code == 0, added.output
    enrol(config, "s1")
    store = open_store(load_estate(config))  # a head the site pushed: what `heads` shows
    store.backend.execute("INSERT INTO heads (site, item, seq, hash, time, status) VALUES"
                          " ('s1', 1, 7, ?, '2026-11-30T08:00:00+00:00', 'first')", ["ab" * 32])
    store.close()
    out = tmp_path / "out"
    wrong = password_fd(tmp_path, "not her password")
    for name, args in _commands(config, out).items():
        nobody = cli(*args)
        assert nobody.exit_code == 2 and "say who you are with --actor" in nobody.output, (name, nobody.output)
        unproven = cli(*args, "--actor", "vera")  # no password, no terminal to ask it on
        assert unproven.exit_code == 1 and "refused:" in unproven.output, (name, unproven.output)
        assert "vera must prove who they are" in unproven.output
        guessed = cli(*args, "--actor", "vera", "--password-fd", wrong)
        assert guessed.exit_code == 1 and "refused:" in guessed.output, (name, guessed.output)
        stranger = cli(*args, "--actor", "mallory", "--password-fd", shared_fd())
        assert stranger.exit_code == 1 and "refused:" in stranger.output, (name, stranger.output)
        for refused in (nobody, unproven, guessed, stranger):
            assert refused.stdout == "" and "Traceback" not in refused.output
        assert name != "report" or not out.exists()  # nothing was written for them
        viewer = cli(*args, "--actor", "vera", "--password-fd", shared_fd())
        assert viewer.exit_code == 0, (name, viewer.output)
        administrator = cli(*args, *admin)
        assert administrator.exit_code == 0 and administrator.stdout == viewer.stdout, (name, administrator.output)
    assert "ab" * 32 in cli(*_commands(config, out)["heads"], *admin).stdout
    assert {p.suffix for p in out.iterdir()} == {".html", ".json"}
    # Each refusal is in the estate's journal: who tried, and why it failed.
    failed = [(e["subject"], e["body"].get("login_failed")) for e in estate_journal(config)
              if e["body"].get("login_failed")]
    assert failed.count(("vera", "no_proof")) == 2 and ("mallory", "unknown") in failed, failed

    # A person revoked reads nothing more, and a refusal reads in the reader's language.
    revoked = cli("estate", "people", "revoke", "vera", "--reason", "left the region", "--config", config, *admin)
    assert revoked.exit_code == 0, revoked.output
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    for args in _commands(config, out).values():
        gone = cli(*args, "--actor", "vera", "--password-fd", shared_fd())
        assert gone.exit_code == 1 and "已拒绝" in gone.output and "refused" not in gone.output, gone.output
        unproven = cli(*args, "--actor", "vera")
        assert unproven.exit_code == 1 and "已拒绝" in unproven.output and "必须证明身份" in unproven.output


async def test_the_dashboard_logs_out_with_its_token_and_the_session_ends_on_the_server(tmp_path: Path) -> None:
    import re

    import aiohttp

    from watchkeeper.faces.estate.server import start
    from watchkeeper.faces.webauth import CSRF_FIELD, SESSION_COOKIE
    from tests.test_estate import browser

    port = free_port()
    config = write_estate(tmp_path, port)
    admin = estate_admin(config)
    cli("estate", "people", "add", "vera", "--role", "viewer", "--reason", "r", "--new-password-fd", shared_fd(),
        "--config", config, *admin)
    enrol(config, "s1")
    store = open_store(load_estate(config))
    runner = await start(load_estate(config), store)
    base = f"http://127.0.0.1:{port}"
    try:
        async with browser(base, "vera") as viewer:
            session = next(c.value for c in viewer.cookie_jar if c.key == SESSION_COOKIE)
            for path in ("/", "/sites/s1"):  # every page shows who is signed in and the way out
                page = await (await viewer.get(path)).text()
                form = re.search(r'<form id="logout" method="post" action="/logout".*?</form>', page, re.S)
                assert form and 'data-person="vera"' in page, (path, page[:600])
            token = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.group(0)).group(1)
            # Another site's page cannot end the session: a POST without the token is refused.
            async with viewer.post("/logout", data={}, allow_redirects=False) as response:
                assert response.status == 403
            async with viewer.get("/", allow_redirects=False) as response:
                assert response.status == 200
            async with viewer.post("/logout", data={CSRF_FIELD: token}, allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"] == "/login"
            async with viewer.get("/", allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"].startswith("/login")
        # The session is over on the server, not only forgotten by the browser: its cookie, sent again, opens nothing.
        async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         cookies={SESSION_COOKIE: session}) as replay:
            async with replay.get("/", allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"].startswith("/login")
            async with replay.get("/api/v1/sites") as response:
                assert response.status == 401
    finally:
        await runner.cleanup()
        store.close()
    journal = estate_journal(config)
    refused = [e for e in journal if e["body"].get("refused") == "csrf"]
    assert [(e["actor"], e["subject"]) for e in refused] == [("vera", "/logout")]
    assert [(e["actor"], e["body"]) for e in journal if "logout" in e["body"]] == [
        ("vera", {"logout": "web", "proof": "session"})]
    assert cli("estate", "verify", "--config", config).exit_code == 0

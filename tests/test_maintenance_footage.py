"""R4 checklist ticks and overdue findings; R9 request and approval rules (exports are tested per vendor)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.site.app import Refused
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.faces.cli import make_cli
from watchkeeper.rules import maintenance
from watchkeeper.rules.footage import Footage
from tests.logins import proven

CAMERAS = """
[[cameras]]
id = "lobby"
platform = "nothing"
host = "127.0.0.1"
location = "Lobby"
purpose = "people entering"
zone = "inside"
"""


def test_overdue_tasks_open_and_close_findings(app, monkeypatch: pytest.MonkeyPatch) -> None:
    check = collect_checks(app.pm)["maintenance"]
    assert asyncio.run(run_check(app, check)).findings == []  # a site commissioned today owes nothing yet
    backdate_commissioning(monkeypatch, days=8)
    result = asyncio.run(run_check(app, check))
    assert sorted(f.subject for f in result.findings) == ["clean", "nothing-unrelated", "ventilation", "wipe"]
    for task in ("nothing-unrelated", "ventilation", "wipe"):
        maintenance.tick(app, "li", task, "done")
    clean = maintenance.tick(app, "li", "clean", "done")
    assert [f.subject for f in asyncio.run(run_check(app, check)).findings] == ["clean"]  # not countersigned yet
    with pytest.raises(Refused, match="may not maintenance.countersign"):
        maintenance.countersign(app, "li", clean)
    maintenance.countersign(app, "zhang", clean, "room checked")
    maintenance.tick(app, "li", "wipe", "again", at=datetime.now(timezone.utc) - timedelta(days=3))
    result = asyncio.run(run_check(app, check))
    assert result.findings == []
    assert app.store.conn.execute("SELECT count(*) FROM findings WHERE closed_at IS NULL").fetchone()[0] == 0
    ticks = [e for e in app.journal.entries(kind="maintenance") if "done" in json.loads(e["body"])]
    assert [(e["actor"], e["subject"]) for e in ticks][:4] == [
        ("li", "nothing-unrelated"), ("li", "ventilation"), ("li", "wipe"), ("li", "clean")]
    later = datetime.now(timezone.utc) + timedelta(days=2)
    overdue = [s.id for s in maintenance.states(app, later) if s.overdue]
    assert overdue == ["wipe", "ventilation", "nothing-unrelated"]


def backdate_commissioning(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """Pretend the site was commissioned `days` ago, without touching its journal."""
    from watchkeeper.site.app import App

    moment = datetime.now(timezone.utc) - timedelta(days=days)
    monkeypatch.setattr(App, "commissioned_at", lambda self: moment)


def test_tick_refuses_unknown_task_and_untrained_actor(app) -> None:
    with pytest.raises(KeyError, match="no maintenance task 'polish'"):
        maintenance.tick(app, "li", "polish")
    with pytest.raises(Refused):
        maintenance.tick(app, "stranger", "wipe")


@pytest.fixture
def camera_app(site_file: Path):
    from watchkeeper.host import open_site

    site_file.write_text(site_file.read_text().replace("[site]\n", '[site]\nplugins_dir = "plugins"\n') + CAMERAS)
    # `nothing` is a platform a test plugin folder registers, so the config validates.
    plugins = site_file.parent / "plugins"
    plugins.mkdir()
    (plugins / "nothing.py").write_text(
        "from watchkeeper import hookimpl\nfrom watchkeeper.devices.drivers import Platform\n\n"
        "@hookimpl\ndef register_platforms(register):\n    register(Platform(name='nothing', camera_driver=object))\n")
    app = open_site(site_file)
    yield app
    app.close()


def test_footage_request_needs_another_supervisor(camera_app) -> None:
    footage = Footage(camera_app)
    start = datetime(2026, 11, 27, 9, tzinfo=timezone.utc)
    request = footage.request("li", "lobby", start, start + timedelta(minutes=10), "theft report", "CASE-7")
    with pytest.raises(Refused, match="may not footage.approve"):
        footage.decide("li", request, approve=True)
    with pytest.raises(Refused, match="not approved"):
        asyncio.run(footage.export("li", request))
    footage.decide("zhang", request, approve=True)
    own = footage.request("zhang", "lobby", start, start + timedelta(minutes=5), "review", "")
    with pytest.raises(Refused, match="may not also approve"):
        footage.decide("zhang", own, approve=True)
    with pytest.raises(Refused, match="may not footage.request"):
        footage.request("new-op", "lobby", start, start + timedelta(minutes=5), "curious", "")
    bodies = [json.loads(e["body"]) for e in camera_app.journal.entries(kind="retrieval")]
    assert {"refused": "approve own request"} in bodies
    assert any(b.get("refused") == "footage.request" and b.get("plugin") == "watchkeeper.rules.policy"
               and b.get("reason", "").startswith("operator 'new-op' has no training") for b in bodies)
    assert any(b.get("decision") == "approved" for b in bodies)


def test_footage_cli_refusal_exit_code(camera_app, site_file: Path) -> None:
    runner, cli = CliRunner(), make_cli(config=site_file)
    base = ["--config", str(site_file), "footage"]
    filed = runner.invoke(cli, proven(base + ["request", "--camera", "lobby", "--from", "2026-11-27T09:00",
                                       "--to", "2026-11-27T09:10", "--reason", "incident", "--actor", "li"]))
    assert filed.exit_code == 0, filed.output
    refused = runner.invoke(cli, proven(base + ["approve", "1", "--actor", "li"]))
    assert refused.exit_code == 1 and "refused" in refused.output
    unknown = runner.invoke(cli, proven(base + ["request", "--camera", "nowhere", "--from", "2026-11-27T09:00",
                                         "--to", "2026-11-27T09:10", "--reason", "x", "--actor", "li"]))
    assert unknown.exit_code == 2 and "no camera 'nowhere'" in unknown.output

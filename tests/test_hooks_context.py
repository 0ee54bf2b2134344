"""Decision hooks with context: the two-person approval plugin from the docs, refusals with reasons, the trace."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchkeeper.host import load_plugins, open_site
from watchkeeper.host.trace import compact
from watchkeeper.rules.footage import Footage
from watchkeeper.site.app import App, Refused
from watchkeeper.site.config import load_site
from watchkeeper.site.context import ActionRequest, Refusal, SiteView
from watchkeeper.site.people import ConfigPeople

DOCS = Path(__file__).resolve().parents[1] / "docs"
SUPERVISORS = """
[[people]]
id = "wang"
name = "Wang Fang"
roles = ["supervisor"]

[[cameras]]
id = "lobby"
platform = "nothing"
host = "127.0.0.1"
location = "Lobby"
purpose = "people entering"
zone = "inside"
"""
NOTHING_PLATFORM = (
    "from watchkeeper import hookimpl\nfrom watchkeeper.devices.drivers import Platform\n\n"
    "@hookimpl\ndef register_platforms(register):\n    register(Platform(name='nothing', camera_driver=object))\n")


def doc_code_block(document: Path, heading: str) -> str:
    """The first ```python block under a heading of a docs page, exactly as a reader would copy it."""
    text = document.read_text(encoding="utf-8")
    section = text[text.index(f"## {heading}"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {heading!r} in {document.name}"
    return match.group(1)


@pytest.fixture
def two_person_app(site_file: Path):
    site_file.write_text(site_file.read_text().replace("[site]\n", '[site]\nplugins_dir = "plugins"\n') + SUPERVISORS)
    plugins = site_file.parent / "plugins"
    plugins.mkdir()
    (plugins / "nothing.py").write_text(NOTHING_PLATFORM)
    (plugins / "two_person.py").write_text(doc_code_block(DOCS / "site-plugins.md", "Two-person approval for exports"))
    app = open_site(site_file)
    yield app
    app.close()


def test_two_person_approval_plugin_from_the_docs_refuses_the_approver(two_person_app: App) -> None:
    footage = Footage(two_person_app)
    start = datetime(2026, 11, 27, 9, tzinfo=timezone.utc)
    request = footage.request("li", "lobby", start, start + timedelta(minutes=10), "theft report", "CASE-7")
    footage.decide("zhang", request, approve=True)

    with pytest.raises(Refused, match="zhang approved request-1; a second supervisor must export it") as caught:
        asyncio.run(footage.export("zhang", request))
    assert "site:two_person.py" in str(caught.value)
    with pytest.raises(Refused, match="exports need a supervisor"):
        asyncio.run(footage.export("li", request))
    # A second supervisor passes the plugin, which defers to the built-in policy, which allows it.
    assert two_person_app.authorize("wang", "footage.export", f"request-{request}") is True
    # Other actions are left to the built-in policy.
    assert two_person_app.authorize("zhang", "footage.view", "lobby") is True

    refusals = [(e["actor"], json.loads(e["body"])) for e in two_person_app.journal.entries(kind="retrieval")
                if "refused" in json.loads(e["body"])]
    assert ("zhang", {"refused": "footage.export", "reason": "zhang approved request-1; a second supervisor must "
                      "export it", "plugin": "site:two_person.py"}) in refusals
    assert ("li", {"refused": "footage.export", "reason": "exports need a supervisor",
                   "plugin": "site:two_person.py"}) in refusals


def test_the_request_carries_the_resource_history(two_person_app: App) -> None:
    footage = Footage(two_person_app)
    start = datetime(2026, 11, 27, 9, tzinfo=timezone.utc)
    request = footage.request("li", "lobby", start, start + timedelta(minutes=10), "theft report", "CASE-7")
    footage.decide("zhang", request, approve=True, note="ok")
    asked = ActionRequest("wang", "footage.export", f"request-{request}", two_person_app.view)
    assert [(entry.actor, sorted(entry.body)) for entry in asked.history] == [
        ("li", ["requested"]), ("zhang", ["decision", "note"])]
    assert asked.history[0].time.tzinfo is not None
    rows = two_person_app.view.rows("footage_requests", "id = ?", [request])
    assert rows[0]["decided_by"] == "zhang" and rows[0]["status"] == "approved"


def test_the_view_cannot_write(app: App) -> None:
    view = app.view
    before = len(view.journal())
    for statement in ("DELETE FROM journal", "INSERT INTO findings (kind) VALUES ('x')", "DROP TABLE findings"):
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only|attempt to write"):
            view.query(statement)
    with pytest.raises(ValueError, match="not a table name"):
        view.rows("journal; DROP TABLE journal")
    assert len(view.journal()) == before > 0
    assert view.journal(kind="config")[0].body["sha256"]


def test_refusals_are_signed_by_the_refusing_plugin(tmp_path: Path, site_file: Path) -> None:
    plugins = tmp_path / "site-plugins"
    plugins.mkdir()
    (plugins / "nope.py").write_text(
        "from watchkeeper import hookimpl\n\n@hookimpl\ndef authorize(actor, action, resource, site):\n"
        "    if action == 'footage.export':\n        return False\n"
        "    if action == 'journal.add':\n        return (False, 'journal is closed today')\n"
        "    if action == 'door.open':\n        return 'yes'\n")
    pm = load_plugins(plugins)
    site = load_site(site_file)
    view = SiteView(tmp_path / "absent.db")

    def ask(actor: str, action: str) -> object:
        return pm.hook.authorize(actor=actor, action=action, resource="cam", site=site, people=ConfigPeople(site),
                                 request=ActionRequest(actor, action, "cam", view))

    assert ask("li", "footage.export") == Refusal("", "site:nope.py")
    assert ask("li", "journal.add") == Refusal("journal is closed today", "site:nope.py")
    # An answer that is not an answer refuses rather than allows (a non-empty string is truthy).
    weird = ask("li", "door.open")
    assert isinstance(weird, Refusal) and not weird and "str" in weird.reason
    assert ask("li", "footage.view") is True
    refused = ask("new-op", "footage.view")
    assert isinstance(refused, Refusal) and refused.plugin == "watchkeeper.rules.policy"
    assert refused.reason.startswith("operator 'new-op' has no training")


def test_trace_prints_compact_arguments(site_file: Path) -> None:
    env = dict(os.environ, WATCHKEEPER_TRACE_PLUGINS="1")
    script = (f"from watchkeeper.host import open_site\napp = open_site({str(site_file)!r})\n"
              "app.authorize('li', 'footage.view', 'lobby')\napp.clock_tolerance('gate')\napp.close()\n")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("[watchkeeper hooks]")]
    authorize = next(line for line in lines if " authorize(" in line)
    assert "site=Site(name='Test site', time_zone='Asia/Shanghai'" in authorize
    assert "request=ActionRequest(actor='li', action='footage.view', resource='lobby')" in authorize
    assert "watchkeeper.rules.policy" in authorize
    assert any(line.endswith("authorize => True") for line in lines)
    assert any(line.endswith("clock_tolerance => 30.0") for line in lines)
    assert max(len(line) for line in lines) < 400, max(lines, key=len)
    assert "Person(" not in result.stderr and "cameras=" not in result.stderr  # never the whole Site


def test_compact_is_short_for_every_kind_of_value() -> None:
    assert compact("x" * 500).startswith("'xxx") and len(compact("x" * 500)) < 70
    assert compact(Refusal("because", "p")) == "Refusal(reason='because', plugin='p')"
    assert compact({"k": list(range(100))}) .count(",") < 10
    assert compact(compact) == "compact"

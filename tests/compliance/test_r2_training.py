"""R2: whatever an operator did in the period was done while trained."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.compliance.conftest import camera, seqs, verdict, write_site
from watchkeeper.host import load_plugins, open_site
from watchkeeper.rules.footage import Footage
from watchkeeper.site.app import Refused

START = datetime.now(timezone.utc) - timedelta(hours=3)
LAX = """
from watchkeeper import hookimpl


@hookimpl
def authorize(actor, action, resource, site):
    return True  # a careless site plugin: anyone may do anything
"""


def request(app, actor: str) -> int:
    return Footage(app).request(actor, "lobby", START, START + timedelta(minutes=5), "lost property", "CASE-1")


def test_met_when_trained_operators_operated(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, camera("lobby", 9)))
    try:
        with pytest.raises(Refused):
            request(app, "new-op")  # the built-in policy refuses the untrained operator, and journals it
        request(app, "li")
        result = verdict(app, "R2")
        assert (result["status"], result["rule"]) == ("met", "R2.kept")
        assert result["evidence"]["journal"] == seqs(app, "retrieval", key="requested")
    finally:
        app.close()


def test_not_met_when_an_untrained_operator_operated(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "lax.py").write_text(LAX)
    site = write_site(tmp_path, camera("lobby", 9))
    app = open_site(site, load_plugins(plugins))
    try:
        request(app, "li")
        untrained = request(app, "new-op")
        result = verdict(app, "R2")
        assert (result["status"], result["rule"]) == ("not met", "R2.untrained_act")
        seq = seqs(app, "retrieval", f"request-{untrained}")[0]
        assert seq in result["evidence"]["journal"] and f"journal entry {seq}: new-op" in result["reason"]
    finally:
        app.close()


def test_no_evidence_when_nobody_operated(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, camera("lobby", 9)))
    try:
        result = verdict(app, "R2")
        assert (result["status"], result["rule"], result["evidence"]) == ("no evidence", "R2.no_operation", {})
    finally:
        app.close()

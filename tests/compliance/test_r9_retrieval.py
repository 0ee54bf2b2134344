"""R9 (today's behaviour; device audit logs extend it): every copy from a request another person
entitled to approve approved; a period with no retrieval recorded shows nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.compliance.conftest import seqs, verdict, write_site, camera
from watchkeeper.host import load_plugins, open_site
from watchkeeper.rules.footage import Footage
from watchkeeper.site.app import Refused

START = datetime.now(timezone.utc) - timedelta(hours=2)
EXTRA_OPERATOR = """
[[people]]
id = "zhao"
name = "Zhao Lei"
roles = ["operator"]
trained_on = 2025-01-01
"""
LAX = """
from watchkeeper import hookimpl


@hookimpl
def authorize(actor, action, resource, site):
    if action == "footage.approve":
        return True  # a careless site plugin: any colleague may approve
"""


def test_met_when_a_supervisor_approved_the_request(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, camera("lobby", 9)))
    try:
        footage = Footage(app)
        request = footage.request("li", "lobby", START, START + timedelta(minutes=5), "theft report", "CASE-9")
        with pytest.raises(Refused):
            footage.decide("li", request, approve=True)
        footage.decide("zhang", request, approve=True, note="case opened by the police")
        result = verdict(app, "R9")
        assert (result["status"], result["rule"]) == ("met", "R9.kept")
        assert result["evidence"]["footage_requests"] == [request]
        assert set(seqs(app, "retrieval")) == set(result["evidence"]["journal"])
    finally:
        app.close()


async def test_not_met_when_a_copy_was_approved_by_someone_not_entitled(cameras, tmp_path: Path) -> None:
    app, devices = await cameras(1)
    site = app.site.source
    app.close()
    site.write_text(site.read_text() + EXTRA_OPERATOR)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "lax.py").write_text(LAX)
    app = open_site(site, load_plugins(plugins))
    try:
        footage = Footage(app)
        start = datetime.now(timezone.utc) - timedelta(days=1)
        request = footage.request("li", "cam-1", start, start + timedelta(seconds=10), "lost phone", "CASE-3")
        footage.decide("zhao", request, approve=True)  # an operator approving: only the lax plugin allows it
        export = (await footage.export("li", request))["export"]
        result = verdict(app, "R9")
        assert (result["status"], result["rule"]) == ("not met", "R9.unapproved_export")
        assert result["evidence"]["footage_exports"] == [export] and f"export {export}" in result["reason"]
    finally:
        app.close()


def test_no_evidence_without_any_retrieval_record(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, camera("lobby", 9)))
    try:
        result = verdict(app, "R9")
        assert (result["status"], result["rule"], result["evidence"]) == ("no evidence", "R9.no_retrieval_record", {})
    finally:
        app.close()

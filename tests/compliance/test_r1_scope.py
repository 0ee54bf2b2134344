"""R1: every camera's location, purpose and zone written down, and its current scope approved."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.compliance.conftest import seqs, verdict, write_site, camera
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from tests.logins import proven


def cli(site: Path, *args: str):
    return CliRunner().invoke(make_cli(config=site), proven(["--config", str(site), *args]))


def test_met_when_a_supervisor_approved_the_scope(tmp_path: Path) -> None:
    site = write_site(tmp_path, camera("lobby", 9))
    refused = cli(site, "scope", "approve", "--actor", "li")
    assert refused.exit_code == 1 and "refused" in refused.output
    approved = cli(site, "scope", "approve", "--actor", "zhang", "--note", "survey of 2026-03")
    assert approved.exit_code == 0 and "lobby" in approved.output, approved.output
    app = open_site(site)
    try:
        result = verdict(app, "R1")
        assert (result["status"], result["rule"]) == ("met", "R1.kept")
        approval = seqs(app, "config", "lobby", "scope_approved")
        assert approval and set(approval) | {seqs(app, "config", key="sha256")[0]} <= set(result["evidence"]["journal"])
        assert any(json.loads(e["body"]).get("refused") == "scope.approve"
                   and json.loads(e["body"]).get("plugin") == "watchkeeper.rules.policy"
                   for e in app.journal.entries("config"))
        assert "approved by zhang" in cli(site, "scope", "status").output
    finally:
        app.close()


def test_no_evidence_while_nobody_approved_the_scope(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, camera("lobby", 9)))
    try:
        result = verdict(app, "R1")
        assert (result["status"], result["rule"]) == ("no evidence", "R1.scope_unapproved")
        assert result["evidence"]["journal"] == seqs(app, "config", key="sha256")
    finally:
        app.close()


def test_not_met_when_a_scope_changes_without_approval(tmp_path: Path) -> None:
    site = write_site(tmp_path, camera("lobby", 9))
    assert cli(site, "scope", "approve", "--actor", "zhang").exit_code == 0
    site.write_text(site.read_text().replace('purpose = "people entering"', 'purpose = "staff time keeping"'))
    app = open_site(site)
    try:
        change = [json.loads(e["body"]) for e in app.journal.entries("config") if "scope_changes" in json.loads(e["body"])]
        assert change[-1]["scope_changes"] == [{"camera": "lobby",
                                               "before": {"location": "Main lobby", "purpose": "people entering", "zone": "public"},
                                               "after": {"location": "Main lobby", "purpose": "staff time keeping", "zone": "public"}}]
        result = verdict(app, "R1")
        assert (result["status"], result["rule"]) == ("not met", "R1.change_unapproved")
        assert seqs(app, "config", key="scope_changes")[-1] in result["evidence"]["journal"]
    finally:
        app.close()
    assert "NOT APPROVED" in cli(site, "scope", "status").output
    assert cli(site, "scope", "approve", "--actor", "zhang", "--camera", "lobby").exit_code == 0
    app = open_site(site)
    try:
        assert verdict(app, "R1")["status"] == "met"
    finally:
        app.close()


def test_config_check_refuses_placeholders(tmp_path: Path) -> None:
    for field, value in (("purpose", "TODO"), ("location", "待定"), ("zone", "-"), ("purpose", "  ")):
        site = write_site(tmp_path, camera("lobby", 9).replace(f'{field} = "', f'{field} = "{value}" #', 1))
        result = cli(site, "config", "check", str(site))
        assert result.exit_code == 2, (field, value, result.output)
        assert f"cameras[id=lobby].{field}" in result.output and ("placeholder" in result.output or "empty" in result.output)

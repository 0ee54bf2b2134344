"""R6: each site day has operation and inspection entries and the duty operator's signed summary."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from tests.compliance.conftest import backdate, seqs, verdict, write_site
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from tests.logins import proven


def cli(site: Path, *args: str):
    return CliRunner().invoke(make_cli(config=site), proven(["--config", str(site), *args]))


def test_met_when_the_day_is_journaled_and_closed(tmp_path: Path) -> None:
    site = write_site(tmp_path, "")
    assert cli(site, "journal", "add", "--kind", "inspection", "--text", "walked the room", "--actor", "li").exit_code == 0
    refused = cli(site, "journal", "close-day", "--summary", "quiet day", "--actor", "wang")
    assert refused.exit_code == 1 and "refused" in refused.output
    assert cli(site, "journal", "close-day", "--summary", "TBD", "--actor", "li").exit_code == 2
    closed = cli(site, "journal", "close-day", "--summary", "quiet day, no faults", "--actor", "li")
    assert closed.exit_code == 0, closed.output
    again = cli(site, "journal", "close-day", "--summary", "again", "--actor", "li")
    assert again.exit_code == 2 and "already closed by li" in again.output
    app = open_site(site)
    try:
        result = verdict(app, "R6")
        assert (result["status"], result["rule"]) == ("met", "R6.kept")
        summary = [e for e in app.journal.entries("operation") if "daily_summary" in json.loads(e["body"])]
        assert summary[0]["actor"] == "li"
        assert {summary[0]["seq"], seqs(app, "inspection")[0]} <= set(result["evidence"]["journal"])
    finally:
        app.close()
    table = cli(site, "journal", "show").output.splitlines()
    assert table[0].split()[:3] == ["seq", "time", "(site)"] and any("daily summary:" in line for line in table)  # the body, labelled
    lines = cli(site, "journal", "show", "--json").output.splitlines()
    assert json.loads(lines[-1])["body"]["daily_summary"]["text"] == "quiet day, no faults"


def test_no_evidence_when_a_day_was_not_closed(tmp_path: Path, monkeypatch) -> None:
    app = open_site(write_site(tmp_path, ""))
    try:
        backdate(monkeypatch, 3)
        yesterday = datetime.now(timezone.utc) - timedelta(days=1)
        app.journal.append("inspection", "li", "room", {"text": "walked the room"}, at=yesterday)
        result = verdict(app, "R6", "day", yesterday)
        assert (result["status"], result["rule"]) == ("no evidence", "R6.day_incomplete")
        assert "no operation entry" in result["reason"] and "not closed" in result["reason"]
    finally:
        app.close()


def test_not_met_when_the_journal_does_not_verify(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, ""))
    try:
        conn = sqlite3.connect(app.store.path)
        conn.execute("DROP TRIGGER journal_no_update")
        conn.execute("UPDATE journal SET actor = 'mallory' WHERE seq = 1")
        conn.commit()
        conn.close()
        result = verdict(app, "R6")
        assert (result["status"], result["rule"]) == ("not met", "R6.journal_broken") and "entry 1" in result["reason"]
    finally:
        app.close()

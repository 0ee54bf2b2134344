"""The compliance report: clause statuses from findings and evidence, JSON valid against its schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.report import build_report
from watchkeeper.faces.report_render import render_html
from watchkeeper.rules import maintenance

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "report-schema.json").read_text())


def statuses(report: dict) -> dict[str, str]:
    return {clause["clause"]: clause["status"] for clause in report["clauses"]}


def test_statuses_follow_findings_and_evidence(app, monkeypatch) -> None:
    from tests.test_maintenance_footage import backdate_commissioning

    backdate_commissioning(monkeypatch, days=8)
    asyncio.run(run_check(app, collect_checks(app.pm)["maintenance"]))
    report = build_report(app, "day")
    jsonschema.validate(report, SCHEMA)
    status = statuses(report)
    assert status["R4"] == "not met"  # nothing ticked yet: four overdue tasks
    r4 = next(c for c in report["clauses"] if c["clause"] == "R4")
    assert r4["rule"] == "R4.findings" and sorted(r4["evidence"]["findings"]) == sorted(r4["findings"])
    assert len(r4["findings"]) == 4
    assert status["R2"] == "no evidence"  # nobody operated the system: nothing shows trained operators did
    assert status["R5"] == "not due" and status["R7"] == "not due"  # no cameras: nothing to inspect or read
    assert {f["kind"] for f in report["findings"]} == {"maintenance_overdue"}
    for task in ("wipe", "ventilation", "nothing-unrelated", "clean"):
        maintenance.tick(app, "li", task)
    asyncio.run(run_check(app, collect_checks(app.pm)["maintenance"]))
    # Closed today, so the findings still belong to today's report; tomorrow's will be clean.
    assert statuses(build_report(app, "day"))["R4"] == "not met"


def test_broken_journal_makes_r6_not_met(app) -> None:
    import sqlite3

    conn = sqlite3.connect(app.store.path)
    conn.execute("DROP TRIGGER journal_no_update")
    conn.execute("UPDATE journal SET actor = 'mallory' WHERE seq = 1")
    conn.commit()
    conn.close()
    report = build_report(app, "week")
    assert statuses(report)["R6"] == "not met"
    assert report["evidence"]["R6"]["verification"]["first_bad_seq"] == 1
    assert "Journal BROKEN at entry" in render_html(report, app.site.zone)


def test_html_escapes_site_text(app) -> None:
    report = build_report(app, "day")
    report["site"]["name"] = "<script>alert(1)</script>"
    assert "<script>alert(1)" not in render_html(report, app.site.zone)


def test_report_cli_writes_files_and_journals_them(site_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(make_cli(config=site_file), ["--config", str(site_file), "report", "--period", "week",
                                                             "--format", "json", "--format", "html",
                                                             "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.output.split()]
    assert [p.suffix for p in paths] == [".json", ".html"]
    jsonschema.validate(json.loads(paths[0].read_text()), SCHEMA)
    from watchkeeper.host import open_site

    app = open_site(site_file)
    entry = [json.loads(e["body"]) for e in app.journal.entries(kind="operation") if e["subject"] == "report"][-1]
    app.close()
    assert entry["journal_head"]["hash"] and {f["name"] for f in entry["files"]} == {p.name for p in paths}

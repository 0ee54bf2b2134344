"""R10: a supervisor reads the period's report and signs a review with comments and actions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from tests.compliance.conftest import backdate, seqs, verdict, write_site
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.rules.runner import collect_checks, run_check
from tests.logins import proven


def cli(site: Path, *args: str):
    return CliRunner().invoke(make_cli(config=site), proven(["--config", str(site), *args]))


def test_no_evidence_until_a_review_is_signed_then_met(tmp_path: Path) -> None:
    site = write_site(tmp_path, "")
    app = open_site(site)
    try:
        result = verdict(app, "R10")
        assert (result["status"], result["rule"], result["evidence"]) == ("no evidence", "R10.no_review", {})
    finally:
        app.close()
    refused = cli(site, "review", "sign", "--actor", "li", "--comments", "fine")
    assert refused.exit_code == 1 and "refused" in refused.output
    assert cli(site, "review", "sign", "--actor", "zhang", "--comments", "TODO").exit_code == 2
    signed = cli(site, "review", "sign", "--actor", "zhang", "--period", "month", "--output", str(tmp_path / "out"),
                 "--comments", "footage use checked against the cases; rules kept",
                 "--action", "retrain the night shift on sign-off", "--action", "replace the gate camera")
    assert signed.exit_code == 0, signed.output
    assert any(Path(line).suffix == ".json" for line in signed.output.split())
    app = open_site(site)
    try:
        result = verdict(app, "R10")
        assert (result["status"], result["rule"]) == ("met", "R10.kept")
        review = app.store.db["reviews"].get(1)
        assert result["evidence"]["reviews"] == [1]
        assert {review["report_seq"], *seqs(app, "operation", "review-1")} == set(result["evidence"]["journal"])
        assert json.loads(review["actions"]) == ["retrain the night shift on sign-off", "replace the gate camera"]
    finally:
        app.close()
    assert "replace the gate camera" in cli(site, "review", "list").output


def test_not_met_when_the_review_is_overdue(plain_site, monkeypatch) -> None:
    app = plain_site
    backdate(monkeypatch, 31)
    asyncio.run(run_check(app, collect_checks(app.pm)["review"]))
    result = verdict(app, "R10")
    assert (result["status"], result["rule"]) == ("not met", "R10.findings") and "review_overdue" in result["reason"]
    assert len(result["evidence"]["findings"]) == 1

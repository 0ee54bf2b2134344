"""R5 (today's behaviour; the duty roster extends it): a signed inspection before every shift."""

from __future__ import annotations

from pathlib import Path

from tests.compliance.conftest import backdate, camera, verdict, write_site
from watchkeeper.host import open_site
from watchkeeper.rules import inspection
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile


async def test_met_with_a_signed_run(cameras) -> None:
    app, _devices = await cameras(1)
    run = (await run_check(app, collect_checks(app.pm)["inspection"], "li", playback=False)).summary["run"]
    inspection.sign(app, "li", run, "all clear")
    result = verdict(app, "R5")
    assert (result["status"], result["rule"]) == ("met", "R5.kept")
    assert result["evidence"]["inspection_runs"] == [run]


async def test_not_met_when_the_inspection_finds_a_fault(cameras) -> None:
    app, devices = await cameras(2)
    devices[1].set_faults(FaultProfile(wrong_password=True))
    run = (await run_check(app, collect_checks(app.pm)["inspection"], "li", playback=False)).summary["run"]
    inspection.sign(app, "li", run, "cam-2 refuses the password: reported to Zhang",
                    fault_notes={"cam-2": ("checked the password in the config", "zhang")})
    result = verdict(app, "R5")
    assert (result["status"], result["rule"]) == ("not met", "R5.findings") and "auth_failed" in result["reason"]
    assert result["evidence"]["inspection_runs"] == [run] and len(result["findings"]) == 1


def test_no_evidence_when_shifts_passed_without_a_signed_run(tmp_path: Path, monkeypatch) -> None:
    app = open_site(write_site(tmp_path, camera("lobby", 9)))
    try:
        backdate(monkeypatch, 2)
        result = verdict(app, "R5", "week")
        assert (result["status"], result["rule"]) == ("no evidence", "R5.shift_unsigned")
        assert "no signed inspection before the shift of" in result["reason"]
    finally:
        app.close()

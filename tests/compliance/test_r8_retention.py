"""R8: each camera's recordings searched for the period's days, without gaps, on healthy disks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.compliance.conftest import verdict
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile


async def retention(app) -> None:
    await run_check(app, collect_checks(app.pm)["retention"])


def today(app) -> str:
    return datetime.now(timezone.utc).astimezone(app.site.zone).date().isoformat()


async def test_met_when_every_camera_recorded_without_loss(cameras) -> None:
    app, _devices = await cameras(2)
    await retention(app)
    result = verdict(app, "R8")
    assert (result["status"], result["rule"]) == ("met", "R8.kept")
    assert {f"cam-1/{today(app)}", f"cam-2/{today(app)}"} <= set(result["evidence"]["coverage"])
    assert result["evidence"]["disks"]


async def test_not_met_when_a_recording_has_a_gap(cameras) -> None:
    app, devices = await cameras(1)
    now = datetime.now(timezone.utc)
    devices[0].set_faults(FaultProfile(gaps=((now - timedelta(hours=3), now - timedelta(hours=2)),)))
    await retention(app)
    result = verdict(app, "R8")
    assert (result["status"], result["rule"]) == ("not met", "R8.findings") and "recording_gap" in result["reason"]
    assert result["evidence"]["gaps"] == [row["id"] for row in app.store.db["gaps"].rows]


async def test_no_evidence_when_a_camera_cannot_be_read(cameras) -> None:
    app, devices = await cameras(2)
    devices[1].set_faults(FaultProfile(wrong_password=True))
    await retention(app)
    result = verdict(app, "R8")
    assert (result["status"], result["rule"]) == ("no evidence", "R8.unreadable")
    assert "cam-2" in result["reason"] and "auth_failed" in result["reason"]
    assert all(item.startswith("cam-1/") for item in result["evidence"]["coverage"])


async def test_no_evidence_when_a_camera_s_check_failed_inside_watchkeeper(cameras, monkeypatch) -> None:
    """A bug that cost one device its check is that device's check_failed finding (issue 13, item 4):
    nothing was learnt about it, so R8 has no evidence rather than a verdict."""
    from watchkeeper.rules import retention as rule

    def broken_merge(segments):
        raise TypeError("a bug in the coverage code")

    app, _devices = await cameras(1)
    monkeypatch.setattr(rule, "merge", broken_merge)
    await retention(app)
    result = verdict(app, "R8")
    assert (result["status"], result["rule"]) == ("no evidence", "R8.unreadable")
    assert "check_failed" in result["reason"]

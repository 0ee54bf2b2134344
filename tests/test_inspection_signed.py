"""R5 accountability: a shift with no signed inspection is a finding; shifts before commissioning are not."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.rules import duty
from watchkeeper.rules.inspection import sign
from tests.test_maintenance_footage import backdate_commissioning


def test_unsigned_shifts_are_findings_until_signed(app, monkeypatch: pytest.MonkeyPatch) -> None:
    check = collect_checks(app.pm)["inspection_signed"]
    assert asyncio.run(run_check(app, check)).findings == []  # commissioned just now: nothing was due
    backdate_commissioning(monkeypatch, days=3)
    found = asyncio.run(run_check(app, check)).findings
    assert found and all(f.kind == "inspection_unsigned" and f.subject.startswith("shift ") for f in found)
    assert all(f.reason.endswith("on duty: nobody was rostered") for f in found)
    # Sign a run started within the window of every one of those shifts: the findings close.
    zone = app.site.zone
    for finding in found:
        shift = datetime.strptime(finding.subject[6:], "%Y-%m-%d %H:%M").replace(tzinfo=zone)
        duty.set_roster(app, "zhang", shift.date(), f"{shift:%H:%M}", ["li"])
        run = app.store.db["inspection_runs"].insert({
            "started_at": (shift - timedelta(minutes=30)).astimezone(timezone.utc).isoformat(),
            "finished_at": shift.astimezone(timezone.utc).isoformat(), "actor": "li", "cameras": 0,
            "ok": 0, "warning": 0, "fault": 0}).last_pk
        sign(app, "li", run)
    assert asyncio.run(run_check(app, check)).findings == []
    assert app.store.conn.execute("SELECT count(*) FROM findings WHERE closed_at IS NULL").fetchone()[0] == 0


def test_untrained_operator_cannot_sign(app) -> None:
    from watchkeeper.site.app import Refused

    run = app.store.db["inspection_runs"].insert({"started_at": datetime.now(timezone.utc).isoformat(),
                                                  "finished_at": datetime.now(timezone.utc).isoformat(),
                                                  "cameras": 0}).last_pk
    shift = duty.shift_for(app, datetime.now(timezone.utc)).astimezone(app.site.zone)
    duty.set_roster(app, "zhang", shift.date(), f"{shift:%H:%M}", ["li", "new-op"])
    with pytest.raises(Refused):
        sign(app, "new-op", run)
    assert sign(app, "li", run) == run
    with pytest.raises(ValueError, match="already signed"):
        sign(app, "li", run)

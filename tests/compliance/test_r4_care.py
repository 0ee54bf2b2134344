"""R4: the regulation's checklist ticked by whoever did each task; the weekly clean countersigned."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta, timezone

import pytest

from tests.compliance.conftest import backdate, verdict
from watchkeeper.rules import maintenance
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.site.app import Refused

DAILY = ("wipe", "ventilation", "nothing-unrelated")


def last_full_week(app) -> tuple[datetime, datetime]:
    """Monday 00:00 of the last whole site-local week, and that Sunday at noon."""
    today = datetime.now(timezone.utc).astimezone(app.site.zone).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return (datetime.combine(monday, time(), tzinfo=app.site.zone),
            datetime.combine(monday + timedelta(days=6), time(12), tzinfo=app.site.zone))


def tick_week(app, monday: datetime, countersigned: bool) -> list[int]:
    ticks = [maintenance.tick(app, "li", task, "done", at=monday + timedelta(days=day, hours=9))
             for day in range(7) for task in DAILY]
    clean = maintenance.tick(app, "wang", "clean", "big clean", at=monday + timedelta(days=2, hours=15))
    with pytest.raises(Refused, match="may not maintenance.countersign"):
        maintenance.countersign(app, "wang", clean)
    if countersigned:
        maintenance.countersign(app, "zhang", clean, "checked", at=monday + timedelta(days=2, hours=17))
    return ticks + [clean]


def test_met_when_every_task_was_ticked_when_due(plain_site, monkeypatch) -> None:
    app = plain_site
    monday, sunday = last_full_week(app)
    backdate(monkeypatch, (datetime.now(timezone.utc) - monday).days + 1)
    ticks = tick_week(app, monday, countersigned=True)
    result = verdict(app, "R4", "week", sunday)
    assert (result["status"], result["rule"]) == ("met", "R4.kept")
    assert result["evidence"]["maintenance_ticks"] == ticks


def test_no_evidence_when_the_weekly_clean_is_not_countersigned(plain_site, monkeypatch) -> None:
    app = plain_site
    monday, sunday = last_full_week(app)
    backdate(monkeypatch, (datetime.now(timezone.utc) - monday).days + 1)
    ticks = tick_week(app, monday, countersigned=False)
    result = verdict(app, "R4", "week", sunday)
    assert (result["status"], result["rule"]) == ("no evidence", "R4.slot_without_tick")
    assert "clean" in result["reason"] and "not countersigned" in result["reason"]
    assert result["evidence"]["maintenance_ticks"] == ticks[:-1]


def test_no_evidence_when_a_day_went_unticked(plain_site, monkeypatch) -> None:
    app = plain_site
    backdate(monkeypatch, 3)
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    maintenance.tick(app, "li", "wipe", at=yesterday)
    result = verdict(app, "R4", "day", yesterday)
    assert (result["status"], result["rule"]) == ("no evidence", "R4.slot_without_tick")
    assert "ventilation" in result["reason"] and "nothing-unrelated" in result["reason"]


def test_not_met_when_tasks_are_overdue(plain_site, monkeypatch) -> None:
    app = plain_site
    backdate(monkeypatch, 8)
    asyncio.run(run_check(app, collect_checks(app.pm)["maintenance"]))
    result = verdict(app, "R4")
    assert (result["status"], result["rule"]) == ("not met", "R4.findings")
    kinds = {row["kind"] for row in app.store.db["findings"].rows}
    assert kinds == {"maintenance_overdue"} and len(result["evidence"]["findings"]) == 4

"""R5 duty and handover: roster, who may sign, a note per fault, handover signed by both, missed shifts at
any age naming the operators, escalation of old faults; findings have owners. Checked in the store."""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.test_maintenance_footage import backdate_commissioning
from watchkeeper import hookimpl
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.rules import duty, inspection, ownership
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile, ImageFault
from watchkeeper.site.app import Refused
from watchkeeper.site.config import ConfigError, load_site
from tests.logins import proven

PASSWORD = "duty-Pass-2026"
PEOPLE = """
[[people]]
id = "li"
name = "Li Wei"
roles = ["operator"]
trained_on = 2025-03-01
[[people]]
id = "wang"
name = "Wang Fang"
roles = ["operator"]
trained_on = 2025-03-01
[[people]]
id = "zhang"
name = "Zhang Min"
roles = ["supervisor"]
trained_on = 2024-09-01
[[people]]
id = "sun"
name = "Sun Li"
roles = ["maintenance"]
"""
#: Li has the day shift every day; Wang the night shift on weekdays, Li at weekends.
ROSTER = """
[[duty]]
shift = "08:00"
operators = ["li"]
[[duty]]
shift = "20:00"
operators = ["wang"]
days = ["mon", "tue", "wed", "thu", "fri"]
[[duty]]
shift = "20:00"
operators = ["li"]
days = ["sat", "sun"]
"""


def write_site(folder: Path, cameras: str = "", roster: str = ROSTER) -> Path:
    path = folder / "site.toml"
    path.write_text(textwrap.dedent("""\
        [site]
        name = "Duty"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = 2
        frame_interval_seconds = 0.05
        escalate_after_hours = 24
        """) + PEOPLE + roster + cameras, encoding="utf-8")
    return path


@pytest.fixture
def app(tmp_path: Path):
    opened = open_site(write_site(tmp_path))
    yield opened
    opened.close()


def journal(app, subject: str) -> list[dict]:
    return [json.loads(row[0]) for row in app.store.conn.execute(
        "SELECT body FROM journal WHERE subject = ? ORDER BY seq", [subject])]


def check(app, name: str) -> list[Finding]:
    return asyncio.run(run_check(app, collect_checks(app.pm)[name])).findings


def open_rows(app, kind: str) -> list[dict]:
    return list(app.store.db["findings"].rows_where("kind = ? AND closed_at IS NULL", [kind], order_by="id"))


def test_roster_comes_from_config_by_weekday_and_the_store_overrides_it(app) -> None:
    monday, saturday = date(2026, 11, 30), date(2026, 12, 5)
    assert duty.on_duty(app, duty.shift_start(app, monday, "08:00")) == ("li",)
    assert duty.on_duty(app, duty.shift_start(app, monday, "20:00")) == ("wang",)
    assert duty.on_duty(app, duty.shift_start(app, saturday, "20:00")) == ("li",)
    with pytest.raises(Refused):
        duty.set_roster(app, "li", monday, "20:00", ["li"])  # an operator cannot roster themselves
    refusal = journal(app, "shift 2026-11-30 20:00")[-1]
    assert refusal["refused"] == "duty.roster" and refusal["plugin"] == "watchkeeper.rules.policy"
    with pytest.raises(Refused, match="neither an operator nor a supervisor"):
        duty.set_roster(app, "zhang", monday, "20:00", ["sun"])
    with pytest.raises(ValueError, match="not a shift start"):
        duty.set_roster(app, "zhang", monday, "09:00", ["li"])
    duty.set_roster(app, "zhang", monday, "20:00", ["li", "zhang"], "Wang on leave")
    assert duty.on_duty(app, duty.shift_start(app, monday, "20:00")) == ("li", "zhang")
    assert duty.on_duty(app, duty.shift_start(app, date(2026, 12, 1), "20:00")) == ("wang",)  # only that shift
    assert journal(app, "shift 2026-11-30 20:00")[-1] == {"roster": ["li", "zhang"], "note": "Wang on leave"}


def test_roster_errors_in_the_config_name_the_key(tmp_path: Path) -> None:
    bad = '[[duty]]\nshift = "09:00"\noperators = ["li"]\n[[duty]]\nshift = "08:00"\noperators = ["ghost", "sun"]\n' \
          '[[duty]]\nshift = "20:00"\noperators = []\ndays = ["someday"]\n'
    with pytest.raises(ConfigError) as caught:
        load_site(write_site(tmp_path, roster=bad))
    problems = {p.path: p.reason for p in caught.value.problems}
    assert problems["duty[0].shift"].startswith("'09:00' is not one of policies.inspection_times")
    assert problems["duty[1].operators[0]"] == "no person with id 'ghost'"
    assert problems["duty[1].operators[1]"] == "'sun' is neither an operator nor a supervisor"
    assert problems["duty[2].operators"].startswith("names nobody")
    assert "someday" in problems["duty[2].days[0]"]


CAMERA = """
[[cameras]]
id = "{id}"
location = "Site {id}"
purpose = "test"
zone = "z"
platform = "hikvision"
host = "127.0.0.1"
port = {port}
username = "admin"
password = "env:WK_SIM_PASSWORD"
timeout_seconds = 3
"""


async def test_signing_needs_the_operator_on_duty_every_camera_and_a_note_per_fault(tmp_path, monkeypatch) -> None:
    """Over simulated cameras: one blurred, one healthy; every refusal is journaled with its reason."""
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with hikvision(password=PASSWORD, devices=2) as (blurred, healthy):
        blurred.set_faults(FaultProfile(image=[ImageFault.BLUR]))
        cameras = CAMERA.format(id="gate", port=blurred.endpoint.port) + CAMERA.format(id="hall",
                                                                                      port=healthy.endpoint.port)
        app = open_site(write_site(tmp_path, cameras))
        try:
            checks = collect_checks(app.pm)
            start = duty.shift_for(app, datetime.now(timezone.utc))
            on, off = duty.on_duty(app, start)[0], "zhang"
            duty.set_roster(app, "zhang", start.astimezone(app.site.zone).date(),
                            f"{start.astimezone(app.site.zone):%H:%M}", [on])
            partial = (await run_check(app, checks["inspection"], on, frozenset({"hall"}), playback=False)).summary["run"]
            with pytest.raises(Refused, match="did not inspect every camera in scope: gate missing"):
                inspection.sign(app, on, partial)
            run = (await run_check(app, checks["inspection"], on, playback=False)).summary["run"]
            assert app.store.db["inspection_results"].get(1)["run"] == partial
            with pytest.raises(Refused, match=f"{off} is not on duty"):
                inspection.sign(app, off, run)
            with pytest.raises(Refused, match="every fault needs a note .*: gate"):
                inspection.sign(app, on, run, "all seen")
            with pytest.raises(Refused, match="every fault needs a note"):
                inspection.sign(app, on, run, fault_notes={"gate": ("cleaned the lens", " ")})
            with pytest.raises(ValueError, match="no fault in run .* for hall"):
                inspection.sign(app, on, run, fault_notes={"gate": ("a", "b"), "hall": ("a", "b")})
            assert app.store.db["inspection_runs"].get(run)["signed_by"] is None
            refusals = [body for body in journal(app, f"run-{run}") if "refused" in body]
            note_needed = "every fault needs a note of what was done and to whom it was reported: gate"
            assert [b["reason"] for b in refusals] == [
                f"{off} is not on duty for the shift of {duty.shift_label(app, start)} (on duty: {on})",
                note_needed, note_needed]
            assert inspection.sign(app, on, run, "day shift", {"gate": ("cleaned the lens", "zhang")}) == run
            notes = list(app.store.db["inspection_fault_notes"].rows_where("run = ?", [run]))
            assert [(n["camera"], n["action"], n["reported_to"], n["noted_by"]) for n in notes] == [
                ("gate", "cleaned the lens", "zhang", on)]
            signed = journal(app, f"run-{run}")[-1]
            assert signed["fault_notes"] == {"gate": {"action": "cleaned the lens", "reported_to": "zhang"}}
            assert signed["shift"] == duty.shift_label(app, start)
        finally:
            app.close()


def test_missed_shifts_are_found_at_any_age_and_name_the_operators(app, monkeypatch) -> None:
    backdate_commissioning(monkeypatch, days=10)
    found = check(app, "inspection_signed")
    assert len(found) >= 19  # two shifts a day, ten days back, not only yesterday's
    oldest = min(found, key=lambda f: f.subject)
    assert datetime.now(app.site.zone) - datetime.strptime(oldest.subject[6:], "%Y-%m-%d %H:%M").replace(
        tzinfo=app.site.zone) > timedelta(days=9)
    for finding in found:
        start = datetime.fromisoformat(finding.details["shift"])
        names = duty.on_duty(app, start)
        assert finding.details["on_duty"] == list(names) and finding.reason.endswith(f"on duty: {', '.join(names)}")
    assert {tuple(f.details["on_duty"]) for f in found} == {("li",), ("wang",)}
    # A supervisor disposes of one with a reason: it stays closed, the others stay open.
    row = open_rows(app, "inspection_unsigned")[0]
    with pytest.raises(Refused):
        ownership.close(app, "li", row["id"], "I was ill")  # not the operator's own call
    with pytest.raises(Refused, match="needs a reason"):
        ownership.close(app, "zhang", row["id"], "  ")
    ownership.close(app, "zhang", row["id"], "site closed for the holiday; confirmed with the owner")
    check(app, "inspection_signed")
    assert app.finding_store().get(row["id"])["closed_at"] is not None
    assert row["subject"] not in {r["subject"] for r in open_rows(app, "inspection_unsigned")}
    assert len(open_rows(app, "inspection_unsigned")) == len(found) - 1
    assert journal(app, f"finding-{row['id']}")[-1]["reason"] == "site closed for the holiday; confirmed with the owner"


def test_handover_is_signed_by_both_and_missing_ones_name_both_sides(app, monkeypatch) -> None:
    backdate_commissioning(monkeypatch, days=8)  # a week always holds a weekday night Wang hands to Li
    missing = check(app, "handover")
    assert missing and all(f.kind == "handover_missing" for f in missing)
    by_subject = {f.subject: f for f in missing}
    # Pick the latest change of shift where Wang hands over to Li (a weekday night to the next day shift).
    target = max((f for f in missing if f.details["outgoing"] == ["wang"]), key=lambda f: f.subject)
    boundary = datetime.fromisoformat(target.details["shift"])
    assert target.reason == "no handover signed by both sides: wang to li"
    app.finding_store().record(Finding(FindingKind.BLURRED, "gate", "out of focus"))
    moment = boundary - timedelta(minutes=10)
    with pytest.raises(Refused, match="li is not on duty for the shift ending"):
        duty.hand_over(app, "li", "wang", now=moment)
    with pytest.raises(Refused, match="zhang is not on duty for the shift starting"):
        duty.hand_over(app, "wang", "zhang", now=moment)
    handover = duty.hand_over(app, "wang", "li", "gate camera blurred, reported", now=moment)
    listed = json.loads(app.store.db["handovers"].get(handover)["open_findings"])
    assert [(f["kind"], f["subject"]) for f in listed if f["kind"] == "blurred"] == [("blurred", "gate")]
    assert f"handover {duty.shift_label(app, boundary)}" in by_subject
    still = {f.subject for f in check(app, "handover")}
    assert target.subject in still  # one signature is not a handover
    with pytest.raises(Refused, match="only they can countersign"):
        duty.accept(app, "zhang", handover)
    duty.accept(app, "li", handover, "taken over")
    assert target.subject not in {f.subject for f in check(app, "handover")}
    with pytest.raises(ValueError, match="already countersigned"):
        duty.accept(app, "li", handover)
    bodies = journal(app, f"handover-{handover}")
    assert bodies[0]["handover"]["to"] == "li" and bodies[-1] == {"handover_accepted": handover, "note": "taken over"}


class Notifier:
    """A site plugin that forwards findings, as a pager or mail gateway would."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []

    @hookimpl
    def on_finding(self, finding: Finding, site, opened: bool) -> None:
        self.seen.append((str(finding.kind), finding.subject, opened))


def test_faults_left_open_escalate_to_the_supervisors_through_on_finding(app) -> None:
    notifier = Notifier()
    app.pm.register(notifier)
    store = app.finding_store()
    old = datetime.now(timezone.utc) - timedelta(hours=30)
    store.record(Finding(FindingKind.BLURRED, "gate", "out of focus", observed_at=old))
    store.record(Finding(FindingKind.NOISY, "hall", "noisy", observed_at=old))  # a warning does not escalate
    store.record(Finding(FindingKind.TOO_DARK, "stairs", "dark"))  # a fresh fault does not either
    gate = open_rows(app, "blurred")[0]["id"]
    ownership.assign(app, "zhang", gate, "li", "refocus tomorrow")
    found = check(app, "escalation")
    assert [(f.subject, f.details["kind"], f.details["owner"], f.details["supervisors"]) for f in found] == [
        (f"finding-{gate}", "blurred", "li", ["zhang"])]
    assert "escalated to zhang" in found[0].reason and found[0].measured >= 30
    assert ("fault_escalated", f"finding-{gate}", True) in notifier.seen
    assert ownership.state(app, gate)["escalated_to"] == "zhang"
    check(app, "escalation")
    assert len(open_rows(app, "fault_escalated")) == 1  # escalated once, not every hour
    store.close(FindingKind.BLURRED, "gate")  # the camera was fixed: the next check closes the escalation
    check(app, "escalation")
    assert open_rows(app, "fault_escalated") == []
    assert ("fault_escalated", f"finding-{gate}", False) in notifier.seen


def test_findings_have_owners_and_every_act_is_authorised_and_journaled(app) -> None:
    store = app.finding_store()
    store.record(Finding(FindingKind.BLURRED, "gate", "out of focus"))
    store.record(Finding(FindingKind.MAINTENANCE_OVERDUE, "wipe", "overdue"))
    device, process = open_rows(app, "blurred")[0]["id"], open_rows(app, "maintenance_overdue")[0]["id"]
    ownership.acknowledge(app, "li", device, "looking at it")
    with pytest.raises(Refused):
        ownership.assign(app, "li", device, "li")  # only a supervisor assigns
    with pytest.raises(KeyError):
        ownership.assign(app, "zhang", device, "ghost")
    ownership.assign(app, "zhang", device, "sun", "maintenance refocuses it")
    with pytest.raises(ValueError, match="needs text"):
        ownership.fix_note(app, "sun", device, " ")
    ownership.fix_note(app, "sun", device, "lens refocused; reported to zhang")
    state = ownership.state(app, device)
    assert (state["acknowledged_by"], state["assignee"], state["notes"][0]["note"]) == (
        "li", "sun", "lens refocused; reported to zhang")
    with pytest.raises(Refused, match="device finding"):
        ownership.close(app, "zhang", device, "fixed")  # the next inspection closes it, not a person
    with pytest.raises(Refused):
        ownership.close(app, "sun", process, "wiped")
    ownership.close(app, "zhang", process, "room wiped late; reminded the shift")
    with pytest.raises(ValueError, match="already closed"):
        ownership.acknowledge(app, "li", process)
    bodies = journal(app, f"finding-{device}")
    assert [b.get("act", "refused" if "refused" in b else None) for b in bodies] == [
        "acknowledged", "refused", "assigned", "note", "refused"]
    assert bodies[2]["assignee"] == "sun" and bodies[3]["note"] == "lens refocused; reported to zhang"
    assert journal(app, f"finding-{process}")[-1]["act"] == "closed"


def test_the_commands(tmp_path: Path) -> None:
    site = write_site(tmp_path)

    def run(*args: str):
        return CliRunner().invoke(make_cli(config=site), proven(["--config", str(site), *args]))

    shown = run("duty", "show", "--from", "2026-11-30", "--days", "1", "--json")
    assert json.loads(shown.output) == [{"shift": "2026-11-30 08:00", "on_duty": ["li"]},
                                        {"shift": "2026-11-30 20:00", "on_duty": ["wang"]}]
    refused = run("duty", "set", "--date", "2026-11-30", "--shift", "20:00", "--operator", "li", "--actor", "li")
    assert refused.exit_code == 1 and "refused" in refused.output
    done = run("duty", "set", "--date", "2026-11-30", "--shift", "20:00", "--operator", "li", "--days", "2",
               "--actor", "zhang")
    assert done.exit_code == 0 and "2026-12-01 20:00: li on duty" in done.output
    bad = run("duty", "accept", "99", "--actor", "li")
    assert bad.exit_code == 2 and "no handover 99" in bad.output and "Traceback" not in bad.output
    app = open_site(site)
    try:
        app.finding_store().record(Finding(FindingKind.MAINTENANCE_OVERDUE, "wipe", "overdue"))
    finally:
        app.close()
    assert run("findings", "ack", "1", "--actor", "li").exit_code == 0
    listed = json.loads(run("findings", "list", "--json").output)
    assert listed[0]["acknowledged_by"] == "li"
    closing = run("findings", "close", "1", "--reason", "", "--actor", "zhang")
    assert closing.exit_code == 1 and "needs a reason" in closing.output
    assert run("findings", "close", "1", "--reason", "wiped", "--actor", "zhang").exit_code == 0
    assert json.loads(run("findings", "list", "--json").output) == []



def test_signing_on_the_command_line_takes_a_note_per_fault(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    site = write_site(tmp_path, CAMERA.format(id="gate", port=1) + CAMERA.format(id="hall", port=2))
    app = open_site(site)
    try:
        now = datetime.now(timezone.utc)
        start = duty.shift_for(app, now).astimezone(app.site.zone)
        duty.set_roster(app, "zhang", start.date(), f"{start:%H:%M}", ["wang"])
        run_id = app.store.db["inspection_runs"].insert({
            "started_at": now.isoformat(), "finished_at": now.isoformat(), "actor": "wang", "cameras": 2, "ok": 1,
            "warning": 0, "fault": 1}).last_pk
        app.store.db["inspection_results"].insert_all([
            {"run": run_id, "camera": "gate", "status": "fault", "findings": '["blurred"]'},
            {"run": run_id, "camera": "hall", "status": "ok", "findings": "[]"}])
    finally:
        app.close()

    def run(*args: str):
        return CliRunner().invoke(make_cli(config=site), proven(["--config", str(site), *args]))

    bare = run("inspect", "sign", "--actor", "wang")
    assert bare.exit_code == 1 and "every fault needs a note" in bare.output and "gate" in bare.output
    signed = run("inspect", "sign", "--actor", "wang", "--fault", "gate", "replaced the lens cover", "zhang")
    assert signed.exit_code == 0 and f"run {run_id} signed by wang" in signed.output
    app = open_site(site)
    try:
        (note,) = app.store.db["inspection_fault_notes"].rows
        assert (note["camera"], note["action"], note["reported_to"]) == ("gate", "replaced the lens cover", "zhang")
    finally:
        app.close()

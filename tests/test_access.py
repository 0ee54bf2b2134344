"""The access rule (R2, R3): staff hours, visitor approval windows, refusals, and their evidence."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.rules.door_service import Access
from watchkeeper.site.app import Refused
from watchkeeper.faces.cli import make_cli
from watchkeeper.site.config import Person
from watchkeeper.core.models import CredentialKind, CredentialRead
from watchkeeper.rules.access import within_hours
from tests.logins import proven

NOW = datetime.now(timezone.utc)


def card(number: str, at: datetime = NOW) -> CredentialRead:
    return CredentialRead("room-door", CredentialKind.CARD, number, at, "wiegand26", 26)


@pytest.fixture
def access(app) -> Access:
    service = Access(app)
    service.add_person("zhang", Person("guard", "Guard", ("operator",), ("1001",), NOW.date(), None))
    service.add_person("zhang", Person("night", "Night Operator", ("operator",), ("1002",), date(2025, 1, 1), "22:00-23:00"))
    return service


def test_hours_wrap_past_midnight() -> None:
    assert within_hours("22:00-06:00", datetime(2026, 1, 1, 23, 30))
    assert within_hours("22:00-06:00", datetime(2026, 1, 1, 5, 59))
    assert not within_hours("22:00-06:00", datetime(2026, 1, 1, 12, 0))
    assert within_hours(None, datetime(2026, 1, 1, 12, 0))


def test_staff_enter_and_strangers_do_not(access: Access) -> None:
    decision, holder = access.decide("room-door", card("1001"))
    assert decision.allowed and holder.id == "guard"
    decision, holder = access.decide("room-door", card("999999"))
    assert not decision.allowed and holder is None and decision.reason == "unknown credential"


def test_staff_outside_hours_are_refused(access: Access) -> None:
    noon = datetime(2026, 6, 1, 4, 0, tzinfo=timezone.utc)  # 12:00 in Asia/Shanghai
    decision, _ = access.decide("room-door", card("1002", noon))
    assert not decision.allowed and "outside allowed hours" in decision.reason


def test_door_admits_only_room_roles_trained_now(access: Access) -> None:
    """R3: listed in the config is not enough; the role must have room access, the training be valid."""
    access.add_person("zhang", Person("fixer", "Maintenance", ("maintenance",), ("1003",), NOW.date(), None))
    access.add_person("zhang", Person("admin", "Administrator", ("administrator",), ("1004",), NOW.date(), None))
    access.add_person("zhang", Person("rookie", "New Operator", ("operator",), ("1005",), None, None))
    access.add_person("zhang", Person("future", "Future Operator", ("operator",), ("1006",),
                                      NOW.date() + timedelta(days=10), None))
    for badge, why in (("1003", "has no room access"), ("1004", "has no room access"),
                       ("1005", "no training on file"), ("1006", "trained only from")):
        decision, _ = access.decide("room-door", card(badge))
        assert not decision.allowed and why in decision.reason, (badge, decision.reason)


def test_room_roles_are_the_sites_to_grant(app, site_file: Path) -> None:
    from watchkeeper.host import open_site

    site_file.write_text(site_file.read_text().replace(
        "[policies]\n", '[policies]\nroom_access_roles = ["operator", "supervisor", "maintenance"]\n'))
    widened = open_site(site_file)
    try:
        service = Access(widened)
        service.add_person("zhang", Person("fixer", "Maintenance", ("maintenance",), ("1003",), NOW.date(), None))
        assert service.decide("room-door", card("1003"))[0].allowed
    finally:
        widened.close()


def test_visitor_needs_a_purpose(access: Access) -> None:
    for purpose in ("", "TBD", "待定"):
        with pytest.raises(ValueError, match="purpose"):
            access.register_visitor("li", "Wang", "Acme", purpose, "li", NOW, NOW + timedelta(hours=1), badge="7000")


def test_revoked_staff_are_refused(access: Access) -> None:
    access.revoke_person("zhang", "guard")
    decision, _ = access.decide("room-door", card("1001"))
    assert not decision.allowed and "revoked" in decision.reason


def test_visitor_only_with_approval_and_inside_window(access: Access) -> None:
    visitor = access.register_visitor("li", "Wang Fang", "Acme Lifts", "lift maintenance", "li",
                                      NOW - timedelta(minutes=5), NOW + timedelta(hours=1), badge="7777")
    decision, _ = access.decide("room-door", card("7777"))
    assert not decision.allowed and "pending" in decision.reason
    with pytest.raises(Refused, match="may not visitor.approve"):
        access.decide_visitor("li", visitor, approve=True)  # an operator cannot approve
    access.decide_visitor("zhang", visitor, approve=True)
    assert access.decide("room-door", card("7777"))[0].allowed
    late = access.decide("room-door", card("7777", NOW + timedelta(hours=2)))[0]
    assert not late.allowed and "expired" in late.reason
    early = access.decide("room-door", card("7777", NOW - timedelta(hours=1)))[0]
    assert not early.allowed and "valid only from" in early.reason


def test_registrant_cannot_approve_own_visitor(app) -> None:
    service = Access(app)
    visitor = service.register_visitor("zhang", "Chen", "Audit Co", "audit", "zhang", NOW, NOW + timedelta(hours=1),
                                       badge="8888")
    with pytest.raises(Refused, match="may not also approve"):
        service.decide_visitor("zhang", visitor, approve=True)


def test_visitor_pin_is_hashed_and_works(access: Access, app) -> None:
    visitor = access.register_visitor("li", "Zhao", "Fire Dept", "inspection", "li", NOW - timedelta(minutes=1),
                                      NOW + timedelta(hours=1), pin="482913")
    access.decide_visitor("zhang", visitor, approve=True)
    read = CredentialRead("room-door", CredentialKind.PIN, "482913", NOW)
    decision, holder = access.decide("room-door", read)
    assert decision.allowed and holder.id == visitor
    access.record_decision("room-door", read, decision, holder, actuated=True)
    assert not access.decide("room-door", CredentialRead("room-door", "pin", "000000", NOW))[0].allowed
    dump = app.store.path.read_bytes() + b"".join(
        json.dumps(e).encode() for e in app.journal.entries())
    wal = app.store.path.with_name(app.store.path.name + "-wal")
    if wal.exists():
        dump += wal.read_bytes()
    assert b"482913" not in dump


def test_decisions_are_logged_and_repeated_denials_raise_a_finding(access: Access, app) -> None:
    for number in ("1", "2", "3"):
        decision, holder = access.decide("room-door", card(number))
        access.record_decision("room-door", card(number), decision, holder, actuated=True)
    events = list(app.store.db["access_events"].rows)
    assert [e["allowed"] for e in events] == [0, 0, 0] and events[0]["reason"] == "unknown credential"
    journaled = [json.loads(e["body"]) for e in app.journal.entries(kind="access")]
    assert sum(1 for body in journaled if body.get("reason") == "unknown credential") == 3
    open_kinds = [row["kind"] for row in app.store.db["findings"].rows_where("closed_at IS NULL")]
    assert open_kinds == ["repeated_denials"]


def test_untrained_operator_is_refused_operator_actions(app) -> None:
    assert not app.authorize("new-op", "inspect.sign", "run-1")
    assert app.authorize("li", "inspect.sign", "run-1") is True
    assert not app.authorize("li", "footage.approve", "req-1")


def test_cli_visitor_flow(site_file: Path) -> None:
    runner, cli = CliRunner(), make_cli(config=site_file)
    base = ["--config", str(site_file)]
    registered = runner.invoke(cli, proven(base + ["visitor", "register", "--name", "Wang", "--organisation", "Acme",
                                            "--purpose", "repair", "--host", "li", "--from", "2026-11-28T09:00",
                                            "--to", "2026-11-28T17:00", "--badge", "5555", "--actor", "li"]))
    assert registered.exit_code == 0, registered.output
    refused = runner.invoke(cli, proven(base + ["visitor", "approve", "1", "--actor", "li"]))
    assert refused.exit_code == 1 and "refused" in refused.output
    approved = runner.invoke(cli, proven(base + ["visitor", "approve", "1", "--actor", "zhang"]))
    assert approved.exit_code == 0, approved.output
    listed = json.loads(runner.invoke(cli, proven(base + ["visitor", "list", "--json"])).output)
    assert listed[0]["status"] == "approved" and listed[0]["decided_by"] == "zhang" and "pin_hash" not in listed[0]
    people = json.loads(runner.invoke(cli, proven(base + ["people", "list", "--json"])).output)
    assert {p["id"] for p in people} == {"li", "zhang", "new-op"}
    bad = runner.invoke(cli, proven(base + ["people", "add", "--id", "x", "--name", "X", "--role", "operator", "--actor", "li"]))
    assert bad.exit_code == 1 and "people.manage" in bad.output


def test_people_added_at_run_time_need_valid_hours(site_file: Path) -> None:
    result = CliRunner().invoke(make_cli(config=site_file), proven(["--config", str(site_file), "people", "add", "--id", "x",
                                                             "--name", "X", "--role", "maintenance", "--hours", "9-5",
                                                             "--actor", "zhang"]))
    assert result.exit_code == 2 and "is not a range of hours" in result.output

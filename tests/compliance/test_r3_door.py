"""R3: each door watched, and it let in only staff of a room role, trained and in hours, and
visitors with a purpose, an approver and a window; a short reader outage fails nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.compliance.conftest import backdate, seqs, verdict, write_site
from watchkeeper.core.models import CredentialKind, CredentialRead, DoorStatus
from watchkeeper.faces.service import Appliance, ReaderWatch
from watchkeeper.host import load_plugins, open_site
from watchkeeper.rules.door_service import Access
from watchkeeper.site.config import Person

DOOR = """
[[doors]]
id = "room"
platform = "osdp"
host = "127.0.0.1"
port = 9
"""
LAX_DOOR = """
from watchkeeper import hookimpl
from watchkeeper.rules.access import EntryDecision


@hookimpl
def entry_decision(door, person, credential, site):
    if person is not None:
        return EntryDecision(True, "anyone listed may enter")  # a careless site plugin
"""


def badge(app, number: str) -> int:
    """A card read at the door, decided and recorded by the door service; returns the event id."""
    access = Access(app)
    read = CredentialRead("room", CredentialKind.CARD, number, datetime.now(timezone.utc), "wiegand26", 26)
    decision, holder = access.decide("room", read)
    access.record_decision("room", read, decision, holder, actuated=True)
    return app.store.conn.execute("SELECT max(id) FROM access_events").fetchone()[0]


def test_met_with_staff_and_an_approved_visitor(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, DOOR))
    try:
        access = Access(app)
        now = datetime.now(timezone.utc)
        visitor = access.register_visitor("li", "Chen", "Fire Dept", "annual fire inspection", "li",
                                          now - timedelta(minutes=5), now + timedelta(hours=1), badge="7001")
        access.decide_visitor("zhang", visitor, approve=True)
        events = [badge(app, "12345"), badge(app, "7001"), badge(app, "99999")]
        refused = app.store.db["access_events"].get(events[2])
        assert refused["allowed"] == 0
        result = verdict(app, "R3")
        assert (result["status"], result["rule"]) == ("met", "R3.kept")
        assert result["evidence"]["access_events"] == events and result["evidence"]["visitors"] == [visitor]
    finally:
        app.close()


def test_not_met_when_the_door_let_in_someone_not_entitled(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "lax_door.py").write_text(LAX_DOOR)
    app = open_site(write_site(tmp_path, DOOR), load_plugins(plugins))
    try:
        staff = badge(app, "12345")
        # wang (maintenance) gets a badge at run time; the site plugin lets any listed person in.
        Access(app).add_person("zhang", Person("wang", "Wang Fang", ("maintenance",), ("5555",)))
        intruder = badge(app, "5555")
        result = verdict(app, "R3")
        assert (result["status"], result["rule"]) == ("not met", "R3.admitted_unentitled")
        assert "wang" in result["reason"] and "no room access" in result["reason"]
        assert {staff, intruder} <= set(result["evidence"]["access_events"])
    finally:
        app.close()


def test_no_evidence_when_the_door_was_not_watched(tmp_path: Path) -> None:
    app = open_site(write_site(tmp_path, DOOR))
    try:
        result = verdict(app, "R3")
        assert (result["status"], result["rule"], result["evidence"]) == ("no evidence", "R3.unwatched", {})
    finally:
        app.close()


def test_a_short_outage_is_journaled_and_fails_nothing(tmp_path: Path, monkeypatch) -> None:
    app = open_site(write_site(tmp_path, DOOR, "transient_grace_seconds = 5\n"))
    backdate(monkeypatch, 1)
    try:
        start = datetime.now(timezone.utc) - timedelta(seconds=60)
        watch = ReaderWatch(Appliance(app), app.site.doors[0], start)
        watch.update(DoorStatus(False, False), start)  # starting: the secure channel is not up yet
        watch.update(DoorStatus(True, True), start + timedelta(seconds=0.5))
        watch.update(DoorStatus(False, False), start + timedelta(seconds=10))  # a blip
        watch.update(DoorStatus(False, False), start + timedelta(seconds=13))
        watch.update(DoorStatus(True, True), start + timedelta(seconds=14))
        assert app.store.conn.execute("SELECT count(*) FROM findings").fetchone()[0] == 0
        result = verdict(app, "R3")
        assert (result["status"], result["rule"]) == ("met", "R3.kept")
        assert result["evidence"]["journal"] == seqs(app, "access", "room") and len(result["evidence"]["journal"]) == 4
        watch.update(DoorStatus(False, False), start + timedelta(seconds=20))
        watch.update(DoorStatus(False, False), start + timedelta(seconds=26))  # past the grace: a finding
        result = verdict(app, "R3")
        assert (result["status"], result["rule"]) == ("not met", "R3.findings") and "reader_offline" in result["reason"]
    finally:
        app.close()

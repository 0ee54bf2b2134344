"""The monitoring-room door end to end (R3): the appliance's door service over a real OSDP link.

libosdp runs on both sides with the secure channel on; the reader simulator records the strike,
LED and buzzer commands it receives.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchkeeper.rules.door_service import Access
from watchkeeper.host import open_site
from watchkeeper.site.app import App
from watchkeeper.site.config import Person
from watchkeeper.faces.service import Appliance
from watchkeeper.plugins.osdp.simulator import simulate as osdp_readers
from tests.logins import proven, shared_fd


@pytest.fixture
async def room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    key = secrets.token_hex(16)
    monkeypatch.setenv("WK_READER_KEY", key)
    async with osdp_readers(password=key) as (reader,):
        (tmp_path / "site.toml").write_text(textwrap.dedent(f"""\
            [site]
            name = "Door"
            time_zone = "Asia/Shanghai"
            [policies]
            transient_grace_seconds = 1
            [[doors]]
            id = "room"
            platform = "osdp"
            host = "127.0.0.1"
            port = {reader.endpoint.port}
            scbk = "env:WK_READER_KEY"
            strike_seconds = 1
            held_open_seconds = 1.5
            [[people]]
            id = "li"
            name = "Li"
            roles = ["operator"]
            badges = ["12345"]
            trained_on = 2025-01-01
            [[people]]
            id = "zhang"
            name = "Zhang"
            roles = ["supervisor"]
            badges = ["22222"]
            trained_on = 2024-01-01
            [[people]]
            id = "rookie"
            name = "Rookie"
            roles = ["operator"]
            badges = ["33333"]
            [[people]]
            id = "fixer"
            name = "Fixer"
            roles = ["maintenance"]
            badges = ["44444"]
            trained_on = 2024-01-01
            """))
        app = open_site(tmp_path / "site.toml")
        appliance = Appliance(app)
        await appliance.start()
        yield app, reader
        await appliance.stop()
        app.close()


async def wait_for_events(app: App, count: int, timeout: float = 15) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        rows = list(app.store.db["access_events"].rows_where("event = 'entry'", order_by="id"))
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(rows)} of {count} access events")


async def test_staff_unknown_and_visitor_window(room) -> None:
    app, reader = room
    await asyncio.sleep(2)  # the reader comes online and the secure channel is set up
    await reader.present_card("12345")
    events = await wait_for_events(app, 1)
    assert events[0]["allowed"] == 1 and events[0]["person"] == "li" and events[0]["actuated"] == 1
    kinds = [o["kind"] for o in reader.outputs()]
    assert "output" in kinds and "led" in kinds and "buzzer" in kinds  # strike, green, beep

    before = len(reader.outputs())
    await reader.present_card("99999")
    events = await wait_for_events(app, 2)
    assert events[1]["allowed"] == 0 and events[1]["reason"] == "unknown credential"
    assert "output" not in [o["kind"] for o in reader.outputs()[before:]], "the strike opened for a stranger"

    access = Access(app)
    now = datetime.now(timezone.utc)
    later = access.register_visitor("li", "Wang", "Acme Lifts", "repair", "li", now + timedelta(hours=1),
                                    now + timedelta(hours=2), badge="7000")
    current = access.register_visitor("li", "Chen", "Fire Dept", "inspection", "li", now - timedelta(minutes=1),
                                      now + timedelta(hours=1), badge="7001")
    for visitor in (later, current):
        access.decide_visitor("zhang", visitor, approve=True)
    await reader.present_card("7000")
    await reader.present_card("7001")
    events = await wait_for_events(app, 4)
    assert (events[2]["allowed"], events[2]["visitor"]) == (0, later) and "valid only from" in events[2]["reason"]
    assert (events[3]["allowed"], events[3]["visitor"]) == (1, current)
    journaled = [e for e in app.journal.entries(kind="access") if e["subject"] == "room" and e["actor"] != "watchkeeper"]
    assert len(journaled) == 4 and app.journal.verify().ok


async def test_reader_offline_raises_and_clears_a_finding(room) -> None:
    app, reader = room
    await asyncio.sleep(2)

    def open_offline() -> int:
        return app.store.conn.execute("SELECT count(*) FROM findings WHERE kind = 'reader_offline'"
                                      " AND closed_at IS NULL").fetchone()[0]

    await reader.go_offline()
    for _ in range(100):
        if open_offline():
            break
        await asyncio.sleep(0.1)
    assert open_offline() == 1
    await reader.come_back_online()
    for _ in range(150):
        if not open_offline():
            break
        await asyncio.sleep(0.1)
    assert open_offline() == 0


async def test_anti_passback_refuses_a_card_entering_twice(room) -> None:
    app, reader = room
    await asyncio.sleep(2)
    await reader.present_card("12345")
    await wait_for_events(app, 1)
    strikes = sum(1 for o in reader.outputs() if o["kind"] == "output")
    await reader.present_card("12345")  # passed back through the door to a second person
    events = await wait_for_events(app, 2)
    assert events[1]["allowed"] == 0 and events[1]["reason"].startswith("anti-passback")
    assert sum(1 for o in reader.outputs() if o["kind"] == "output") == strikes


async def test_forced_and_held_open_door(room) -> None:
    app, reader = room
    await asyncio.sleep(2)

    async def open_kinds(expected: set[str], timeout: float = 8) -> set[str]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            kinds = {r["kind"] for r in app.store.db["findings"].rows_where("closed_at IS NULL")} & {
                "door_forced", "door_held_open"}
            if kinds == expected or asyncio.get_running_loop().time() > deadline:
                return kinds
            await asyncio.sleep(0.1)

    await reader.set_door_contact(True)  # nobody badged: forced
    assert await open_kinds({"door_forced"}, 2) == {"door_forced"}
    assert list(app.store.db["access_events"].rows_where("event = 'forced'"))
    await reader.set_door_contact(False)
    assert await open_kinds(set()) == set()

    await reader.present_card("22222")  # a supervisor badges in, then leaves the door open
    await wait_for_events(app, 1)
    await reader.set_door_contact(True)
    assert await open_kinds({"door_held_open"}) == {"door_held_open"}
    await reader.set_door_contact(False)
    assert await open_kinds(set()) == set()
    forced = app.store.conn.execute("SELECT count(*) FROM findings WHERE kind = 'door_forced'").fetchone()[0]
    assert forced == 1, "opening after a grant is not forced"


async def test_training_and_revocation_from_another_process_count_at_the_door(room, tmp_path: Path) -> None:
    """R2 at the door, from the store: training recorded and a revocation made by another process
    (the CLI) decide the very next badge read by the running appliance."""
    import subprocess
    import sys

    app, reader = room
    await asyncio.sleep(2)

    async def cli(*args: str) -> None:
        done = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "watchkeeper.faces.cli", *proven(["--config", str(tmp_path / "site.toml"), *args])],
            capture_output=True, text=True, timeout=60, pass_fds=(shared_fd(),))
        assert done.returncode == 0, done.stderr

    Access(app).add_person("zhang", Person("wu", "Wu", ("operator",), ("55555",)))  # no training on file
    await reader.present_card("55555")
    events = await wait_for_events(app, 1)
    assert (events[0]["person"], events[0]["allowed"]) == ("wu", 0) and "no training on file" in events[0]["reason"]
    await cli("people", "train", "wu", "--course", "CCTV operation", "--trainer", "Ma", "--date",
              datetime.now(app.site.zone).date().isoformat(), "--actor", "zhang")
    await reader.present_card("55555")
    events = await wait_for_events(app, 2)
    assert (events[1]["person"], events[1]["allowed"]) == ("wu", 1), events[1]["reason"]

    await cli("people", "revoke", "li", "--actor", "zhang")
    await reader.present_card("12345")
    events = await wait_for_events(app, 3)
    assert (events[2]["person"], events[2]["allowed"]) == ("li", 0) and "revoked" in events[2]["reason"]
    strikes = [o for o in reader.outputs() if o["kind"] == "output"]
    assert len(strikes) == 1, "only the trained, unrevoked badge opened the strike"


async def test_untrained_or_unroomed_staff_are_refused_over_osdp(room) -> None:
    """R2, R3: listed in the config is not enough; an untrained operator and a maintenance badge stay out."""
    app, reader = room
    await asyncio.sleep(2)
    await reader.present_card("33333")
    await reader.present_card("44444")
    events = await wait_for_events(app, 2)
    assert [(e["person"], e["allowed"]) for e in events] == [("rookie", 0), ("fixer", 0)]
    assert "no training on file" in events[0]["reason"] and "no room access" in events[1]["reason"]
    assert not any(o["kind"] == "output" for o in reader.outputs()), "the strike opened"


async def test_reader_coming_up_at_start_is_journaled_not_a_finding(room) -> None:
    """The reader is offline for a moment while the appliance starts: journaled, no finding, R3 kept."""
    from watchkeeper.faces.report import build_report

    app, reader = room
    await asyncio.sleep(2)
    states = [json.loads(e["body"]) for e in app.journal.entries(kind="access") if e["subject"] == "room"
              and e["actor"] == "watchkeeper"]
    assert states[0] == {"reader": "offline", "starting": True} and states[1]["reader"] == "online"
    assert states[1]["offline_seconds"] < 1
    assert app.store.conn.execute("SELECT count(*) FROM findings WHERE kind = 'reader_offline'").fetchone()[0] == 0
    r3 = next(c for c in build_report(app, "day")["clauses"] if c["clause"] == "R3")
    assert (r3["status"], r3["rule"]) == ("met", "R3.kept") and len(r3["evidence"]["journal"]) == 2

"""`door open` and `door status` while `watchkeeper run` holds the reader: they go through the running
appliance (its control socket), so the appliance's OSDP link stays up; with no appliance and the
reader held elsewhere they are refused with a clear message (issue 13, items 8 and 15)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from watchkeeper.faces.control import ControlServer, ask
from watchkeeper.host import open_site
from watchkeeper.plugins.osdp.simulator import simulate as osdp_readers

from .test_appliance import start as start_run
from tests.logins import proven, shared_fd

pytestmark = pytest.mark.timeout(180)

SITE = """\
[site]
name = "Control"
time_zone = "Asia/Shanghai"
store = "state/watchkeeper.db"
[[doors]]
id = "room"
platform = "osdp"
host = "127.0.0.1"
port = {port}
scbk = "env:WK_READER_KEY"
strike_seconds = 1
[[people]]
id = "li"
name = "Li"
roles = ["operator"]
badges = ["12345"]
trained_on = 2025-01-01
[[people]]
id = "new-op"
name = "New"
roles = ["operator"]
"""


def cli(site: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", *proven(["--config", str(site), *args])],
                          pass_fds=(shared_fd(),),
                          capture_output=True, text=True, timeout=timeout)


def stop_run(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def door_rows(site: Path, sql: str) -> list[dict]:
    app = open_site(site)
    try:
        return [dict(row) for row in app.store.db.query(sql)]
    finally:
        app.close()


async def until(predicate, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def reader_and_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    key = secrets.token_hex(16)
    monkeypatch.setenv("WK_READER_KEY", key)
    async with osdp_readers(password=key) as (reader,):
        site = tmp_path / "site.toml"
        site.write_text(textwrap.dedent(SITE.format(port=reader.endpoint.port)), encoding="utf-8")
        yield reader, site


async def test_door_open_goes_through_the_running_appliance(reader_and_site) -> None:
    reader, site = reader_and_site
    process = start_run(site)
    try:
        await until(lambda: reader.secure_channel_active())
        socket_file = site.parent / "state" / "control.sock"
        assert stat.S_IMODE(socket_file.stat().st_mode) == 0o600

        status = await asyncio.to_thread(cli, site, "door", "status", "room", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["online"] is True

        refused = await asyncio.to_thread(cli, site, "door", "open", "room", "--actor", "new-op")
        assert refused.returncode == 1 and "refused" in refused.stderr and "Traceback" not in refused.stderr

        opened = await asyncio.to_thread(cli, site, "door", "open", "room", "--actor", "li", "--seconds", "1")
        assert opened.returncode == 0, opened.stderr
        assert "room opened" in opened.stdout
        assert [o["kind"] for o in reader.outputs()][:1] == ["output"]

        # The appliance kept its link: a card is still answered, and the reader never went offline.
        await reader.present_card("12345")
        await until(lambda: door_rows(site, "SELECT * FROM access_events WHERE event = 'entry'"))
        await asyncio.sleep(2)
    finally:
        stop_run(process)
    manual = door_rows(site, "SELECT * FROM access_events WHERE event = 'manual_open'")
    assert [(m["person"], m["allowed"], m["actuated"]) for m in manual] == [("li", 1, 1)]
    assert door_rows(site, "SELECT kind FROM findings WHERE subject = 'room'") == []
    app = open_site(site)
    try:
        refusals = [json.loads(e["body"]) for e in app.journal.entries(kind="access")]
        assert any(r.get("refused") == "door.open" and r.get("plugin") == "watchkeeper.rules.policy" for r in refusals)
        # The appliance journaled li's opening with the proof the command gave (li's password).
        opened_by_li = [json.loads(e["body"]) for e in app.journal.entries(kind="access") if e["actor"] == "li"]
        # (li's card at the reader afterwards is the door's own record: no proof of a person is claimed)
        assert [body.get("proof") for body in opened_by_li] == ["password via control socket", None]
        assert opened_by_li[0]["credential"] is None and opened_by_li[1]["credential"] == "12345"
        assert opened_by_li[0]["proof_uid"] == os.getuid() and "proof_uid" not in opened_by_li[1]
        assert app.journal.verify().ok
    finally:
        app.close()
    assert not (site.parent / "state" / "control.sock").exists()


async def test_without_an_appliance_the_door_opens_directly(reader_and_site) -> None:
    reader, site = reader_and_site
    opened = await asyncio.to_thread(cli, site, "door", "open", "room", "--actor", "li", "--seconds", "1")
    assert opened.returncode == 0, opened.stderr
    assert "output" in [o["kind"] for o in reader.outputs()]
    status = await asyncio.to_thread(cli, site, "door", "status", "room")
    assert status.returncode == 0 and "online" in status.stdout


async def test_reader_held_without_an_appliance_is_refused_clearly(reader_and_site) -> None:
    reader, site = reader_and_site
    from watchkeeper.site.doorlock import hold_door

    app = open_site(site)
    try:
        with hold_door(app.site, "room"):  # as a process would that holds the reader and serves no socket
            opened = await asyncio.to_thread(cli, site, "door", "open", "room", "--actor", "li")
            status = await asyncio.to_thread(cli, site, "door", "status", "room")
    finally:
        app.close()
    assert opened.returncode == 3 and "Traceback" not in opened.stderr
    assert f"held by process {os.getpid()}" in opened.stderr and "no appliance" in opened.stderr
    assert status.returncode == 3 and f"held by process {os.getpid()}" in status.stderr
    assert "output" not in [o["kind"] for o in reader.outputs()]


async def test_a_second_appliance_for_the_same_site_is_refused(reader_and_site) -> None:
    _reader, site = reader_and_site
    process = start_run(site)
    try:
        second = await asyncio.to_thread(cli, site, "run", "--no-web", timeout=60)
    finally:
        stop_run(process)
    assert second.returncode == 3 and "already running" in second.stderr and "Traceback" not in second.stderr


async def test_control_socket_in_a_deep_state_folder(tmp_path: Path) -> None:
    """AF_UNIX holds 108 bytes: a site whose state folder is deeper is still reached, mode 0600."""
    from watchkeeper.site.config import Site

    deep = tmp_path / ("state-folder-" + "x" * 60) / ("y" * 60)
    site = Site(name="Deep", time_zone="UTC", store=deep / "watchkeeper.db")

    async def ping(request: dict) -> dict:
        return {"ok": True, "pid": os.getpid()}

    server = ControlServer(site, {"ping": ping})
    await server.start()
    try:
        assert len(str(server.path)) > 108
        assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
        assert await asyncio.to_thread(ask, site, {"op": "ping"}, 5) == {"ok": True, "pid": os.getpid()}
        assert (await asyncio.to_thread(ask, site, {"op": "shutdown"}, 5))["error"] == "usage"
    finally:
        await server.stop()
    assert not server.path.exists() and await asyncio.to_thread(ask, site, {"op": "ping"}, 5) is None


async def test_an_action_through_the_control_socket_names_the_asking_processs_uid(site_file: Path) -> None:
    """The proof a command gives travels through the socket on its word; the kernel's SO_PEERCRED says
    which OS account the asking process runs as, and the journal keeps it beside the proof."""
    from watchkeeper.evidence.journal import PROVEN

    app = open_site(site_file)

    async def note(request: dict) -> dict:
        app.journal.append("operation", request["actor"], "site", {"text": "through the socket"})
        return {}

    server = ControlServer(app.site, {"note": note})
    await server.start()
    try:
        PROVEN.set(("li", "password"))
        await asyncio.to_thread(ask, app.site, {"op": "note", "actor": "li"}, 10)
        PROVEN.set(None)
        await asyncio.to_thread(ask, app.site, {"op": "note", "actor": "zhang"}, 10)  # no proof given: none kept
    finally:
        await server.stop()
    bodies = {e["actor"]: json.loads(e["body"]) for e in app.journal.entries() if e["subject"] == "site"}
    app.close()
    assert bodies["li"]["proof"] == "password via control socket" and bodies["li"]["proof_uid"] == os.getuid()
    assert "proof" not in bodies["zhang"] and "proof_uid" not in bodies["zhang"]

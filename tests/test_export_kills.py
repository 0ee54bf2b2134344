"""`watchkeeper run` killed with SIGKILL at random moments during exports never lists a half-written
export (issue 19): every export listed complete has a manifest whose hashes match its file, every
export the appliance answered for is listed, the journal verifies after every kill, and what a kill
left half-made is removed and journaled at the next start, the approval kept for another try.

WK_EXPORT_KILLS (default 50) and WK_EXPORT_KILL_SEED choose how many kills and where they land.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.control import ask
from watchkeeper.host import open_site
from watchkeeper.rules.footage import Footage
from watchkeeper.faces.cli.common import os_account  # li's commands are proven by the test's OS account

KILLS = int(os.environ.get("WK_EXPORT_KILLS", "50"))
SEED = int(os.environ.get("WK_EXPORT_KILL_SEED", "1919"))
#: The longest a kill waits after the appliance is up: several exports' worth, so kills land in
#: every part of one (download, clip named, manifest named, the commit) and between them, yet
#: shorter than a fast machine takes for the POOL of requests, so the exporter is still busy.
LONGEST_WAIT = 1.0
#: Approved requests waiting before each kill.
POOL = 16
PASSWORD = "kills-Pass-2026"
CLI = [sys.executable, "-m", "watchkeeper.faces.cli"]

pytestmark = pytest.mark.timeout(900)


def simulator() -> tuple[subprocess.Popen[str], int]:
    """A Hikvision camera simulator in its own process, so killing the appliance never touches it."""
    process = subprocess.Popen([*CLI, "simulate", "hikvision", "--password", PASSWORD], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    line = process.stdout.readline()  # hikvision://admin@127.0.0.1:PORT  (hikvision-sim-1)
    if "127.0.0.1:" not in line:
        process.kill()
        raise AssertionError(f"simulator did not start: {line!r}")
    return process, int(line.split("127.0.0.1:")[1].split()[0])


def write_site(folder: Path, port: int) -> Path:
    config = folder / "site.toml"
    config.write_text(textwrap.dedent(f"""\
        [site]
        name = "Export kills"
        time_zone = "Asia/Shanghai"
        [witness]
        syslog = "off"
        [[cameras]]
        id = "vault"
        location = "Vault"
        purpose = "cash handling"
        zone = "restricted"
        platform = "hikvision"
        host = "127.0.0.1"
        port = {port}
        username = "admin"
        password = "env:WK_SIM_PASSWORD"
        [[people]]
        id = "li"
        name = "Li"
        roles = ["operator"]
        trained_on = 2025-01-01
        os_user = "{os_account()}"
        [[people]]
        id = "zhang"
        name = "Zhang"
        roles = ["supervisor"]
        """))
    return config


def approve(config: Path, count: int, serial: int) -> None:
    app = open_site(config)
    try:
        footage = Footage(app)
        for index in range(count):
            start = datetime.now(timezone.utc) - timedelta(days=1, minutes=serial + index)
            request = footage.request("li", "vault", start, start + timedelta(seconds=20), "till check", "CASE-19")
            footage.decide("zhang", request, approve=True)
    finally:
        app.close()


def start_run(config: Path) -> subprocess.Popen[str]:
    """`watchkeeper run` in a fresh interpreter, as systemd starts it."""
    process = subprocess.Popen([*CLI, "--config", str(config), "run", "--no-web", "--log-level", "WARNING"],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "running for" in line:
            return process
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the appliance did not start: {process.stderr.read()[-2000:]}")


class Forker:
    """`watchkeeper run` processes forked from one interpreter that imported watchkeeper once
    (tests/run_forker.py): the same `run`, started without re-importing for each of the kills."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log.open("w")
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("run_forker.py")), str(config)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.ask("") == "ready", log.read_text()[-2000:]
        self.running: set[int] = set()

    def ask(self, line: str) -> str:
        if line:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def run(self, site: Any) -> int:
        """Fork a `run` and wait until it answers on its control socket: it is up."""
        pid = int(self.ask("run"))
        self.running.add(pid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reply = ask(site, {"op": "ping"}, 5)
            if reply is not None and reply.get("pid") == pid:
                return pid
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z":  # it exited
                break
            time.sleep(0.02)
        raise AssertionError(f"the appliance did not start: {self.log.name}")

    def wait(self, pid: int) -> int:
        code = int(self.ask(f"wait {pid}"))
        self.running.discard(pid)
        return code

    def close(self) -> None:
        """Kill any appliance a failed test left running, then the forker."""
        for pid in list(self.running):
            os.kill(pid, signal.SIGKILL)
            self.wait(pid)
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.log.close()


def export_until_gone(site: Any, requests: list[int], answers: list[dict[str, Any]]) -> None:
    """What `watchkeeper footage export` does against a running appliance, one request after another."""
    for request in requests:
        try:
            reply = ask(site, {"op": "footage.export", "request": request, "actor": "li"}, 60)
        except (ConnectionResetError, BrokenPipeError):
            # Killed after taking the connection but before reading all of the request (a loaded
            # machine): this export was cut short as surely as one killed while it copied.
            answers.append({"ok": False, "reason": "the appliance gave no answer", "request": request})
            return
        except OSError:
            return
        if reply is None:  # nobody listens any more
            return
        answers.append(reply | {"request": request})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def residue(app: Any) -> dict[int, list[str]]:
    """The files in export folders that no export row lists, per request."""
    listed = {row["request"] for row in app.store.db["footage_exports"].rows}
    left = {}
    for folder in sorted(app.site.exports_dir.glob("request-*")):
        request = int(folder.name.removeprefix("request-"))
        names = sorted(path.name for path in folder.iterdir() if request not in listed or path.name.startswith("."))
        if names:
            left[request] = names
    return left


def kind_of(names: list[str]) -> str:
    if "manifest.json" in names:
        return "clip and manifest named, not yet listed"
    if any(not name.startswith(".") for name in names):
        return "clip named, no manifest"
    return "download under a temporary name"


def check_listed(app: Any, answered: list[dict[str, Any]]) -> int:
    """Every listed export is whole, journaled, and its request exported; every export the appliance
    answered for is listed. Returns how many are listed."""
    assert app.journal.verify().ok, app.journal.verify().problems
    assert app.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journaled = {json.loads(entry["body"])["exported"]["export"] for entry in app.journal.entries(kind="retrieval")
                 if '"exported":' in entry["body"]}
    exports = list(app.store.db["footage_exports"].rows)
    for export in exports:
        manifest = json.loads(Path(export["manifest"]).read_text(encoding="utf-8"))
        assert manifest["request"] == export["request"] and len(manifest["files"]) == 1
        for item in manifest["files"]:
            clip = Path(export["manifest"]).parent / item["name"]
            assert clip == Path(export["path"]) and item["sha256"] == export["sha256"] == sha256(clip)
            assert item["size_bytes"] == export["size_bytes"] == clip.stat().st_size
        assert app.store.db["footage_requests"].get(export["request"])["status"] == "exported"
        assert export["id"] in journaled
    exported = {row["id"] for row in app.store.db["footage_requests"].rows_where("status = 'exported'")}
    assert exported == {export["request"] for export in exports}
    said_done = {answer["request"] for answer in answered if answer["ok"]}
    assert said_done <= exported, "the appliance answered for an export that is not listed"
    return len(exports)


def interrupted_journaled(app: Any) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for entry in app.journal.entries(kind="retrieval"):
        body = json.loads(entry["body"])
        if "export_interrupted" in body:
            found.setdefault(int(entry["subject"].removeprefix("request-")), []).extend(
                body["export_interrupted"]["files"])
    return found


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    camera, port = simulator()
    try:
        yield write_site(tmp_path, port)
    finally:
        camera.send_signal(signal.SIGTERM)
        camera.wait(timeout=30)


def test_footage_export_goes_through_the_running_appliance(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    approve(config, 1, serial=0)
    process = start_run(config)
    try:
        def not_here(*args: Any) -> None:
            raise AssertionError("exported by the CLI's own process, not the appliance")

        monkeypatch.setattr(Footage, "export", not_here)
        runner, cli = CliRunner(), make_cli(config=config)
        base = ["--config", str(config), "footage", "export", "--actor", "li"]
        done = runner.invoke(cli, [*base, "1"])
        assert done.exit_code == 0 and "manifest: " in done.output, done.output
        again = runner.invoke(cli, [*base, "1"])
        assert again.exit_code == 1 and "refused: request 1 was already exported" in again.output, again.output
        unknown = runner.invoke(cli, [*base, "99"])
        assert unknown.exit_code == 2 and "no footage request 99" in unknown.output, unknown.output
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        process.stderr.close()
    app = open_site(config)
    try:
        assert check_listed(app, []) == 1
    finally:
        app.close()


def test_sigkill_during_exports_never_lists_a_half_written_export(config: Path, tmp_path: Path, capsys) -> None:
    rng = random.Random(SEED)
    landed: Counter[str] = Counter()
    left_by_kills: dict[int, list[str]] = {}
    answered: list[dict[str, Any]] = []
    began = time.monotonic()
    forker = Forker(config, tmp_path / "run.log")
    try:
        made = 0
        for kill in range(KILLS):
            app = open_site(config)
            waiting = app.store.conn.execute("SELECT count(*) FROM footage_requests WHERE status = 'approved'").fetchone()[0]
            app.close()
            # Always more approved requests than one kill window can export, on a fast machine too:
            # otherwise a quick appliance finishes them all and the kill lands after the exports.
            if waiting < POOL:
                approve(config, POOL - waiting, serial=made)
                made += POOL - waiting
            app = open_site(config)
            site = app.site
            pending = [row["id"] for row in app.store.db["footage_requests"].rows_where("status = 'approved'")]
            app.close()
            pid = forker.run(site)
            answers: list[dict[str, Any]] = []
            exporter = threading.Thread(target=export_until_gone, args=(site, pending, answers), daemon=True)
            exporter.start()
            time.sleep(rng.uniform(0.0, LONGEST_WAIT))
            os.kill(pid, signal.SIGKILL)
            assert forker.wait(pid) == -signal.SIGKILL
            exporter.join(timeout=60)
            assert not exporter.is_alive()
            answered += answers
            app = open_site(config)
            try:
                check_listed(app, answered)
                left = residue(app)
                for request, names in left.items():
                    landed[kind_of(names)] += 1
                    left_by_kills.setdefault(request, []).extend(names)
                if not left:
                    landed["nothing half-made"] += 1
            finally:
                app.close()
        process = start_run(config)  # the last kill's leftovers are cleaned up by this start
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        process.stderr.close()
        app = open_site(config)
        try:
            listed = check_listed(app, answered)
            assert residue(app) == {}
            journaled = interrupted_journaled(app)
            for request, names in left_by_kills.items():  # each half-made file was named in the journal
                assert set(names) <= {item["name"] for item in journaled.get(request, [])}, request
                assert app.store.db["footage_requests"].get(request)["status"] in ("approved", "exported")
        finally:
            app.close()
    finally:
        forker.close()
    # A kill that cut an export short leaves its request's connection without an answer.
    cut = sum(1 for answer in answered if not answer["ok"] and answer["reason"] == "the appliance gave no answer")
    with capsys.disabled():
        print(f"\n{KILLS} SIGKILLs of `run` (seed {SEED}) in {time.monotonic() - began:.0f} s: {cut} cut an export "
              f"short; {listed} exports listed, all whole; what the kills left: {dict(landed)}")
    # The test proves something only if kills land inside exports: a third of them at least (41 of 50
    # on a quiet machine, 22 of 50 with a 1.5 s window on a fresh CI machine).
    assert listed > 0 and cut >= KILLS // 3

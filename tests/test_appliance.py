"""`watchkeeper run` journals its start and stop, and knows after a kill that the last run died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from watchkeeper.host import open_site
from watchkeeper.faces.service import next_at


def start(site_file: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "--config", str(site_file), "run", "--no-web"],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "running for" in line:
            return process
    process.kill()
    raise AssertionError("appliance did not start")


def appliance_events(site_file: Path) -> list[dict]:
    app = open_site(site_file)
    try:
        return [json.loads(e["body"]) for e in app.journal.entries(kind="operation") if e["subject"] == "appliance"]
    finally:
        app.close()


def test_start_stop_and_restart_after_kill(site_file: Path) -> None:
    process = start(site_file)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    events = appliance_events(site_file)
    assert [e["event"] for e in events] == ["start", "stop"] and events[0]["previous_run_stopped_cleanly"]

    process = start(site_file)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process = start(site_file)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    events = appliance_events(site_file)
    assert [e["event"] for e in events] == ["start", "stop", "start", "start", "stop"]
    assert events[3]["previous_run_stopped_cleanly"] is False
    app = open_site(site_file)
    assert app.journal.verify().ok
    assert len(list(app.journal.entries(kind="clock"))) == 3  # R7: a clock check at every start
    app.close()


def test_next_at_uses_site_time() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    moment = datetime(2026, 11, 28, 0, 30, tzinfo=timezone.utc)  # 08:30 in Shanghai
    from datetime import time as clock_time
    assert next_at(moment, clock_time(8, 0), zone) == datetime(2026, 11, 29, 0, 0, tzinfo=timezone.utc)
    assert next_at(moment, clock_time(20, 0), zone) == datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)

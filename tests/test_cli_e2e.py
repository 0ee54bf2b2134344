"""The operator's commands against a simulated camera in another process: inspect, sign, baseline,
clock, retention, report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from tests.logins import proven

PASSWORD = "cli-Pass-2026"


@pytest.fixture(scope="module")
def camera_port():
    process = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "simulate", "hikvision",
                                "--password", PASSWORD], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    yield int(line.split("@127.0.0.1:")[1].split()[0])
    process.terminate()
    process.wait(30)


@pytest.fixture
def site(tmp_path: Path, camera_port: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent(f"""\
        [site]
        name = "CLI"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = 2
        frame_interval_seconds = 0.1
        [[cameras]]
        id = "desk"
        location = "Front desk"
        purpose = "visitors"
        zone = "public"
        platform = "hikvision"
        host = "127.0.0.1"
        port = {camera_port}
        username = "admin"
        password = "env:WK_SIM_PASSWORD"
        [[people]]
        id = "li"
        name = "Li"
        roles = ["operator"]
        trained_on = 2025-01-01
        [[people]]
        id = "new-op"
        name = "New"
        roles = ["operator"]
        [[duty]]
        shift = "08:00"
        operators = ["li"]
        [[duty]]
        shift = "20:00"
        operators = ["li"]
        """))
    return path


def run(site: Path, *args: str):
    return CliRunner().invoke(make_cli(config=site), proven(["--config", str(site), *args]))


def test_operator_day(site: Path) -> None:
    assert run(site, "baseline", "capture", "--actor", "li").exit_code == 0
    refused = run(site, "inspect", "--actor", "new-op")
    assert refused.exit_code == 1 and "refused" in refused.output
    inspected = run(site, "inspect", "--actor", "li", "--no-playback")
    assert inspected.exit_code == 0, inspected.output
    assert "1 cameras, 1 ok" in inspected.output
    signed = run(site, "inspect", "sign", "--actor", "li", "--note", "all clear")
    assert signed.exit_code == 0 and "signed by li" in signed.output
    again = run(site, "inspect", "sign", "--actor", "li")
    assert again.exit_code == 2 and "already signed" in again.output
    clock = run(site, "clock", "--json")
    assert clock.exit_code == 0 and json.loads(clock.output)["findings"] == []
    retention = run(site, "retention")
    assert retention.exit_code == 0 and "retention: 0 finding(s)" in retention.output
    report = run(site, "report", "--format", "json", "--output", str(site.parent / "out"))
    data = json.loads(Path(report.output.strip()).read_text())
    assert {c["clause"]: c["status"] for c in data["clauses"]}["R5"] == "met"

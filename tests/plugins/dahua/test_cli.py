"""`watchkeeper simulate dahua` in a subprocess, and `watchkeeper probe dahua://…` against it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.host.pluginhost import load_plugins

SIM_PASSWORD = "cli-Pass_word"


def start_simulator(*args: str) -> tuple[subprocess.Popen, list[int]]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-c", "from watchkeeper.faces.cli import main; main()", "simulate", "dahua",
         "--password", SIM_PASSWORD, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ports = []
    assert process.stdout is not None
    for line in process.stdout:
        match = re.match(r"dahua://admin@127\.0\.0\.1:(\d+)", line)
        assert match, f"unexpected simulator output {line!r}"
        ports.append(int(match.group(1)))
        if len(ports) == int(dict(zip(args[::2], args[1::2])).get("--devices", 1)):
            break
    return process, ports


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=5)


@pytest.fixture(scope="module")
def simulator() -> Iterator[list[int]]:
    process, ports = start_simulator("--devices", "2", "--faults", "clock_offset=45,time_zone=UTC")
    yield ports
    assert stop(process) == 0


def probe(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(make_cli(load_plugins()), ["probe", *args])
    return result.exit_code, result.output


def test_probe_reports_identity_clock_and_capabilities(simulator: list[int]) -> None:
    code, output = probe(f"dahua://admin:{SIM_PASSWORD}@127.0.0.1:{simulator[1]}", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["manufacturer"] == "Dahua" and report["model"] == "IPC-HDW5831R-ZE"
    assert report["serial_number"] == "7J00001PAZ001" and report["kind"] == "camera"
    assert 42 <= report["clock_offset_seconds"] <= 48 and report["time_zone"] == "UTC+00:00"
    assert {"recordings", "events", "snapshot", "audit_log"} <= set(report["capabilities"])
    assert SIM_PASSWORD not in output


def test_probe_with_the_wrong_password_is_auth_failed(simulator: list[int]) -> None:
    code, output = probe(f"dahua://admin:wrong@127.0.0.1:{simulator[0]}", "--json", "--timeout", "3")
    assert code == 1
    assert json.loads(output)["finding"] == "auth_failed"
    assert "wrong" not in output


def test_probe_password_from_the_environment(simulator: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_PASSWORD", SIM_PASSWORD)
    code, output = probe(f"dahua://admin@127.0.0.1:{simulator[0]}")
    assert code == 0, output
    assert re.search(r"model: IPC-HDW5831R-ZE", output)

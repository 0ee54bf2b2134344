"""`watchkeeper probe`, `discover` and `simulate onvif` against the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.plugins.onvif.simulator import simulate


@contextmanager
def simulator_thread(**options) -> Iterator[list]:
    """The simulator on its own loop, since the CLI commands run asyncio.run themselves."""
    ready, stop, holder = threading.Event(), None, {}

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with simulate(**options) as devices:
            holder["devices"] = devices
            ready.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["devices"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def test_probe_prints_info_offset_and_capabilities() -> None:
    with simulator_thread(faults=FaultProfile(clock_offset=120, time_zone="CST-8"), channels=4) as (device,):
        endpoint = device.endpoint
        url = f"onvif://{endpoint.username}:{endpoint.password.reveal()}@127.0.0.1:{endpoint.port}"
        result = CliRunner().invoke(make_cli(), ["probe", url, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    probed = json.loads(result.output)
    assert probed["manufacturer"] == "Watchkeeper Sim" and probed["channels"] == 4 and probed["kind"] == "recorder"
    assert 117 <= probed["clock_offset_seconds"] <= 123 and probed["time_zone"] == "CST-8"
    assert {"snapshot", "stream", "recordings", "playback", "events", "set_clock", "ntp"} == set(probed["capabilities"])
    assert endpoint.password.reveal() not in result.output


def test_probe_wrong_password_is_a_finding() -> None:
    with simulator_thread() as (device,):
        url = f"onvif://admin:not-the-password@127.0.0.1:{device.endpoint.port}"
        result = CliRunner().invoke(make_cli(), ["probe", url, "--timeout", "3"])
    assert result.exit_code == 1 and "auth_failed" in result.output
    assert "not-the-password" not in result.output


def test_discover_prints_stanzas() -> None:
    with simulator_thread(devices=3, discovery=True) as devices:
        port = devices[0].discovery_port
        result = CliRunner().invoke(make_cli(), ["discover", "--address", "127.0.0.1", "--port", str(port),
                                                 "--timeout", "1"], catch_exceptions=False)
        expected = sorted(d.endpoint.port for d in devices)
    assert result.exit_code == 0, result.output
    assert result.output.count("[[recorders]]") == 3 and 'platform = "onvif"' in result.output
    assert [int(line.split("=")[1]) for line in result.output.splitlines() if line.startswith("port =")] == expected


def test_simulate_command_serves_a_probeable_device() -> None:
    command = Path(sys.executable).with_name("watchkeeper")
    process = subprocess.Popen([str(command), "simulate", "onvif", "--devices", "2", "--faults", "clock_offset=30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("onvif://admin@127.0.0.1:"), first + process.stderr.read()
        url = first.split()[0].replace("admin@", "admin:watchkeeper-sim@")
        result = CliRunner().invoke(make_cli(), ["probe", url, "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert 27 <= json.loads(result.output)["clock_offset_seconds"] <= 33
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("simulator did not stop on SIGINT")

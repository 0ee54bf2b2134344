"""`watchkeeper probe hikvision://…` and `watchkeeper simulate hikvision` work through the Platform registration."""

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
from datetime import datetime, timezone

from click.testing import CliRunner
from watchkeeper.faces.cli import make_cli
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import Endpoint
from watchkeeper.plugins.hikvision.driver import HikvisionDriver
from watchkeeper.plugins.hikvision.simulator import simulate


@contextmanager
def simulator_thread(**options: object) -> Iterator[list]:
    """The simulator on its own loop in a thread, so a command may run its own asyncio.run()."""
    loop = asyncio.new_event_loop()
    ready, holder = threading.Event(), {}

    async def serve() -> None:
        holder["stop"] = asyncio.Event()
        async with simulate(**options) as devices:
            holder["devices"] = devices
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "simulator did not start"
    try:
        yield holder["devices"]
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        loop.close()


def test_probe_reports_info_clock_and_capabilities() -> None:
    with simulator_thread(channels=4, faults=FaultProfile(clock_offset=40)) as devices:
        port = devices[0].endpoint.port
        result = CliRunner().invoke(make_cli(), ["probe", f"hikvision://admin:watchkeeper-sim@127.0.0.1:{port}",
                                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["manufacturer"], report["model"], report["kind"], report["channels"]) == (
        "Hikvision", "DS-7616NI-K2", "recorder", 4)
    assert 37 <= report["clock_offset_seconds"] <= 43 and report["time_zone"] == "CST-8:00:00"
    assert {"snapshot", "recordings", "storage", "events", "clip_download", "audit_log"} <= set(report["capabilities"])
    assert "watchkeeper-sim" not in result.output


def test_probe_wrong_password_is_auth_failed_without_echoing_it() -> None:
    with simulator_thread() as devices:
        port = devices[0].endpoint.port
        result = CliRunner().invoke(make_cli(), ["probe", f"hikvision://admin:not-the-password@127.0.0.1:{port}",
                                                 "--json", "--timeout", "3"])
    assert result.exit_code == 1
    assert json.loads(result.output)["finding"] == "auth_failed"
    assert "not-the-password" not in result.output


def test_simulate_command_prints_each_device_and_serves_until_interrupted(tmp_path) -> None:
    command = [sys.executable, "-c", "from watchkeeper.faces.cli import main; main()", "--config", str(tmp_path / "none.toml"),
               "simulate", "hikvision", "--devices", "2", "--user", "operator", "--password", "s3cret-pw",
               "--faults", "clock_offset=30,time_zone=EST+5:00:00"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [process.stdout.readline().strip() for _ in range(2)]
        assert all(line.startswith("hikvision://operator@127.0.0.1:") for line in lines), lines
        ports = [int(line.split(":")[2].split()[0]) for line in lines]
        assert len(set(ports)) == 2 and "s3cret-pw" not in "".join(lines)

        async def read_clock(port: int) -> object:
            driver = HikvisionDriver(Endpoint("hikvision", "127.0.0.1", port, "operator", "s3cret-pw"))
            try:
                return await driver.get_clock()
            finally:
                await driver.close()

        for port in ports:
            reading = asyncio.run(read_clock(port))
            assert reading.time_zone == "EST+5:00:00" and 27 <= reading.offset <= 33
            assert reading.device_time.tzinfo == timezone.utc and reading.device_time.year >= datetime.now().year
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, process.stderr.read()


def test_simulate_refuses_a_bad_resolution_or_a_simulator_with_one_size(tmp_path) -> None:
    base = ["--config", str(tmp_path / "none.toml"), "simulate"]
    bad = CliRunner().invoke(make_cli(), [*base, "hikvision", "--resolution", "1920by1080"])
    assert bad.exit_code == 2 and "is not WIDTHxHEIGHT" in bad.output
    fixed = CliRunner().invoke(make_cli(), [*base, "dahua", "--resolution", "1920x1080"])
    assert fixed.exit_code == 2 and "has one picture size" in fixed.output

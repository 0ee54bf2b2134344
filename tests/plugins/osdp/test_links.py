"""Other wires and setups: a serial line (pty pair through pyserial), enrolment from install mode, the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
import sys
import tty

import attrs
import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Endpoint, Secret
from watchkeeper.plugins.osdp.driver import OsdpDoor
from watchkeeper.plugins.osdp.enrollment import enroll
from watchkeeper.plugins.osdp.simulator import FdChannel, SimulatedOsdpReader, simulate

from .test_door import online_door, until

pytestmark = pytest.mark.timeout(60)


async def test_serial_line_through_pyserial_on_a_pty() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    key = secrets.token_hex(16)
    reader = SimulatedOsdpReader(scbk=key, channel=FdChannel(master))
    endpoint = Endpoint("osdp", "", 0, password=key, timeout=3.0,
                        options={"serial_port": os.ttyname(slave), "baudrate": 115200})
    try:
        door = OsdpDoor(endpoint)
        try:
            async def secure() -> bool:
                return (await door.status()).secure_channel

            await until(secure)
            await door.grant(2)
            assert [r["kind"] for r in reader.outputs()] == ["output", "led", "buzzer"]
        finally:
            await door.close()
    finally:
        await asyncio.get_running_loop().run_in_executor(None, reader.close)
        os.close(slave)


async def test_enroll_moves_reader_from_install_mode_to_its_own_key(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    new_key = secrets.token_hex(16)
    async with simulate(password="") as (reader,):
        assert not reader.endpoint.password  # fresh from the box: install mode
        endpoint = attrs.evolve(reader.endpoint, password=new_key)
        await enroll(endpoint, Secret(new_key))
        assert reader.keys_changed == 1 and reader.endpoint.password == Secret(new_key)
        door = await online_door(reader)
        try:
            assert (await door.status()).secure_channel
            await door.deny()
        finally:
            await door.close()
        # Enrolled: the reader has left install mode, another key cannot take it over.
        with pytest.raises(DeviceError) as raised:
            await enroll(attrs.evolve(endpoint, timeout=1.0), Secret(secrets.token_hex(16)), within=3)
        assert raised.value.kind is FindingKind.AUTH_FAILED
    logged = "\n".join(r.getMessage() for r in caplog.records).lower()
    assert new_key.lower() not in logged and "enrolled" in logged


def test_door_cli_enroll_then_probe(tmp_path) -> None:
    async def scenario() -> tuple:
        async with simulate(password="") as (reader,):
            runner = CliRunner()
            cli = make_cli()
            key_file = tmp_path / "reader.key"
            args = ["--host", "127.0.0.1", "--port", str(reader.port), "--timeout", "5"]
            enrolled = await asyncio.to_thread(runner.invoke, cli, ["door", "enroll", *args, str(key_file)])
            status = await asyncio.to_thread(
                runner.invoke, cli, ["door", "probe", *args, "--key", f"file:{key_file}", "--json"])
            await reader.go_offline()
            offline = await asyncio.to_thread(
                runner.invoke, cli, ["door", "probe", *args, "--timeout", "1", "--key", f"file:{key_file}"])
            return enrolled, status, offline, key_file.read_text().strip(), oct(key_file.stat().st_mode & 0o777)

    enrolled, status, offline, key, mode = asyncio.run(scenario())
    assert enrolled.exit_code == 0, enrolled.output
    assert mode == "0o600" and key not in enrolled.output
    assert status.exit_code == 0, status.output
    assert '"secure_channel": true' in status.output and key not in status.output
    assert offline.exit_code == 1 and "reader_offline" in offline.output


def test_watchkeeper_simulate_osdp_serves_a_reader(tmp_path) -> None:
    """`watchkeeper simulate osdp` runs through the Platform factory; the driver reaches it."""
    key = secrets.token_hex(16)
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from watchkeeper.faces.cli import main; sys.argv[0]='watchkeeper'; main()",
         "simulate", "osdp", "--password", key],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("osdp://127.0.0.1:"), line
        port = int(line.split()[0].rsplit(":", 1)[1])

        async def check() -> bool:
            door = OsdpDoor(Endpoint("osdp", "127.0.0.1", port, password=key, timeout=3.0))
            try:
                async def secure() -> bool:
                    return (await door.status()).secure_channel

                await until(secure)
                await door.grant(1)
                return True
            finally:
                await door.close()

        assert asyncio.run(check())
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert key not in err


def test_simulate_osdp_works_with_its_default_password_and_prints_its_address(tmp_path) -> None:
    """`watchkeeper simulate osdp` with no --password serves a secure reader under the documented key."""
    from watchkeeper.plugins.osdp.simulator import DEFAULT_KEY

    process = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "simulate", "osdp"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("osdp://127.0.0.1:"), line + process.stderr.read()
        port = int(line.split()[0].rsplit(":", 1)[1])

        async def check() -> None:
            door = OsdpDoor(Endpoint("osdp", "127.0.0.1", port, password=DEFAULT_KEY, timeout=3.0))
            try:
                async def secure() -> bool:
                    return (await door.status()).secure_channel

                await until(secure)
                await door.grant(1)
            finally:
                await door.close()

        asyncio.run(check())
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert DEFAULT_KEY == b"watchkeeper-sim!".hex()

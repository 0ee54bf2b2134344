"""No SCBK and no PIN in any log line (ours or libosdp's, at DEBUG), repr, error or stderr."""

from __future__ import annotations

import asyncio
import logging
import secrets

import attrs
import pytest

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.models import Secret
from watchkeeper.plugins.osdp.driver import OsdpDoor
from watchkeeper.plugins.osdp.enrollment import enroll
from watchkeeper.plugins.osdp.simulator import simulate

from .test_door import online_door, until

pytestmark = pytest.mark.timeout(60)


def spellings(key_hex: str) -> list[str]:
    """How a key could show up: hex either case, and libosdp-style hex dumps with separators."""
    raw = bytes.fromhex(key_hex)
    return [key_hex.lower(), key_hex.upper(), " ".join(f"{b:02x}" for b in raw),
            " ".join(f"{b:02X}" for b in raw), repr(raw)]


async def test_keys_and_pins_never_leave_the_driver(caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    key, wrong_key, pin = secrets.token_hex(16), secrets.token_hex(16), "5831907"
    errors: list[str] = []
    async with simulate(password="") as (reader,):
        endpoint = attrs.evolve(reader.endpoint, password=key)
        await enroll(endpoint, Secret(key))
        door = await online_door(reader)
        reads = door.reads()
        try:
            waiter = asyncio.ensure_future(reads.__anext__())
            await asyncio.sleep(0.1)
            await reader.present_pin(pin)
            read = await asyncio.wait_for(waiter, 5)
            await door.grant(1)
            await reader.present_card("4242", bad_parity=True)
            await until(lambda: asyncio.sleep(0, door.rejected_reads == 1), within=5)
            shown = [repr(read), str(read), repr(door), repr(door.endpoint), repr(reader), str(reader.outputs())]
        finally:
            await reads.aclose()
            await door.close()
        intruder = OsdpDoor(attrs.evolve(endpoint, password=wrong_key, timeout=1.0))
        try:
            await asyncio.sleep(2.5)
            with pytest.raises(DeviceError) as raised:
                await intruder.grant(1)
            errors.append(str(raised.value))
            errors += [f.reason for f in await intruder.findings()]
        finally:
            await intruder.close()
        with pytest.raises(DeviceError) as bad_key:
            await OsdpDoor(attrs.evolve(endpoint, password="not-a-key-" + key[:8])).status()
        errors.append(str(bad_key.value))
    out, err = capfd.readouterr()
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name == "watchkeeper.osdp.libosdp" and r.levelno == logging.DEBUG for r in caplog.records)
    haystack = "\n".join([logged, out, err, *shown, *errors])
    for secret in [*spellings(key), *spellings(wrong_key), pin, key[:8]]:
        assert secret not in haystack
    assert "libosdp" not in err.lower() and "osdp_cp.c" not in err  # libosdp no longer writes to stderr

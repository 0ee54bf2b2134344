"""Under `run`, a door reader's link state becomes findings by the same mapping `door status` uses,
over a real libosdp link: a wrong key is `secure_channel_failed`, not `reader_offline`, and a reader
that is still being reached at start-up is not reported offline (issue 13, items 6 and 7; the
start-up outage is the site's transient grace, `policies.transient_grace_seconds`)."""

from __future__ import annotations

import asyncio
import secrets
import textwrap
from pathlib import Path

import pytest

from watchkeeper.faces.service import Appliance
from watchkeeper.host import open_site
from watchkeeper.plugins.osdp.simulator import simulate as osdp_readers
from watchkeeper.simulation.faults import FaultProfile

pytestmark = pytest.mark.timeout(90)

DOOR_SITE = """\
[site]
name = "Door link"
time_zone = "Asia/Shanghai"
[policies]
transient_grace_seconds = {grace}
[[doors]]
id = "room"
platform = "osdp"
host = "127.0.0.1"
port = {port}
scbk = "env:WK_READER_KEY"
"""


def findings_of(app, door: str) -> list[tuple[str, bool]]:
    """Every finding ever opened for the door: (kind, still open)."""
    return [(r["kind"], r["closed_at"] is None)
            for r in app.store.db["findings"].rows_where("subject = ?", [door], order_by="id")]


@pytest.fixture
def site_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    key = secrets.token_hex(16)
    monkeypatch.setenv("WK_READER_KEY", key)

    def write(port: int, grace: float) -> Path:
        path = tmp_path / "site.toml"
        path.write_text(textwrap.dedent(DOOR_SITE.format(port=port, grace=grace)), encoding="utf-8")
        return path

    return key, write


async def test_wrong_key_under_run_is_secure_channel_failed_not_offline(site_for) -> None:
    key, write = site_for
    async with osdp_readers(password=key, faults=FaultProfile(wrong_password=True)) as (reader,):
        # A wrong key is told from silence when a handshake attempt ends (2 s); the grace is longer.
        app = open_site(write(reader.endpoint.port, grace=4))
        appliance = Appliance(app)
        await appliance.start()
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while ("secure_channel_failed", True) not in findings_of(app, "room"):
                assert asyncio.get_running_loop().time() < deadline, findings_of(app, "room")
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # several status polls and handshake retries later
            assert findings_of(app, "room") == [("secure_channel_failed", True)]
        finally:
            await appliance.stop()
            app.close()


async def test_no_offline_finding_while_the_first_poll_is_under_way(site_for) -> None:
    key, write = site_for
    async with osdp_readers(password=key) as (reader,):
        app = open_site(write(reader.endpoint.port, grace=5))
        appliance = Appliance(app)
        await appliance.start()
        try:
            await asyncio.sleep(3)
            assert findings_of(app, "room") == []
            await reader.present_card("12345")  # the link is up: the read is answered and logged
            deadline = asyncio.get_running_loop().time() + 10
            while not list(app.store.db["access_events"].rows_where("event = 'entry'")):
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
        finally:
            await appliance.stop()
            app.close()

"""A site whose NVR speaks only GB/T 28181: the daily rules find its clock offset and recording gap."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

from watchkeeper.host import open_site
from watchkeeper.plugins.gb28181.simulator import simulate
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile

PASSWORD = "gb-site-password"


def _site(folder: Path, port: int, device_id: str) -> Path:
    config = folder / "site.toml"
    config.write_text(textwrap.dedent(f"""\
        [site]
        name = "GB site"
        time_zone = "Asia/Shanghai"

        [[recorders]]
        id = "nvr"
        platform = "gb28181"
        host = "127.0.0.1"
        port = {port}
        username = "{device_id}"
        password = "env:WK_GB_PASSWORD"
        timeout_seconds = 5

        [[cameras]]
        id = "gate"
        location = "Vehicle gate"
        purpose = "number plates"
        zone = "perimeter"
        recorder = "nvr"
        recorder_channel = 1

        [[cameras]]
        id = "store"
        location = "Store room"
        purpose = "stock"
        zone = "inside"
        recorder = "nvr"
        recorder_channel = 2

        [[people]]
        id = "li"
        name = "Li Wei"
        roles = ["operator"]
        trained_on = 2025-03-01
        """))
    return config


async def test_clock_and_coverage_of_a_gb28181_recorder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WK_GB_PASSWORD", PASSWORD)
    now = datetime.now(timezone.utc)
    gap = (now - timedelta(hours=6), now - timedelta(hours=5))
    async with simulate(password=PASSWORD, channels=2,
                        faults=FaultProfile(clock_offset=45, gaps=(gap,))) as devices:
        app = open_site(_site(tmp_path, devices[0].endpoint.port, devices[0].device_id))
        try:
            checks = collect_checks(app.pm)
            await run_check(app, checks["clock"], "li")
            await run_check(app, checks["retention"], "li")
            open_findings = {(row["subject"], row["kind"]): row["reason"]
                             for row in app.store.db["findings"].rows_where("closed_at IS NULL")}
            assert ("nvr", "clock_offset") in open_findings, open_findings
            assert {("gate", "recording_gap"), ("store", "recording_gap")} <= set(open_findings), open_findings
            assert not [key for key in open_findings if key[1] in ("unreachable", "auth_failed", "protocol_error")]
            offset = app.store.conn.execute(
                "SELECT offset_seconds FROM clock_readings WHERE device = 'nvr'").fetchone()[0]
            assert 43 <= offset <= 47

            devices[0].set_faults(FaultProfile())
            await run_check(app, checks["clock"], "li")
            await run_check(app, checks["retention"], "li")
            still = {(row["subject"], row["kind"]) for row in app.store.db["findings"].rows_where("closed_at IS NULL")}
            assert not still, still
        finally:
            app.close()


async def test_a_device_with_the_wrong_password_is_auth_failed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WK_GB_PASSWORD", PASSWORD)
    async with simulate(password=PASSWORD, channels=2, faults=FaultProfile(wrong_password=True)) as devices:
        app = open_site(_site(tmp_path, devices[0].endpoint.port, devices[0].device_id))
        try:
            await run_check(app, collect_checks(app.pm)["clock"], "li")
            kinds = {(row["subject"], row["kind"]) for row in app.store.db["findings"].rows_where("closed_at IS NULL")}
            assert kinds == {("nvr", "auth_failed")}
        finally:
            app.close()

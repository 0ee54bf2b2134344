"""A site whose NVR speaks only GB/T 28181: the daily rules find its clock offset and recording gap."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_inspection_judges_live_and_recorded_pictures_over_gb28181(tmp_path: Path, monkeypatch,
                                                                         transport: str) -> None:
    """Live frames come from Play sessions (PS over RTP), yesterday's from a Playback session; a
    blurred channel gives `blurred`, the healthy one nothing, and both replays decode. Over UDP,
    and over TCP passive (the device connects, RFC 4571 framing) when the recorder is set so."""
    from watchkeeper.simulation.faults import ImageFault

    monkeypatch.setenv("WK_GB_PASSWORD", PASSWORD)
    async with simulate(password=PASSWORD, channels=2) as devices:
        devices[0].set_faults(FaultProfile(image=[ImageFault.BLUR]), channel=2)
        config = _site(tmp_path, devices[0].endpoint.port, devices[0].device_id)
        config.write_text(config.read_text().replace("[site]\n", "[site]\n").replace(
            'name = "GB site"\n', 'name = "GB site"\n').replace(
            "timeout_seconds = 5\n", f'timeout_seconds = 5\noptions = {{ media_transport = "{transport}" }}\n')
            + "\n[policies]\ninspection_frames = 2\n"
            "frame_interval_seconds = 0.2\nplayback_seconds = 4\n")
        app = open_site(config)
        try:
            result = await run_check(app, collect_checks(app.pm)["inspection"], "li")
            rows = {row["camera"]: row for row in app.store.db["inspection_results"].rows}
            assert rows["gate"]["frames"] == 2 and rows["store"]["frames"] == 2
            assert all(row["playback"].startswith("ok: 3 frames of the clip") for row in rows.values()), rows
            kinds = {(finding.subject, str(finding.kind)) for finding in result.findings}
            assert ("store", "blurred") in kinds and not [k for k in kinds if k[0] == "gate"], kinds
            assert devices[0].log.count("Play") == 4 and devices[0].log.count("Playback") == 2
            assert devices[0].media_transports == [transport] * 6
        finally:
            app.close()


async def test_clock_is_corrected_by_re_registration_and_journaled(tmp_path: Path, monkeypatch) -> None:
    """A device 45 s ahead is found off, asked to register again, takes the Date of that 200 OK, and
    is read within tolerance; the correction is journaled before and after, as other vendors' are."""
    import json

    monkeypatch.setenv("WK_GB_PASSWORD", PASSWORD)
    async with simulate(password=PASSWORD, channels=2, faults=FaultProfile(clock_offset=45)) as devices:
        config = _site(tmp_path, devices[0].endpoint.port, devices[0].device_id)
        config.write_text(config.read_text() + "\n[policies]\ncorrect_clocks = true\n")
        app = open_site(config)
        try:
            checks = collect_checks(app.pm)
            result = await run_check(app, checks["clock"], "li")
            assert result.findings == []  # found off, corrected, read again within tolerance
            bodies = [json.loads(entry["body"]) for entry in app.journal.entries(kind="clock")
                      if entry["subject"] == "nvr"]
            assert bodies[0]["correcting"] and 43 <= bodies[0]["offset_seconds"] <= 47, bodies
            assert bodies[1]["corrected"] and abs(bodies[1]["offset_seconds"]) < 2, bodies
            assert abs(devices[0].clock_error) < 2  # the device's own clock, set from the Date
            await run_check(app, checks["clock"], "li")
            offsets = [row[0] for row in app.store.conn.execute(
                "SELECT offset_seconds FROM clock_readings WHERE device = 'nvr' ORDER BY id")]
            assert len(offsets) == 2 and all(abs(offset) < 2 for offset in offsets), offsets
            assert not list(app.store.db["findings"].rows_where("closed_at IS NULL"))
        finally:
            app.close()


async def test_a_recorder_that_never_connects_its_tcp_playback_is_playback_unavailable(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """Live pictures come over TCP, the replay's connection never does: the inspection judges the live
    frames and names the replay `playback_unavailable`, within the recorder's timeout."""
    monkeypatch.setenv("WK_GB_PASSWORD", PASSWORD)
    async with simulate(password=PASSWORD, channels=2) as devices:
        devices[0].refuses_tcp_media = {"Playback"}
        config = _site(tmp_path, devices[0].endpoint.port, devices[0].device_id)
        config.write_text(config.read_text().replace(
            "timeout_seconds = 5\n", 'timeout_seconds = 3\noptions = { media_transport = "tcp" }\n')
            + "\n[policies]\ninspection_frames = 2\nframe_interval_seconds = 0.2\nplayback_seconds = 4\n")
        app = open_site(config)
        try:
            result = await run_check(app, collect_checks(app.pm)["inspection"], "li")
            rows = {row["camera"]: row for row in app.store.db["inspection_results"].rows}
            assert rows["gate"]["frames"] == 2 and rows["store"]["frames"] == 2
            kinds = {(finding.subject, str(finding.kind)): finding.reason for finding in result.findings}
            for camera in ("gate", "store"):
                assert "never connected to TCP media" in kinds[(camera, "playback_unavailable")], kinds
        finally:
            app.close()

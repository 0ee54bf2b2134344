"""Recorders that report EarliestRecording at the epoch: what is known is kept, what is not is said (issue 13, item 9)."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from tests.compliance.conftest import verdict
from watchkeeper.host import open_site
from watchkeeper.plugins.onvif.driver import OnvifCamera
from watchkeeper.plugins.onvif.profileg import span_segment
from watchkeeper.plugins.onvif.simulator import simulate
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile, parse_faults

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PASSWORD = "epoch-Pass-1"


def test_span_keeps_the_latest_time_when_the_earliest_is_the_epoch() -> None:
    # As exonvif_get_recording_summary.xml shows a real recorder answering: DataFrom 1970, DataUntil right.
    info = SimpleNamespace(EarliestRecording=datetime(1970, 1, 1, tzinfo=timezone.utc),
                           LatestRecording=NOW - timedelta(hours=2), RecordingToken="Recording_1")
    (segment,) = span_segment(info, 1, NOW - timedelta(days=2), NOW)
    assert segment.end == NOW - timedelta(hours=2) and not segment.start_known
    assert segment.start == NOW - timedelta(days=2)  # only the window asked about, said to be unknown
    known = SimpleNamespace(EarliestRecording=NOW - timedelta(days=1), LatestRecording=NOW, RecordingToken="R")
    assert span_segment(known, 1, NOW - timedelta(days=2), NOW)[0].start_known
    assert parse_faults("epoch_earliest").epoch_earliest


async def test_driver_reports_the_end_of_a_recording_whose_start_it_cannot_know() -> None:
    async with simulate(faults=FaultProfile(epoch_earliest=True)) as (device,):
        device.find_events = False  # only EarliestRecording/LatestRecording to go by
        camera = OnvifCamera(device.endpoint)
        try:
            now = datetime.now(timezone.utc)
            (segment,) = await camera.recordings(1, now - timedelta(days=3), now)
        finally:
            await camera.close()
    assert not segment.start_known and abs((segment.end - now).total_seconds()) < 5


def _site(folder, port: int) -> object:
    (folder / "site.toml").write_text(textwrap.dedent(f"""\
        [site]
        name = "Epoch"
        time_zone = "Asia/Shanghai"
        [policies]
        retention_days = 30
        [[cameras]]
        id = "yard"
        location = "Yard"
        purpose = "vehicles"
        zone = "outside"
        platform = "onvif"
        host = "127.0.0.1"
        port = {port}
        username = "admin"
        password = "env:WK_SIM_PASSWORD"
        [[people]]
        id = "li"
        name = "Li"
        roles = ["operator"]
        trained_on = 2025-01-01
        """))
    return open_site(folder / "site.toml")


def _open(app) -> dict[str, str]:
    return {row["kind"]: row["reason"] for row in app.store.db["findings"].rows_where("closed_at IS NULL")}


async def test_retention_keeps_what_is_known_and_says_what_is_not(tmp_path, monkeypatch) -> None:
    """Regression: the whole recording was dropped, giving 'oldest recording 0.0 days old' and a gap over
    the whole retention window for a recorder that was recording all along."""
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with simulate(password=PASSWORD, faults=FaultProfile(epoch_earliest=True)) as (device,):
        device.find_events = False
        app = _site(tmp_path, device.endpoint.port)
        try:
            check = collect_checks(app.pm)["retention"]
            result = await run_check(app, check, "li")
            assert _open(app) == {}
            assert "does not say where the recording begins" in result.summary["unverified"]["yard"]
            journaled = json.loads(list(app.journal.entries(kind="retention"))[-1]["body"])
            assert "yard" in journaled["unverified"]
            # The retention period could not be checked: no day's coverage is claimed, and R8 is not "met".
            assert not list(app.store.db["coverage"].rows_where("camera = ?", ["yard"]))
            assert verdict(app, "R8")["status"] != "met"

            # Recording stopped three hours ago: that much is known, and is a gap.
            now = datetime.now(timezone.utc)
            device.set_faults(FaultProfile(epoch_earliest=True, gaps=((now - timedelta(hours=3), now + timedelta(hours=1)),)))
            await run_check(app, check, "li")
            found = _open(app)
        finally:
            app.close()
    assert set(found) == {"recording_gap"}
    minutes = int(re.search(r"(\d+) min missing", found["recording_gap"]).group(1))
    assert 175 <= minutes <= 180  # three hours, less the last two minutes still being written
    assert "does not say where the recording begins" in found["recording_gap"]

"""The shift inspection plays back an ONVIF recorder's RTSP replay when it cannot export clips (R5)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from watchkeeper.host import open_site
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.plugins.onvif.rtsp import rtsp_available
from watchkeeper.plugins.onvif.simulator import simulate

UNAVAILABLE = rtsp_available()


@pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")
async def test_inspection_replays_the_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WK_SIM_PASSWORD", "replay-Pass-1")
    async with simulate(password="replay-Pass-1", rtsp=True) as (device,):
        (tmp_path / "site.toml").write_text(textwrap.dedent(f"""\
            [site]
            name = "Replay"
            [policies]
            inspection_frames = 2
            frame_interval_seconds = 0.1
            [[cameras]]
            id = "hall"
            location = "Hall"
            purpose = "people"
            zone = "inside"
            platform = "onvif"
            host = "127.0.0.1"
            port = {device.endpoint.port}
            username = "admin"
            password = "env:WK_SIM_PASSWORD"
            timeout_seconds = 10
            [[people]]
            id = "li"
            name = "Li"
            roles = ["operator"]
            trained_on = 2025-01-01
            """))
        app = open_site(tmp_path / "site.toml")
        try:
            result = await run_check(app, collect_checks(app.pm)["inspection"], "li")
            row = next(app.store.db["inspection_results"].rows)
        finally:
            app.close()
    assert result.findings == []
    assert row["playback"].startswith("ok: 3 frames of the replay stream"), row["playback"]
    assert "replay-Pass-1" not in row["playback"]

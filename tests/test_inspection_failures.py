"""One camera's surprise is that camera's finding; every inspection run finishes and is journaled (issue 13, items 4, 5)."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchkeeper.host import open_site
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.plugins.onvif.simulator import simulate as onvif
from watchkeeper.rules import inspection, retention
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile

PASSWORD = "insp-Pass-2026"
SEARCH, REPLAY = "http://www.onvif.org/ver10/search/wsdl", "http://www.onvif.org/ver10/replay/wsdl"


def write_site(folder: Path, cameras: dict[str, tuple[str, int]]) -> Path:
    text = textwrap.dedent("""\
        [site]
        name = "Failures"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = 2
        frame_interval_seconds = 0.05
        playback_seconds = 5
        [[people]]
        id = "li"
        name = "Li"
        roles = ["operator"]
        trained_on = 2025-01-01
        """)
    for camera_id, (platform, port) in cameras.items():
        text += textwrap.dedent(f"""\
            [[cameras]]
            id = "{camera_id}"
            location = "Hall"
            purpose = "people"
            zone = "inside"
            platform = "{platform}"
            host = "127.0.0.1"
            port = {port}
            username = "admin"
            password = "env:WK_SIM_PASSWORD"
            timeout_seconds = 3
            """)
    (folder / "site.toml").write_text(text)
    return folder / "site.toml"


def open_findings(app) -> dict[tuple[str, str], str]:
    return {(row["subject"], row["kind"]): row["reason"] for row in app.store.db["findings"].rows_where("closed_at IS NULL")}


def last_run(app) -> tuple[dict, list[dict]]:
    run = next(app.store.db["inspection_runs"].rows_where(order_by="id desc", limit=1))
    return run, list(app.store.db["inspection_results"].rows_where("run = ?", [run["id"]]))


async def test_camera_without_search_or_replay_is_a_finding_not_a_stopped_run(tmp_path, monkeypatch) -> None:
    """Regression: capabilities were read before the ONVIF driver connected, so CapabilityMissing escaped
    `inspect` and the run never finished."""
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with onvif(password=PASSWORD, devices=2) as (bare, healthy):
        bare.missing_services = frozenset({SEARCH, REPLAY})
        app = open_site(write_site(tmp_path, {"bare": ("onvif", bare.endpoint.port),
                                              "other": ("onvif", healthy.endpoint.port)}))
        try:
            await run_check(app, collect_checks(app.pm)["inspection"], "li")
            run, rows = last_run(app)
            found = open_findings(app)
            journaled = [json.loads(e["body"]) for e in app.journal.entries(kind="inspection")]
        finally:
            app.close()
    assert run["finished_at"] and run["cameras"] == 2
    assert "neither export nor replay" in found[("bare", "playback_unavailable")]
    bare_row = next(r for r in rows if r["camera"] == "bare")
    assert bare_row["status"] == "fault" and bare_row["playback"].startswith("failed:")
    assert not any(kind == "check_failed" for _, kind in found)
    assert journaled and journaled[-1]["check"] == "inspection"


async def test_failed_replay_is_a_finding_that_closes_when_replay_works(tmp_path, monkeypatch) -> None:
    """Regression: a failed replay was reported as "ok" with free text, and R5's playback check silently skipped."""
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with hikvision(password=PASSWORD) as (camera,):
        app = open_site(write_site(tmp_path, {"gate": ("hikvision", camera.endpoint.port)}))
        try:
            yesterday = datetime.now(timezone.utc) - timedelta(days=1)
            camera.set_faults(FaultProfile(gaps=((yesterday - timedelta(hours=1), yesterday + timedelta(hours=1)),)))
            await run_check(app, collect_checks(app.pm)["inspection"], "li")
            _, (row,) = last_run(app)
            reason = open_findings(app).get(("gate", "playback_unavailable"))
            assert reason and "could not be played back" in reason, open_findings(app)
            assert row["status"] != "ok" and row["playback"].startswith("failed:")

            camera.set_faults(FaultProfile())
            await run_check(app, collect_checks(app.pm)["inspection"], "li")
            _, (row,) = last_run(app)
            assert ("gate", "playback_unavailable") not in open_findings(app)
            assert row["status"] == "ok" and row["playback"].startswith("ok:")
        finally:
            app.close()


async def test_a_bug_for_one_camera_is_its_finding_and_the_run_goes_on(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    judge = inspection.judge

    def judge_breaking_on_one(series, camera, *args, **kwargs):
        if camera.id == "broken":
            raise TypeError("a bug met only by this camera")
        return judge(series, camera, *args, **kwargs)

    monkeypatch.setattr(inspection, "judge", judge_breaking_on_one)
    async with hikvision(password=PASSWORD, devices=2) as (one, two):
        app = open_site(write_site(tmp_path, {"broken": ("hikvision", one.endpoint.port),
                                              "fine": ("hikvision", two.endpoint.port)}))
        try:
            await run_check(app, collect_checks(app.pm)["inspection"], "li", playback=False)
            run, rows = last_run(app)
            found = open_findings(app)
        finally:
            app.close()
    assert run["finished_at"] and run["cameras"] == 2
    assert "TypeError" in found[("broken", "check_failed")] and "see the log" in found[("broken", "check_failed")]
    assert {r["camera"]: r["status"] for r in rows} == {"broken": "fault", "fine": "ok"}


async def test_a_run_that_raises_still_finishes_and_is_journaled(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)

    def progress(camera_id: str) -> None:  # e.g. a broken progress display
        raise RuntimeError("display gone")

    async with hikvision(password=PASSWORD) as (camera,):
        app = open_site(write_site(tmp_path, {"gate": ("hikvision", camera.endpoint.port)}))
        try:
            with pytest.raises(RuntimeError):
                await run_check(app, collect_checks(app.pm)["inspection"], "li", progress=progress, playback=False)
            run, rows = last_run(app)
            entries = [json.loads(e["body"]) for e in app.journal.entries(kind="inspection")]
        finally:
            app.close()
    assert run["finished_at"] and len(rows) == 1
    assert entries[-1]["check"] == "inspection" and entries[-1]["failed"].startswith("RuntimeError")


async def test_a_bug_in_a_per_device_check_is_that_device_s_finding(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)

    def broken_merge(segments):
        raise AttributeError("a bug in the coverage code")

    monkeypatch.setattr(retention, "merge", broken_merge)
    async with hikvision(password=PASSWORD) as (camera,):
        app = open_site(write_site(tmp_path, {"gate": ("hikvision", camera.endpoint.port)}))
        try:
            result = await run_check(app, collect_checks(app.pm)["retention"], "li")
            found = open_findings(app)
        finally:
            app.close()
    assert [f.kind for f in result.findings] == ["check_failed"]
    assert "AttributeError" in found[("gate", "check_failed")]

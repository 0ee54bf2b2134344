"""The daily rules end to end against simulated devices: each injected fault gives exactly its finding.

One camera per fault kind (every image fault, clock offset, wrong time zone, recording gap, short
retention, disk error, offline, wrong password) plus healthy ones; fixing a fault closes its finding.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchkeeper.host import open_site
from watchkeeper.site.app import App, Refused
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile, ImageFault
from watchkeeper.plugins.dahua.simulator import simulate as dahua
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.plugins.onvif.rtsp import rtsp_available
from watchkeeper.plugins.onvif.simulator import simulate as onvif
from watchkeeper.rules import inspection

PASSWORD = "sim-Pass-2026"
IMAGE_FAULTS = {
    "cam-blur": (ImageFault.BLUR, "blurred"), "cam-dark": (ImageFault.DARK, "too_dark"),
    "cam-bright": (ImageFault.OVEREXPOSED, "overexposed"), "cam-cast": (ImageFault.COLOUR_CAST, "colour_cast"),
    "cam-noise": (ImageFault.NOISE, "noisy"), "cam-black": (ImageFault.BLACK, "no_signal"),
    "cam-frozen": (ImageFault.FROZEN, "frozen"), "cam-occluded": (ImageFault.OCCLUDED, "occluded"),
    "cam-moved": (ImageFault.MOVED, "moved"),
}
DEVICE_FAULTS = {
    "cam-clock": (FaultProfile(clock_offset=45), "clock_offset"),
    "cam-zone": (FaultProfile(time_zone="EST5EDT"), "time_zone_mismatch"),
    "cam-offline": (FaultProfile(offline=True), "unreachable"),
    "cam-password": (FaultProfile(wrong_password=True), "auth_failed"),
}
HEALTHY = ("cam-ok-1", "cam-ok-2", "cam-ok-3")
#: The direct cameras are spread over the three camera platforms so every rule meets every driver.
#: ONVIF cameras replay their recordings over RTSP where this machine can serve it (GStreamer).
PLATFORMS = {"hikvision": hikvision, "dahua": dahua, "onvif": functools.partial(onvif, rtsp="auto")}
#: Without an RTSP server an ONVIF camera's recording cannot be played back, which is its finding.
NO_REPLAY = rtsp_available() is not None
NVR_CHANNELS = {1: ("nvr-ok", None), 2: ("nvr-gap", "recording_gap"), 3: ("nvr-short", "short_retention")}


def camera_stanza(camera_id: str, port: int | None = None, recorder: str | None = None, channel: int = 1,
                  platform: str = "hikvision") -> str:
    where = (f'platform = "{platform}"\nhost = "127.0.0.1"\nport = {port}\nusername = "admin"\n'
             f'password = "env:WK_SIM_PASSWORD"\ntimeout_seconds = 10\n' if port
             else f'recorder = "{recorder}"\nrecorder_channel = {channel}\n')
    return f'[[cameras]]\nid = "{camera_id}"\nlocation = "Site {camera_id}"\npurpose = "test"\nzone = "z"\n{where}\n'


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    direct = list(IMAGE_FAULTS) + list(DEVICE_FAULTS) + list(HEALTHY)
    names = list(PLATFORMS)
    placed = {name: names[index % len(names)] for index, name in enumerate(direct)}
    async with contextlib.AsyncExitStack() as stack:
        devices = {}
        for platform, simulate in PLATFORMS.items():
            group = [name for name in direct if placed[name] == platform]
            started = await stack.enter_async_context(simulate(password=PASSWORD, devices=len(group)))
            devices.update(zip(group, started))
        (nvr,) = await stack.enter_async_context(hikvision(password=PASSWORD, channels=3))
        text = textwrap.dedent(f"""\
            [site]
            name = "E2E"
            time_zone = "Asia/Shanghai"
            [policies]
            inspection_frames = 3
            frame_interval_seconds = 0.05
            [[recorders]]
            id = "nvr"
            platform = "hikvision"
            host = "127.0.0.1"
            port = {nvr.endpoint.port}
            username = "admin"
            password = "env:WK_SIM_PASSWORD"
            [[people]]
            id = "li"
            name = "Li"
            roles = ["operator"]
            trained_on = 2025-01-01
            """)
        text += "".join(camera_stanza(name, device.endpoint.port, platform=placed[name])
                        for name, device in devices.items())
        text += "".join(camera_stanza(name, recorder="nvr", channel=ch) for ch, (name, _) in NVR_CHANNELS.items())
        (tmp_path / "site.toml").write_text(text)
        app = open_site(tmp_path / "site.toml")
        yield app, devices, nvr
        app.close()


def open_kinds(app: App) -> set[tuple[str, str]]:
    return {(row["subject"], row["kind"]) for row in app.store.db["findings"].rows_where("closed_at IS NULL")}


async def run_all(app: App) -> None:
    checks = collect_checks(app.pm)
    await run_check(app, checks["clock"], "li")
    await run_check(app, checks["inspection"], "li")
    await run_check(app, checks["retention"], "li")


async def test_every_injected_fault_gives_exactly_its_finding(site) -> None:
    app, devices, nvr = site
    for camera in app.site.cameras:  # commissioning: the references are healthy views
        endpoint, channel = inspection.source_of(app, camera)
        driver = app.driver(endpoint)
        app.store.db["baselines"].insert({"camera": camera.id, "captured_at": "", "captured_by": "li",
                                          "jpeg": await driver.snapshot(channel)})
        await driver.close()
    for name, (fault, _) in IMAGE_FAULTS.items():
        devices[name].set_faults(FaultProfile(image=[fault]))
    for name, (profile, _) in DEVICE_FAULTS.items():
        devices[name].set_faults(profile)
    now = datetime.now(timezone.utc)
    nvr.set_faults(FaultProfile(gaps=((now - timedelta(hours=6), now - timedelta(hours=5)),)), channel=2)
    nvr.set_faults(FaultProfile(retention_days=3), channel=3)
    await run_all(app)

    expected = {(name, kind) for name, (_, kind) in IMAGE_FAULTS.items()}
    expected |= {(name, kind) for name, (_, kind) in DEVICE_FAULTS.items()}
    expected |= {(name, kind) for name, kind in NVR_CHANNELS.values() if kind}
    unplayable = {(camera.id, "playback_unavailable") for camera in app.site.cameras
                  if NO_REPLAY and camera.platform == "onvif" and camera.id not in ("cam-offline", "cam-password")}
    assert open_kinds(app) == expected | unplayable

    for name in list(IMAGE_FAULTS) + list(DEVICE_FAULTS):
        devices[name].set_faults(FaultProfile())
    nvr.set_faults(FaultProfile(), channel=2)
    nvr.set_faults(FaultProfile(), channel=3)
    await run_all(app)
    assert open_kinds(app) == unplayable
    closed = app.store.conn.execute("SELECT count(*) FROM findings WHERE closed_at IS NOT NULL").fetchone()[0]
    assert closed == len(expected)


async def test_disk_error_and_unsigned_shift(site) -> None:
    app, devices, nvr = site
    nvr.set_faults(FaultProfile(disk_error=True))
    await run_check(app, collect_checks(app.pm)["retention"], "li")
    assert ("nvr", "disk_error") in open_kinds(app)
    run = (await run_check(app, collect_checks(app.pm)["inspection"], "li", frozenset({"cam-ok-1"}))).summary["run"]
    # One camera of many cannot stand for the shift's inspection (R5): the signature is refused.
    with pytest.raises(Refused, match="did not inspect every camera in scope"):
        inspection.sign(app, "li", run)
    unsigned = app.store.db["inspection_runs"].get(run)
    assert unsigned["signed_by"] is None and unsigned["ok"] == 1 and unsigned["cameras"] == 1


async def test_inspection_does_not_ask_the_clocks_again(site) -> None:
    # R7's clock check runs at start and nightly; the inspection used to run it once more per camera.
    app, devices, nvr = site
    await run_check(app, collect_checks(app.pm)["inspection"], "li", frozenset({"cam-ok-1"}), playback=False)
    assert list(app.journal.entries(kind="clock")) == []
    assert app.store.conn.execute("SELECT count(*) FROM inspection_runs").fetchone()[0] == 1


async def test_inspection_keeps_no_frames_or_clips_behind(site, monkeypatch, tmp_path) -> None:
    # Clips go to one folder per run (a folder per clip cost more than its analysis) and the folder
    # goes with the run; a camera keeps half-resolution luma only until its last frame.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    app, devices, nvr = site
    await run_check(app, collect_checks(app.pm)["inspection"], "li", frozenset({"cam-ok-1", "cam-ok-2"}))
    assert list(scratch.iterdir()) == []
    playback = {row["camera"]: row["playback"] for row in app.store.db["inspection_results"].rows}
    assert any(text.startswith("ok") and "clip" in text for text in playback.values()), playback
    camera = next(c for c in app.site.cameras if c.id == "cam-ok-1")
    endpoint, channel = inspection.source_of(app, camera)
    driver = app.driver(endpoint)
    try:
        series = await inspection.live_frames(driver, channel, 3, 0.1)
    finally:
        await driver.close()
    assert series.count == 3 and series.last_plane is None and series.frozen > 0.1

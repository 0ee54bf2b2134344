"""Hostile cameras: a JPEG bomb and a lying JPEG header are those cameras' findings, in bounded memory.

The inspection runs as the real CLI in a child process, so its peak resident memory (VmHWM, see
tests/bounds/measure.py) is the inspection's alone; the simulated cameras answer from this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest

from watchkeeper.plugins.dahua.simulator import simulate as dahua
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.plugins.onvif.simulator import simulate as onvif
from watchkeeper.simulation.faults import FaultProfile, PictureFault

from tests.bounds import measure
from watchkeeper.faces.cli.common import os_account

PASSWORD = "sim-Pass-2026"
MEMORY_LIMIT_MB = 300
#: Each platform serves one hostile camera and one healthy one.
CAMERAS = {
    "hikvision": (("hik-lying", PictureFault.LYING_HEADER), ("hik-ok", None)),
    "dahua": (("dahua-bomb", PictureFault.JPEG_BOMB), ("dahua-ok", None)),
    "onvif": (("onvif-bomb", PictureFault.JPEG_BOMB), ("onvif-ok", None)),
}
SIMULATORS = {"hikvision": hikvision, "dahua": dahua, "onvif": onvif}


def camera(camera_id: str, platform: str, port: int) -> str:
    return textwrap.dedent(f"""\
        [[cameras]]
        id = "{camera_id}"
        location = "yard"
        purpose = "test"
        zone = "z"
        platform = "{platform}"
        host = "127.0.0.1"
        port = {port}
        username = "admin"
        password = "env:WK_SIM_PASSWORD"
        timeout_seconds = 5
        """)


async def run_inspection(config: Path) -> tuple[int, str, float]:
    """(exit code, output, peak resident MB) of `watchkeeper inspect` in a child process."""
    child = await asyncio.create_subprocess_exec(
        *measure.command("--config", str(config), "inspect", "--actor", "li", "--no-playback"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, WK_SIM_PASSWORD=PASSWORD))
    stdout, stderr = await asyncio.wait_for(child.communicate(), 300)  # the simulators answer on this loop
    return child.returncode, stdout.decode() + stderr.decode(), measure.peak_mb(stderr.decode())


@pytest.mark.slow
async def test_bomb_and_lying_header_are_findings_in_bounded_memory(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        [site]
        name = "Hostile"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = 2
        frame_interval_seconds = 0.05
        [[people]]
        id = "li"
        name = "Li"
        roles = ["operator"]
        trained_on = 2025-01-01
        os_user = "{account}"
        """).format(account=os_account())  # li is proven by the OS account running the test
    async with contextlib.AsyncExitStack() as stack:
        for platform, cameras in CAMERAS.items():
            devices = await stack.enter_async_context(SIMULATORS[platform](password=PASSWORD, devices=len(cameras)))
            for device, (camera_id, picture) in zip(devices, cameras):
                if picture is not None:
                    device.set_faults(FaultProfile(picture=picture))
                text += camera(camera_id, platform, device.endpoint.port)
        (tmp_path / "site.toml").write_text(text)
        code, output, peak = await run_inspection(tmp_path / "site.toml")
    assert "Traceback" not in output, output
    db = sqlite3.connect(tmp_path / "watchkeeper.db")
    results = {camera: (status, frames, findings) for camera, status, frames, findings in db.execute(
        "SELECT camera, status, frames, findings FROM inspection_results")}
    reasons = dict(db.execute("SELECT subject, reason FROM findings WHERE kind = 'protocol_error'"))
    for cameras in CAMERAS.values():
        for camera_id, picture in cameras:
            if picture is None:
                assert results[camera_id][:2] == ("ok", 2), (camera_id, results[camera_id], output)
            else:
                assert results[camera_id][0] == "fault" and "protocol_error" in results[camera_id][2]
                assert "16000x16000" in reasons[camera_id], reasons
    assert peak < MEMORY_LIMIT_MB, f"inspection peaked at {peak:.0f} MB"

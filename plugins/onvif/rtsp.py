"""Runs rtsp_helper.py under Debian's python3 (where PyGObject and GStreamer's RTSP server are) for the simulator."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .simulator import OnvifSimDevice

SYSTEM_PYTHON = "/usr/bin/python3"
HELPER = Path(__file__).with_name("rtsp_helper.py")
#: The camera's own scene (a JPEG the simulator drew), as H.264 like the cameras' main streams; the
#: running time burned in keeps consecutive frames different, as a real camera's are.
PIPELINE = ("( filesrc location={image} ! jpegdec ! videoconvert ! imagefreeze is-live=true "
            "! video/x-raw,framerate=10/1 ! timeoverlay valignment=bottom halignment=left ! videoconvert "
            "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtph264pay name=pay0 pt=96 )")
#: Every GStreamer element the pipeline names (caps filters have a '/'), with the Debian package that
#: holds it: the probe checks each, so a missing one is named before a stream answers 503.
ELEMENT_PACKAGES = {
    "filesrc": "libgstreamer1.0-0", "jpegdec": "gstreamer1.0-plugins-good",
    "videoconvert": "gstreamer1.0-plugins-base", "imagefreeze": "gstreamer1.0-plugins-good",
    "timeoverlay": "gstreamer1.0-x", "x264enc": "gstreamer1.0-plugins-ugly", "rtph264pay": "gstreamer1.0-plugins-good",
}
ELEMENTS = tuple(dict.fromkeys(
    part.strip(" ()").split()[0] for part in PIPELINE.split("!") if "/" not in part.strip(" ()").split()[0]))
PROBE = ("import sys, gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer; "
         "Gst.init(None); print(' '.join(e for e in sys.argv[1:] if not Gst.ElementFactory.find(e)))")
BASE_PACKAGES = ("python3-gi", "gir1.2-gst-rtsp-server-1.0")


def rtsp_available() -> str | None:
    """None when the RTSP helper can run here, else why not (naming the Debian packages it needs)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found: apt-get install python3 {' '.join(BASE_PACKAGES)}"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", PROBE, *ELEMENTS], capture_output=True, text=True, timeout=30)
    if probe.returncode:
        return ("GStreamer's RTSP server is not importable by /usr/bin/python3: apt-get install "
                + " ".join(BASE_PACKAGES + tuple(sorted(set(ELEMENT_PACKAGES.values())))))
    missing = probe.stdout.split()
    if missing:
        packages = sorted({ELEMENT_PACKAGES.get(element, "?") for element in missing})
        return f"GStreamer elements missing ({', '.join(missing)}): apt-get install {' '.join(packages)}"
    return None


def mounts(device: OnvifSimDevice, folder: Path) -> list[dict[str, str]]:
    """The paths GetStreamUri and GetReplayUri hand out for this device, each with the picture it
    shows: the channel's scene as its snapshot draws it (with the image faults it has now)."""
    from .simulator import _snapshot

    found = []
    for channel in range(1, device.state.channels + 1):
        image = folder / f"wk{device.index}-ch{channel}.jpg"
        image.write_bytes(_snapshot(device.index * 100 + channel, device.state.channel_faults(channel).image, 0))
        for path in (f"/wk{device.index}/ch{channel}/main", f"/wk{device.index}/ch{channel}/sub",
                     f"/wk{device.index}/replay/Recording_{channel}"):
            found.append({"path": path, "image": str(image)})
    return found


class RtspServer:
    def __init__(self, process: asyncio.subprocess.Process, folder: tempfile.TemporaryDirectory) -> None:
        self.process = process
        self.folder = folder

    async def stop(self) -> None:
        try:
            await self._stop_process()
        finally:
            self.folder.cleanup()

    async def _stop_process(self) -> None:
        if self.process.returncode is None:
            if self.process.stdin is not None:
                self.process.stdin.close()  # the helper stops when its stdin closes
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_rtsp(devices: Sequence[OnvifSimDevice], host: str, username: str,
                     password: str) -> tuple[RtspServer, int]:
    """One RTSP server (digest auth) for every simulated device; returns it and its port."""
    folder = tempfile.TemporaryDirectory(prefix="watchkeeper-rtsp-")
    config = {"host": host, "port": 0, "username": username, "password": password,
              "pipeline": PIPELINE,
              "mounts": [mount for device in devices for mount in mounts(device, Path(folder.name))]}
    process = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(HELPER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(config).encode() + b"\n")
    await process.stdin.drain()
    server = RtspServer(process, folder)
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
    except TimeoutError:
        await server.stop()
        raise RuntimeError("RTSP helper did not start within 30 s") from None
    if not line.startswith(b"ready "):
        await server.stop()
        raise RuntimeError(f"RTSP helper failed to start: {line[:200]!r}")
    return server, int(line.split()[1])

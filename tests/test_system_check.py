"""What pip cannot install is named: missing GStreamer elements, and the skip summary line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from watchkeeper.plugins.onvif import rtsp

HERE = Path(__file__).parent


def test_probe_checks_every_element_the_pipeline_names() -> None:
    assert set(rtsp.ELEMENTS) == {"filesrc", "jpegdec", "videoconvert", "imagefreeze", "timeoverlay", "x264enc",
                                  "rtph264pay"}
    assert set(rtsp.ELEMENTS) <= set(rtsp.ELEMENT_PACKAGES)


@pytest.mark.skipif(rtsp.rtsp_available() is not None, reason=rtsp.rtsp_available() or "")
def test_a_missing_element_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtsp, "ELEMENTS", (*rtsp.ELEMENTS, "nosuchoverlay"))
    monkeypatch.setitem(rtsp.ELEMENT_PACKAGES, "nosuchoverlay", "gstreamer1.0-nosuch")
    reason = rtsp.rtsp_available()
    assert reason == "GStreamer elements missing (nosuchoverlay): apt-get install gstreamer1.0-nosuch"


def test_skips_for_system_packages_are_summarised_in_one_line(tmp_path: Path) -> None:
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_needs_packages.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.skip(reason='GStreamer elements missing (timeoverlay): apt-get install gstreamer1.0-x')\n"
        "def test_one():\n    pass\n\n"
        "@pytest.mark.skip(reason='GStreamer elements missing (timeoverlay): apt-get install gstreamer1.0-x')\n"
        "def test_two():\n    pass\n\n"
        "def test_runs():\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    line = next(line for line in result.stdout.splitlines() if "skipped for want of system packages" in line)
    assert line.startswith("2 tests skipped for want of system packages (2 × GStreamer elements missing")
    assert "xargs -a .ci/apt-packages apt-get install" in line

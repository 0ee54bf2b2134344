"""The wheel installs one import package, `watchkeeper`, with the plugins inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_one_top_level_package(tmp_path: Path) -> None:
    # The kernel is compiled unoptimised and without debug information: this wheel is only read for its
    # layout, and at -O0 -g0 gcc takes half the CPU (10 s of 20 on a fresh clone). Later flags win.
    env = dict(os.environ, CFLAGS=f"{os.environ.get('CFLAGS', '')} -O0 -g0".strip())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, timeout=600, env=env)
    wheel = next(tmp_path.glob("watchkeeper-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"watchkeeper", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "watchkeeper/plugins/__init__.py" in names
    assert "watchkeeper/hookspecs.py" in names and "watchkeeper/testing/conformance.py" in names
    # What the installed appliance reads besides its modules: the compiled kernel, the report and
    # dashboard templates, the Chinese catalog, and every vendor plugin.
    assert any(n.startswith("watchkeeper/analysis/frames.") and n.endswith(".so") for n in names)
    for template in ("report.html", "dashboard.html", "journal.html"):
        assert f"watchkeeper/faces/templates/{template}" in names
    assert "watchkeeper/locale/zh_CN/LC_MESSAGES/watchkeeper.mo" in names
    # `watchkeeper new-plugin` renders the package from these, installed.
    template = Path(__file__).resolve().parents[1] / "framework" / "faces" / "plugin_template"
    for path in template.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"watchkeeper/faces/plugin_template/{path.relative_to(template).as_posix()}" in names
    for vendor in ("onvif", "hikvision", "dahua", "osdp"):
        assert f"watchkeeper/plugins/{vendor}/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "watchkeeper = watchkeeper.faces.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

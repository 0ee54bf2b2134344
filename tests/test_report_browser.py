"""The HTML report renders in headless Chromium with its charts drawn."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchkeeper.faces.report import build_report
from watchkeeper.faces.report_render import find_chromium, render_html

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (.ci/apt-packages installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000"]
PROBE = """<script>window.addEventListener("load", () => {
  document.body.dataset.charts = [...document.querySelectorAll("img.chart")]
    .map(img => img.id + ":" + img.naturalWidth + "x" + img.naturalHeight).join(",");
});</script></body>"""


def add_evidence(app) -> None:
    now = datetime.now(timezone.utc)
    app.store.db["clock_readings"].insert_all([
        {"device": device, "time_utc": (now - timedelta(hours=h)).isoformat(), "offset_seconds": offset + h,
         "round_trip_seconds": 0.01, "reference": "system clock", "time_zone": "CST-8:00:00", "ntp_enabled": 1,
         "corrected": 0}
        for device, offset in (("gate", 0.5), ("lobby", 40.0)) for h in range(0, 6)])
    today = now.astimezone(app.site.zone).date().isoformat()
    app.store.db["coverage"].insert({"camera": "gate", "day": today, "covered_seconds": 3000.0,
                                     "expected_seconds": 3600.0, "checked_at": now.isoformat()})
    app.store.db["gaps"].insert({"camera": "gate", "start_utc": (now - timedelta(hours=3)).isoformat(),
                                 "end_utc": (now - timedelta(hours=2)).isoformat(), "seconds": 3600.0,
                                 "checked_at": now.isoformat()})


def test_report_renders_with_charts(app, tmp_path: Path, monkeypatch) -> None:
    add_evidence(app)
    report = build_report(app, "day")
    report["evidence"]["R1"]["cameras"] = [{"id": "gate", "name": "", "location": "Gate", "purpose": "vehicles",
                                            "zone": "perimeter"}]
    html = render_html(report, app.site.zone)
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", PROBE), encoding="utf-8")
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dom = subprocess.run([CHROMIUM, *FLAGS, profile, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'data-charts="clock-chart:' in dom and "coverage-chart:" in dom
    charts = dom.split('data-charts="')[1].split('"')[0].split(",")
    sizes = {name: tuple(int(v) for v in size.split("x")) for name, size in (c.split(":") for c in charts)}
    assert all(width > 300 and height > 100 for width, height in sizes.values()), sizes
    screenshot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, profile, "--window-size=1200,2400", f"--screenshot={screenshot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert screenshot.stat().st_size > 20_000

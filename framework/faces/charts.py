"""The report's charts, drawn with matplotlib (Agg) into PNG data URIs embedded in the HTML."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402  (the backend must be chosen first)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from watchkeeper.core.i18n import _  # noqa: E402

#: Latin text in DejaVu (matplotlib's own), Chinese labels from Noto Sans CJK (.ci/apt-packages
#: installs fonts-noto-cjk): matplotlib falls back glyph by glyph along this list. Families this machine
#: lacks are left out (matplotlib would log each one it cannot find on every chart).
FONT_FAMILIES = ("DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei")
_installed = {entry.name for entry in font_manager.fontManager.ttflist}
plt.rcParams["font.family"] = [family for family in FONT_FAMILIES if family in _installed] or ["sans-serif"]


def _data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def clock_chart(readings: list[dict[str, Any]], tolerance: float, zone: Any) -> str | None:
    """Offset per device over the period, with the tolerance band shaded."""
    if not readings:
        return None
    by_device: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for row in readings:
        by_device[row["device"]].append((datetime.fromisoformat(row["time_utc"]).astimezone(zone), row["offset_seconds"]))
    figure, axes = plt.subplots(figsize=(9, 3.2))
    axes.axhspan(-tolerance, tolerance, color="#dff0d8", label=f"±{tolerance:g} s")
    for device, points in sorted(by_device.items()):
        times, offsets = zip(*sorted(points))
        axes.plot(times, offsets, marker="o", markersize=3, label=device)
    axes.set_ylabel(_("offset (s)"))
    axes.set_title(_("Clock offset per device"))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=zone))
    axes.legend(fontsize=7, ncols=4, loc="upper left")
    figure.autofmt_xdate()
    return _data_uri(figure)


def coverage_chart(cameras: list[str], coverage: list[dict[str, Any]], gaps: list[dict[str, Any]],
                   start: datetime, end: datetime, zone: Any) -> str | None:
    """One bar per camera over the period: recorded in green, gaps in red."""
    if not cameras or not (coverage or gaps):
        return None
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(cameras) + 1.2))
    for index, camera in enumerate(cameras):
        days = sorted(row["day"] for row in coverage if row["camera"] == camera)
        if days:
            # Coverage is kept per day; the bar starts at the first day with recording in the period.
            first = max(start.astimezone(zone), datetime.fromisoformat(days[0]).replace(tzinfo=zone))
            axes.broken_barh([(mdates.date2num(first), mdates.date2num(end.astimezone(zone)) - mdates.date2num(first))],
                             (index - 0.3, 0.6), color="#5cb85c")
        for gap in (g for g in gaps if g["camera"] == camera):
            gap_start = datetime.fromisoformat(gap["start_utc"]).astimezone(zone)
            gap_end = datetime.fromisoformat(gap["end_utc"]).astimezone(zone)
            axes.broken_barh([(mdates.date2num(gap_start), mdates.date2num(gap_end) - mdates.date2num(gap_start))],
                             (index - 0.3, 0.6), color="#d9534f")
    axes.set_yticks(range(len(cameras)), cameras)
    axes.set_xlim(mdates.date2num(start.astimezone(zone)), mdates.date2num(end.astimezone(zone)))
    axes.xaxis_date(tz=zone)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=zone))
    axes.set_title(_("Recording coverage (red: gaps)"))
    figure.autofmt_xdate()
    return _data_uri(figure)

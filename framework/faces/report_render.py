"""Turns a built report into files: HTML (with charts), JSON, and PDF through headless Chromium."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from watchkeeper.core.files import replacing, write_atomically
from watchkeeper.faces.charts import clock_chart, coverage_chart
# The one Chromium launcher; find_chromium and html_to_pdf stay importable from here for older callers.
from watchkeeper.faces.pdf import PdfError, find_chromium, html_to_pdf  # noqa: F401
from watchkeeper.core.i18n import _, current_language



def templates() -> jinja2.Environment:
    """The package's HTML templates (report, dashboard, journal), autoescaped."""
    return jinja2.Environment(loader=jinja2.PackageLoader("watchkeeper.faces", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)


#: Evidence ids a clause row shows per kind before "… N more" (the JSON lists them all).
EVIDENCE_SHOWN = 8


def evidence_text(evidence: dict[str, list[Any]]) -> str:
    """A verdict's evidence ids as one line: 'journal 3, 5; inspection_runs 1'."""
    parts = []
    for kind, ids in evidence.items():
        shown = ", ".join(str(i) for i in ids[:EVIDENCE_SHOWN])
        more = _(" … {count} more").format(count=len(ids) - EVIDENCE_SHOWN) if len(ids) > EVIDENCE_SHOWN else ""
        parts.append(f"{kind} {shown}{more}")
    return "; ".join(parts) or "—"


def render_html(report: dict[str, Any], zone: Any) -> str:
    def local(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""

    start, end = (datetime.fromisoformat(report["period"][k]) for k in ("start", "end"))
    evidence = report["evidence"]
    latest: dict[str, dict[str, Any]] = {}
    for row in evidence["R5"]["results"]:
        latest[row["camera"]] = row  # results are in run order, so the last one per camera wins
    cameras = [c["id"] for c in evidence["R1"]["cameras"]]
    return templates().get_template("report.html").render(
        report=report, t=_, language=current_language(), local=local, evidence_text=evidence_text,
        zone_name=str(zone),
        local_date=lambda value: datetime.fromisoformat(value).astimezone(zone).date().isoformat(),
        gb=lambda value: f"{value / 1e9:.0f}" if value else "?",
        period_label=f"{report['period']['name']}: {local(report['period']['start'])} – {local(report['period']['end'])}",
        cameras=list(latest.values()),
        clock_chart=clock_chart(evidence["R7"]["readings"], evidence["R7"]["tolerance_seconds"], zone),
        coverage_chart=coverage_chart(cameras, evidence["R8"]["coverage"], evidence["R8"]["gaps"], start, end, zone),
    )


def write_report(report: dict[str, Any], zone: Any, folder: Path, formats: tuple[str, ...]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    first_day = datetime.fromisoformat(report["period"]["start"]).astimezone(zone).date()
    stem = f"report-{report['period']['name']}-{first_day.isoformat()}"
    written = []
    html = render_html(report, zone) if {"html", "pdf"} & set(formats) else ""
    for kind in formats:
        path = folder / f"{stem}.{kind}"
        # Whole or not at all: a full disk leaves no half report beside the journal entry listing it.
        if kind == "json":
            write_atomically(path, json.dumps(report, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
        elif kind == "html":
            write_atomically(path, html.encode("utf-8"))
        elif kind == "pdf":
            with replacing(path) as temporary:
                html_to_pdf(html, temporary)
        written.append(path)
    return written


def publish(app: Any, period: str, ending: datetime | None, formats: tuple[str, ...], folder: Path) -> list[Path]:
    """Build, write and journal a report: each is listed with its files' hashes and the journal head
    it certifies (R6, R10), so a rewritten journal no longer matches the reports already handed out."""
    from watchkeeper.faces.report import build_report

    data = build_report(app, period, ending)
    paths = write_report(data, app.site.zone, folder, formats)
    verification = data["evidence"]["R6"]["verification"]
    app.journal.append("operation", "watchkeeper", "report", {
        "period": data["period"],
        "files": [{"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()} for path in paths],
        "journal_head": {"seq": verification["head_seq"], "hash": verification["head_hash"]}})
    return paths

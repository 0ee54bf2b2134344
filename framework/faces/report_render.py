"""Turns a built report into files: HTML (with charts), JSON, and PDF through headless Chromium."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from watchkeeper.core.files import replacing, write_atomically
from watchkeeper.core.findings import kind_title, severity_name
from watchkeeper.core.i18n import N_, _, current_language, format_date, format_datetime, localize, stored_text
from watchkeeper.core.models import DISK_STATUS_NAMES
from watchkeeper.evidence.findingstore import reason_of
from watchkeeper.site.regulation import WORDING_LABEL, WORDING_NOTE, quoted
# The one Chromium launcher; find_chromium and html_to_pdf stay importable from here for older callers.
from watchkeeper.faces.pdf import PdfError, find_chromium, html_to_pdf  # noqa: F401

#: Stored words the report shows translated (journal kinds, request and visitor statuses, door events):
#: listed here so the catalogue has them.
STORED_WORDS = (N_("access"), N_("clock"), N_("config"), N_("inspection"), N_("maintenance"), N_("operation"),
                N_("retention"), N_("retrieval"), N_("pending"), N_("approved"), N_("rejected"), N_("exported"),
                N_("checked_out"), N_("entry"), N_("exit"), N_("forced"), N_("manual_open"))


def templates() -> jinja2.Environment:
    """The package's HTML templates (report, dashboard, journal), autoescaped."""
    return jinja2.Environment(loader=jinja2.PackageLoader("watchkeeper.faces", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)


#: What the evidence kinds (where the evidence lives: a table, the journal) are called in the report.
EVIDENCE_LABELS = {
    "journal": N_("journal"), "inspection_runs": N_("playback checks"), "clock_readings": N_("clock readings"),
    "reference_readings": N_("standard time readings"), "coverage": N_("coverage"), "gaps": N_("gaps"),
    "disks": N_("disks"), "access_events": N_("access events"), "visitors": N_("visitors"),
    "maintenance_ticks": N_("room care ticks"), "footage_requests": N_("retrieval requests"),
    "footage_exports": N_("footage exports"), "reviews": N_("reviews"), "findings": N_("findings"),
}
#: Evidence ids a clause row shows per kind before "… N more" (the JSON lists them all).
EVIDENCE_SHOWN = 8


def evidence_text(evidence: dict[str, list[Any]]) -> str:
    """A verdict's evidence ids as one line: 'journal 3, 5; playback checks 1' (labels translated)."""
    parts = []
    for kind, ids in evidence.items():
        shown = ", ".join(str(i) for i in ids[:EVIDENCE_SHOWN])
        more = _(" … {count} more").format(count=len(ids) - EVIDENCE_SHOWN) if len(ids) > EVIDENCE_SHOWN else ""
        parts.append(f"{localize(EVIDENCE_LABELS.get(kind, kind))} {shown}{more}")
    return "; ".join(parts) or "—"


def render_html(report: dict[str, Any], zone: Any) -> str:
    # matplotlib costs every command ~0.5 s to import: only the report that draws pays it.
    from watchkeeper.faces.charts import clock_chart, coverage_chart

    def local(value: str | None) -> str:
        return format_datetime(value, zone)

    start, end = (datetime.fromisoformat(report["period"][k]) for k in ("start", "end"))
    evidence = report["evidence"]
    latest: dict[str, dict[str, Any]] = {}
    for row in evidence["R5"]["results"]:
        latest[row["camera"]] = row  # results are in run order, so the last one per camera wins
    cameras = [c["id"] for c in evidence["R1"]["cameras"]]
    return templates().get_template("report.html").render(
        report=report, t=_, language=current_language(), local=local, evidence_text=evidence_text,
        kind_title=kind_title, severity_name=severity_name, reason_of=reason_of, quoted=quoted, localize=localize,
        stored_text=stored_text, wording_label=WORDING_LABEL, wording_note=WORDING_NOTE,
        disk_status=lambda value: localize(DISK_STATUS_NAMES.get(value, value)),
        task_title={task["id"]: task["title"] for task in evidence["R4"]["tasks"]},
        zone_name=str(zone),
        local_date=lambda value: datetime.fromisoformat(value).astimezone(zone).date().isoformat(),
        day_label=lambda value: format_date(datetime.fromisoformat(value).astimezone(zone), weekday=True),
        gb=lambda value: f"{value / 1e9:.0f}" if value else "?",
        period_label=f"{_(report['period']['name'])}{_(': ')}{local(report['period']['start'])} – {local(report['period']['end'])}",
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

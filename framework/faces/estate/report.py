"""`watchkeeper estate report`: the estate's periodic evaluation, every site's clauses over a period."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from watchkeeper.core.files import write_atomically
from watchkeeper.core.i18n import _, current_language
from watchkeeper.faces.estate.config import EstateConfig
from watchkeeper.faces.estate.store import EstateStore
from watchkeeper.faces.estate.views import STATUS_ORDER, TITLES, period_overview
from watchkeeper.faces.report import PERIODS
from watchkeeper.faces.report_render import templates


def period_bounds(zone: ZoneInfo, period: str, ending: datetime | None) -> tuple[datetime, datetime]:
    """The period ending at the end of `ending`'s estate-local day (today by default)."""
    local = (ending or datetime.now(timezone.utc)).astimezone(zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
    return (end - timedelta(days=PERIODS[period])).astimezone(timezone.utc), end.astimezone(timezone.utc)


def build_estate_report(store: EstateStore, config: EstateConfig, period: str,
                        ending: datetime | None = None) -> dict[str, Any]:
    start, end = period_bounds(ZoneInfo(config.time_zone), period, ending)
    sites = period_overview(store, start, end, config.stale_minutes)
    totals = {clause: {status: 0 for status in (*STATUS_ORDER, "none")} for clause in TITLES}
    for site in sites:
        for clause, status in site["clauses"].items():
            totals[clause][status or "none"] += 1
    refusals = int(store.scalar("SELECT coalesce(sum(count), 0) FROM refusals WHERE time >= ? AND time < ?",
                                [start.isoformat(), end.isoformat()]))  # a Decimal from PostgreSQL
    return {"estate": config.name, "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "period": {"name": period, "start": start.isoformat(), "end": end.isoformat()},
            "sites": sites, "totals": totals, "refusals": refusals}


def write_estate_report(report: dict[str, Any], config: EstateConfig, folder: Path) -> list[Path]:
    zone = ZoneInfo(config.time_zone)

    def local(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "—"

    period = report["period"]
    label = f"{_(period['name'])}: {local(period['start'])} – {local(period['end'])}"
    html = templates().get_template("estate_report.html").render(
        report=report, t=_, language=current_language(), local=local, titles=TITLES, statuses=STATUS_ORDER,
        estate=config.name, period_label=label)
    folder.mkdir(parents=True, exist_ok=True)
    first = datetime.fromisoformat(period["start"]).astimezone(zone).date().isoformat()
    stem = folder / f"estate-report-{period['name']}-{first}"
    written = [stem.with_suffix(".html"), stem.with_suffix(".json")]
    write_atomically(written[0], html.encode("utf-8"))
    write_atomically(written[1], json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"))
    return written

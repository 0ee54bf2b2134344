"""What the estate's dashboard and report show: every site's clauses, the worst site first."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from watchkeeper.evidence.witness import head_line
from watchkeeper.faces.estate.store import EstateStore
from watchkeeper.faces.report import CLAUSE_TITLES
from watchkeeper.site.checks import CLAUSES

#: Worst first: a clause's status and its weight in a site's rank.
STATUS_ORDER = ("not met", "no evidence", "met", "not due")


def worst(statuses: list[str]) -> str | None:
    """The worst of several statuses of one clause (over a period's snapshots)."""
    return min(statuses, key=STATUS_ORDER.index) if statuses else None


def _rank(site: dict[str, Any]) -> tuple[Any, ...]:
    counts = site["counts"]
    return (not site["flag"], -counts.get("not met", 0), -counts.get("no evidence", 0), not site["silent"],
            -site["open_findings"], site["id"])


def _site_row(store: EstateStore, site: dict[str, Any], clauses: dict[str, str | None], now: datetime,
              stale: timedelta) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for status in clauses.values():
        if status:
            counts[status] = counts.get(status, 0) + 1
    last = datetime.fromisoformat(site["last_push_at"]) if site["last_push_at"] else None
    findings = store.scalar("SELECT count(*) FROM findings WHERE site = ?", [site["id"]])
    # int(): PostgreSQL's sum of a bigint is a Decimal, which JSON cannot hold.
    refused = int(store.scalar("SELECT coalesce(sum(count), 0) FROM refusals WHERE site = ?", [site["id"]]))
    return {"id": site["id"], "name": site["site_name"] or site["id"], "clauses": clauses, "counts": counts,
            "flag": site["flag"], "flag_status": site["flag_status"], "flagged_at": site["flagged_at"],
            "last_push_at": site["last_push_at"], "silent": last is None or now - last > stale,
            "tip_seq": site["tip_seq"], "open_findings": findings, "refusals": refused,
            "revoked": bool(site["revoked_at"])}


def overview(store: EstateStore, stale_minutes: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every enrolled site with each clause's latest verdict, ranked worst first."""
    now = now or datetime.now(timezone.utc)
    latest: dict[str, dict[str, str | None]] = {}
    for row in store.rows("SELECT site, clause, status FROM verdicts"):
        latest.setdefault(row["site"], {})[row["clause"]] = row["status"]
    sites = [_site_row(store, site, {c: latest.get(site["id"], {}).get(c) for c in CLAUSES}, now,
                       timedelta(minutes=stale_minutes))
             for site in store.rows("SELECT * FROM sites ORDER BY id")]
    return sorted(sites, key=_rank)


def period_overview(store: EstateStore, start: datetime, end: datetime, stale_minutes: int) -> list[dict[str, Any]]:
    """Every site with each clause's worst status among the verdicts it pushed for days in [start, end)."""
    seen: dict[str, dict[str, list[str]]] = {}
    for row in store.rows("SELECT site, clause, status FROM verdict_history WHERE period_start >= ? AND period_start < ?",
                          [start.isoformat(), end.isoformat()]):
        seen.setdefault(row["site"], {}).setdefault(row["clause"], []).append(row["status"])
    sites = [_site_row(store, site, {c: worst(seen.get(site["id"], {}).get(c, [])) for c in CLAUSES}, end,
                       timedelta(minutes=stale_minutes))
             for site in store.rows("SELECT * FROM sites ORDER BY id")]
    return sorted(sites, key=_rank)


def site_detail(store: EstateStore, site_id: str) -> dict[str, Any] | None:
    """One site's drill-down: its clauses with reasons, open findings, heads, inspections, reports."""
    rows = store.rows("SELECT * FROM sites WHERE id = ?", [site_id])
    if not rows:
        return None
    verdicts = {row["clause"]: {**row, "evidence": json.loads(row["evidence"] or "{}")}
                for row in store.rows("SELECT * FROM verdicts WHERE site = ?", [site_id])}
    return {
        "site": rows[0],
        "verdicts": [verdicts.get(clause, {"clause": clause, "status": None, "reason": "", "rule": "", "evidence": {}})
                     for clause in CLAUSES],
        "findings": store.rows("SELECT * FROM findings WHERE site = ? ORDER BY opened_at", [site_id]),
        "heads": store.rows("SELECT * FROM heads WHERE site = ? ORDER BY id DESC LIMIT 20", [site_id]),
        "problems": store.rows("SELECT * FROM heads WHERE site = ? AND status NOT IN ('first', 'extends', 'same')"
                               " ORDER BY id DESC LIMIT 20", [site_id]),
        "inspections": store.rows("SELECT * FROM inspections WHERE site = ? ORDER BY id DESC LIMIT 20", [site_id]),
        "reports": store.rows("SELECT * FROM reports WHERE site = ? ORDER BY seq DESC LIMIT 20", [site_id]),
        "refusals": store.rows("SELECT * FROM refusals WHERE site = ? ORDER BY id DESC LIMIT 20", [site_id]),
    }


TITLES = CLAUSE_TITLES


def witness_lines(store: EstateStore, site_id: str) -> list[str]:
    """The heads the estate accepted from a site, as witness lines for the site's `journal verify
    --witness`: a chain rewritten since (even with its anchor) no longer matches them."""
    site = store.rows("SELECT site_name, key_id FROM sites WHERE id = ?", [site_id])
    if not site:
        raise KeyError(site_id)
    heads = store.rows("SELECT seq, hash, time FROM heads WHERE site = ? AND status IN ('first', 'extends')"
                       " ORDER BY id", [site_id])
    return [head_line(site[0]["site_name"] or site_id, site[0]["key_id"] or "", head["seq"], head["hash"],
                      head["time"] or "") for head in heads]

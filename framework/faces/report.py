"""The compliance report (R10): per clause, its status and the evidence behind it, for a period."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from typing import Any

from watchkeeper import __version__
from watchkeeper.evidence.witness import WitnessError
from watchkeeper.rules.policy import training_problem
from watchkeeper.rules.verdicts import judge
from watchkeeper.site.presets import DEFAULT_PRESET, PRESET_KEYS, PRESETS, basis_text

PERIODS = {"day": 1, "week": 7, "month": 30}
CLAUSE_TITLES = {
    "R1": "Scope and purpose of every camera defined",
    "R2": "Only designated, trained operators operate the system",
    "R3": "Monitoring room admits staff; visitors only with approval and registration",
    "R4": "Room kept clean and ventilated, nothing unrelated stored",
    "R5": "Playback check of every camera before each shift",
    "R6": "Daily monitoring journal kept",
    "R7": "Device clocks within tolerance of standard time",
    "R8": "Recordings kept for the required period without loss",
    "R9": "Footage viewed, copied or retrieved only with authorisation and approval",
    "R10": "Supervision and periodic evaluation",
}
SCHEMA_VERSION = 2


def _rows(app: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    # A rule plugin that is not installed leaves its table absent: that clause simply has no evidence.
    if not _has_table(app, sql.split(" FROM ")[1].split()[0]):
        return []
    cursor = app.store.conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _has_table(app: Any, name: str) -> bool:
    return app.store.db[name].exists()


def period_bounds(app: Any, period: str, ending: datetime | None = None) -> tuple[datetime, datetime]:
    """The period ending at the end of `ending`'s site-local day (today by default)."""
    zone = app.site.zone
    local = (ending or datetime.now(timezone.utc)).astimezone(zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
    start = end - timedelta(days=PERIODS[period])
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _operators(app: Any, moment: datetime) -> list[dict[str, Any]]:
    """The site's current operators (from the store) and whether each was trained at `moment` (R2)."""
    day = moment.astimezone(app.site.zone).date()
    rows = []
    for person in app.people.all():
        if "operator" in person.roles and not person.revoked:
            problem = training_problem(person, day, app.site.policies.training_refresher_days)
            rows.append({"id": person.id, "name": person.name,
                         "trained_on": person.trained_on.isoformat() if person.trained_on else None,
                         "trained": problem is None, "training_problem": problem})
    return rows


def preset_section(site: Any) -> dict[str, Any]:
    """Which sector preset applies, the values in force, and every value the site wrote over it."""
    policies = site.policies
    preset = PRESETS.get(policies.preset, PRESETS[DEFAULT_PRESET])
    return {"name": policies.preset, "basis": basis_text(policies.preset),
            "values": {key: getattr(policies, key) for key in PRESET_KEYS},
            "overrides": [{"key": f"policies.{key}", "preset": preset.value(key), "site": getattr(policies, key)}
                          for key in policies.overrides]
            + [{"key": f"cameras[id={camera.id}].retention_days", "preset": preset.retention_days,
                "site": camera.retention_days} for camera in site.cameras if camera.retention_days is not None]}


def _verify(app: Any) -> Any:
    """The journal against its anchor and the site's witness file (an unreadable one counts as none)."""
    try:
        heads = app.witness_heads()
    except WitnessError:
        heads = []
    return app.journal.verify(witness=heads)


def build_report(app: Any, period: str = "day", ending: datetime | None = None,
                 verification: Any = None) -> dict[str, Any]:
    """Gather every clause's evidence for the period into one JSON-ready dict (docs/report-schema.json).

    `verification`: the journal's, when the caller already has a current one (the dashboard keeps it
    per head); by default the whole chain is walked here.
    """
    start, end = period_bounds(app, period, ending)
    span = [start.isoformat(), end.isoformat()]
    findings = _rows(app, "SELECT * FROM findings WHERE opened_at < ? AND (closed_at IS NULL OR closed_at > ?)"
                          " ORDER BY opened_at", [span[1], span[0]])
    verification = verification if verification is not None else _verify(app)
    journal_counts = {kind: count for kind, count in app.store.conn.execute(
        "SELECT kind, count(*) FROM journal WHERE time_utc >= ? AND time_utc < ? GROUP BY kind", span)}
    evidence: dict[str, dict[str, Any]] = {
        "R1": {"cameras": [{"id": c.id, "name": c.name, "location": c.location, "purpose": c.purpose,
                            "zone": c.zone} for c in app.site.cameras],
               "config_snapshots": journal_counts.get("config", 0)},
        "R2": {"operators": _operators(app, min(end, datetime.now(timezone.utc))),
               "refusals": app.store.conn.execute(
                   "SELECT count(*) FROM journal WHERE time_utc >= ? AND time_utc < ? AND body LIKE '%\"refused\"%'",
                   span).fetchone()[0]},
        "R3": {"access_events": _rows(app, "SELECT * FROM access_events WHERE time_utc >= ? AND time_utc < ?"
                                           " ORDER BY time_utc", span),
               "visitors": [{k: v for k, v in row.items() if k != "pin_hash"} for row in _rows(
                   app, "SELECT * FROM visitors WHERE valid_from < ? AND valid_to > ?", [span[1], span[0]])]},
        "R4": {"ticks": _rows(app, "SELECT id, task, done_by, done_at, note, countersigned_by, countersigned_at"
                                   " FROM maintenance_ticks WHERE done_at >= ? AND done_at < ? ORDER BY done_at", span),
               "tasks": [{"id": t.id, "title": t.title, "every": t.every, "countersign": t.countersign}
                         for t in app.site.maintenance]},
        "R5": {"runs": _rows(app, "SELECT * FROM inspection_runs WHERE started_at >= ? AND started_at < ?"
                                  " ORDER BY started_at", span),
               "results": _rows(app, "SELECT camera, channel, status, run, thumbnail FROM inspection_results WHERE"
                                     " run IN (SELECT id FROM inspection_runs WHERE started_at >= ? AND started_at < ?)",
                                span)},
        "R6": {"entries_by_kind": journal_counts, "verification": {
            "ok": verification.ok, "entries": verification.entries, "head_seq": verification.head_seq,
            "head_hash": verification.head_hash,
            "first_bad_seq": verification.problem.seq if verification.problem else None,
            "reason": verification.problem.reason if verification.problem else None,
            # The head is printed so it can be kept outside the appliance, a witness to compare with later.
            "status": verification.status, "key_id": verification.key_id, "head_time": verification.head_time,
            "problems": [{"seq": p.seq, "status": p.status, "reason": p.reason} for p in verification.problems]}},
        "R7": {"readings": _rows(app, "SELECT id, device, time_utc, offset_seconds, round_trip_seconds, reference,"
                                      " time_zone, corrected, tolerance_seconds FROM clock_readings WHERE time_utc >= ?"
                                      " AND time_utc < ? ORDER BY time_utc", span),
               "references": _rows(app, "SELECT id, time_utc, server, offset_seconds, round_trip_seconds, stratum, error,"
                                        " reason, reason_msg FROM reference_readings WHERE time_utc >= ? AND time_utc < ? ORDER BY id", span),
               "ntp_servers": list(app.site.policies.ntp_servers),
               "tolerance_seconds": app.site.policies.clock_tolerance_seconds},
        "R8": {"coverage": _rows(app, "SELECT camera, day, covered_seconds, expected_seconds FROM coverage"
                                      " WHERE day >= ? AND day < ? ORDER BY camera, day",
                                 [start.astimezone(app.site.zone).date().isoformat(),
                                  end.astimezone(app.site.zone).date().isoformat()]),
               "gaps": _rows(app, "SELECT camera, start_utc, end_utc, seconds FROM gaps WHERE end_utc > ? AND"
                                  " start_utc < ? GROUP BY camera, start_utc ORDER BY camera, start_utc",
                             [span[0], span[1]]),
               "disks": _rows(app, "SELECT device, disk, status, capacity_bytes, free_bytes, max(checked_at) AS"
                                   " checked_at FROM disks GROUP BY device, disk", [])},
        "R9": {"requests": _rows(app, "SELECT * FROM footage_requests WHERE requested_at >= ? AND requested_at < ?"
                                      " ORDER BY requested_at", span),
               "exports": _rows(app, "SELECT id, request, sha256, size_bytes, exported_by, exported_at, deleted_at"
                                     " FROM footage_exports WHERE exported_at >= ? AND exported_at < ?", span)},
        "R10": {"previous_reports": _rows(app, "SELECT seq, time_utc, body FROM journal WHERE kind = 'operation'"
                                               " AND subject = 'report' ORDER BY seq DESC LIMIT 10", []),
                "reviews": _rows(app, "SELECT id, report_seq, period_name, period_start, period_end, signed_by, signed_at,"
                                      " comments, actions FROM reviews ORDER BY id DESC LIMIT 10", []),
                "review_interval_days": app.site.policies.review_interval_days},
    }
    # Each clause's rule decides from the store alone (watchkeeper.rules.verdicts); the report shows it.
    clauses = [dict(verdict.to_dict(), title=CLAUSE_TITLES[verdict.clause])
               for verdict in judge(app, start, end, verification=verification)]
    report = {
        "schema_version": SCHEMA_VERSION, "generator": f"watchkeeper {__version__}",
        "site": {"name": app.site.name, "time_zone": app.site.time_zone, "preset": preset_section(app.site)},
        "period": {"name": period, "start": span[0], "end": span[1]},
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clauses": clauses,
        "findings": [dict(f, details=json.loads(f["details"] or "{}"),
                          age_days=round((datetime.now(timezone.utc) - datetime.fromisoformat(f["opened_at"])).total_seconds() / 86400, 2))
                     for f in findings],
        "evidence": evidence,
        "sections": [],
    }
    for sections in app.pm.hook.report_sections(report=report, site=app.site):
        report["sections"].extend(sections or [])
    return report


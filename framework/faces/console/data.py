"""What the console's screens and the JSON API show: plain, JSON-ready dicts read from the store."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from watchkeeper.rules import daybook, duty, maintenance, ownership, review
from watchkeeper.rules.access import visitor_problem

#: How many rows a history list shows at most (the journal pages on its own).
HISTORY = 200


def rows(app: Any, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    if not all(app.store.db[name].exists() for name in _tables(sql)):
        return []
    cursor = app.store.conn.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _tables(sql: str) -> list[str]:
    words = sql.replace("(", " ").replace(")", " ").split()
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word.upper() in ("FROM", "JOIN")
            and words[i + 1].isidentifier() and words[i + 1].upper() != "SELECT"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def camera_grid(app: Any) -> list[dict[str, Any]]:
    """Every camera in scope with its newest inspection result (status, findings, thumbnail)."""
    latest = {row["camera"]: row for row in rows(app, (
        "SELECT r.camera, r.status, r.findings, r.thumbnail IS NOT NULL AND r.thumbnail != '' AS has_thumbnail,"
        " r.playback, r.run, runs.started_at FROM inspection_results r JOIN inspection_runs runs ON runs.id = r.run"
        " WHERE r.id IN (SELECT max(id) FROM inspection_results GROUP BY camera)"))}
    grid = []
    for camera in app.site.cameras:
        row = latest.get(camera.id, {})
        grid.append({"id": camera.id, "location": camera.location, "zone": camera.zone,
                     "status": row.get("status", "unknown"), "findings": json.loads(row.get("findings") or "[]"),
                     "thumbnail": bool(row.get("has_thumbnail")), "inspected_at": row.get("started_at"),
                     "run": row.get("run")})
    return grid


def open_findings(app: Any, subject: str | None = None) -> list[dict[str, Any]]:
    where, params = "closed_at IS NULL", []
    if subject is not None:
        where, params = "subject = ?", [subject]
    found = rows(app, f"SELECT * FROM findings WHERE {where} ORDER BY id DESC LIMIT {HISTORY}", params)
    return [dict(row, details=json.loads(row["details"] or "{}"), **ownership.state(app, row["id"])) for row in found]


def shift(app: Any) -> dict[str, Any]:
    now = _now()
    start = duty.shift_at(app, now)
    return {"start": start.isoformat() if start else None,
            "label": duty.shift_label(app, start) if start else None,
            "on_duty": list(duty.on_duty(app, start)) if start else []}


def inspection(app: Any) -> dict[str, Any] | None:
    """The newest finished inspection run with each camera's result and its fault notes."""
    found = rows(app, "SELECT * FROM inspection_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1")
    if not found:
        return None
    run = found[0]
    results = rows(app, "SELECT camera, status, findings, playback FROM inspection_results WHERE run = ?"
                        " ORDER BY camera", [run["id"]])
    notes = {row["camera"]: row for row in rows(app, "SELECT * FROM inspection_fault_notes WHERE run = ?",
                                                 [run["id"]])}
    return dict(run, results=[dict(r, findings=json.loads(r["findings"] or "[]"), fault_note=notes.get(r["camera"]))
                              for r in results])


def handovers(app: Any) -> list[dict[str, Any]]:
    return rows(app, "SELECT * FROM handovers ORDER BY id DESC LIMIT 10")


def today(app: Any) -> dict[str, Any]:
    """The Today screen: the shift and who is on duty, the grid, open findings, the inspection, handovers."""
    return {"site": app.site.name, "shift": shift(app), "cameras": camera_grid(app),
            "findings": open_findings(app), "inspection": inspection(app), "handovers": handovers(app),
            "people": [{"id": p.id, "name": p.name, "roles": list(p.roles)} for p in app.people.all()
                       if not p.revoked]}


def frame(app: Any, camera_id: str, which: str) -> bytes | None:
    """The camera's reference JPEG (captured at commissioning) or its latest stored thumbnail."""
    import base64

    app.site.camera(camera_id)  # KeyError names an unknown camera
    if which == "reference":
        found = rows(app, "SELECT jpeg FROM baselines WHERE camera = ?", [camera_id])
        return found[0]["jpeg"] if found and found[0]["jpeg"] else None
    found = rows(app, "SELECT thumbnail FROM inspection_results WHERE camera = ? AND thumbnail IS NOT NULL"
                      " AND thumbnail != '' ORDER BY id DESC LIMIT 1", [camera_id])
    return base64.b64decode(found[0]["thumbnail"]) if found else None


def camera(app: Any, camera_id: str) -> dict[str, Any]:
    """The Camera screen: metrics history, clock readings, coverage and gaps, its findings."""
    config = app.site.camera(camera_id)  # KeyError names an unknown camera
    since = (_now() - timedelta(days=30)).isoformat()
    metrics = [dict(r, metrics=json.loads(r["metrics"] or "{}"), findings=json.loads(r["findings"] or "[]"))
               for r in rows(app, "SELECT r.run, runs.started_at, r.status, r.metrics, r.findings, r.playback"
                                  " FROM inspection_results r JOIN inspection_runs runs ON runs.id = r.run"
                                  f" WHERE r.camera = ? ORDER BY r.id DESC LIMIT {HISTORY}", [camera_id])]
    device = config.recorder if config.host is None and config.recorder else camera_id
    return {
        "id": camera_id, "location": config.location, "purpose": config.purpose, "zone": config.zone,
        "device": device, "retention_days": app.retention_days(camera_id),
        "metrics": [{"run": m["run"], "at": m["started_at"], "status": m["status"], "findings": m["findings"],
                     "playback": m["playback"],
                     **{k: m["metrics"].get(k) for k in ("mean", "sharpness", "noise", "colour_cast",
                                                         "under_fraction", "over_fraction")}} for m in metrics],
        "clock": rows(app, "SELECT time_utc, offset_seconds, reference, tolerance_seconds, corrected FROM"
                           f" clock_readings WHERE device = ? AND time_utc >= ? ORDER BY id LIMIT {HISTORY}",
                      [device, since]),
        "tolerance_seconds": app.clock_tolerance(device),
        "coverage": rows(app, "SELECT day, covered_seconds, expected_seconds FROM coverage WHERE camera = ?"
                              " ORDER BY day DESC LIMIT 31", [camera_id]),
        "gaps": rows(app, f"SELECT start_utc, end_utc, seconds FROM gaps WHERE camera = ? ORDER BY start_utc DESC"
                          f" LIMIT {HISTORY}", [camera_id]),
        "findings": open_findings(app, camera_id),
        "has_reference": frame(app, camera_id, "reference") is not None,
        "has_latest": frame(app, camera_id, "latest") is not None,
    }


def room(app: Any) -> dict[str, Any]:
    """The Room screen: each door's last event, access events, visitors, the care checklist."""
    now = _now()
    events = rows(app, f"SELECT * FROM access_events ORDER BY id DESC LIMIT {HISTORY}")
    visitors = [{k: v for k, v in row.items() if k != "pin_hash"}
                for row in rows(app, "SELECT * FROM visitors ORDER BY id DESC LIMIT 100")]
    for visitor in visitors:
        visitor["problem"] = visitor_problem(visitor, now) if visitor["status"] == "approved" else None
    doors = []
    for door in app.site.doors:
        last = next((e for e in events if e["door"] == door.id), None)
        doors.append({"id": door.id, "name": door.name, "last_event": last,
                      "open_findings": [f["kind"] for f in open_findings(app, door.id)]})
    ticks = rows(app, "SELECT * FROM maintenance_ticks ORDER BY id DESC LIMIT 50")
    tasks = {task.id: task for task in app.site.maintenance}
    return {
        "doors": doors, "events": events,
        "inside": [v for v in visitors if v["entered_at"] and not v["left_at"] and v["status"] != "checked_out"],
        "visitors": visitors,
        "checklist": [{"id": s.id, "title": s.title, "every": s.every, "countersign": tasks[s.id].countersign,
                       "last_done_at": s.last_done_at.isoformat() if s.last_done_at else None,
                       "last_done_by": s.last_done_by, "overdue": s.overdue}
                      for s in maintenance.states(app, now)],
        "ticks": [dict(t, needs_countersign=bool(tasks.get(t["task"]) and tasks[t["task"]].countersign
                                                 and not t["countersigned_by"])) for t in ticks],
    }


def footage(app: Any) -> dict[str, Any]:
    from watchkeeper.faces.console.actions import EXPORTS

    exports = rows(app, "SELECT id, request, sha256, size_bytes, exported_by, exported_at, deleted_at, path"
                        " FROM footage_exports ORDER BY id DESC")
    return {"requests": rows(app, f"SELECT * FROM footage_requests ORDER BY id DESC LIMIT {HISTORY}"),
            "exports": [dict({k: v for k, v in e.items() if k != "path"}, file=Path(e["path"]).name)
                        for e in exports],
            "holds": rows(app, "SELECT * FROM holds ORDER BY id DESC"),
            # requests whose export this process is running in the background
            "exporting": sorted(request for store, request in EXPORTS if store == str(app.site.store)),
            "cameras": [c.id for c in app.site.cameras]}


def export_file(app: Any, export_id: int, what: str) -> Path:
    """An export's clip or manifest on disk; KeyError when unknown or deleted."""
    found = rows(app, "SELECT * FROM footage_exports WHERE id = ? AND deleted_at IS NULL", [export_id])
    if not found:
        raise KeyError(f"no footage export {export_id}")
    path = Path(found[0]["manifest" if what == "manifest" else "path"])
    if not path.is_file():
        raise KeyError(f"export {export_id}: {path.name} is no longer on disk")
    return path


def journal(app: Any, kind: str = "", actor: str = "", day: date | None = None, before: int | None = None,
            limit: int = 100) -> dict[str, Any]:
    """One page of journal entries, newest first, filtered by kind, actor and site day."""
    where, params = ["seq < ?"], [before or 2**63 - 1]
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if day is not None:
        start, end = daybook.day_bounds(app, day)
        where += ["time_utc >= ?", "time_utc < ?"]
        params += [start.isoformat(), end.isoformat()]
    entries = rows(app, f"SELECT * FROM journal WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                   [*params, limit])
    older = entries[-1]["seq"] if len(entries) == limit and entries[-1]["seq"] > 1 else None
    kinds = [r["kind"] for r in rows(app, "SELECT DISTINCT kind FROM journal ORDER BY kind")]
    actors = [r["actor"] for r in rows(app, "SELECT DISTINCT actor FROM journal ORDER BY actor")]
    summary = daybook.summary_of(app, day or _now().astimezone(app.site.zone).date())
    return {"entries": entries, "older": older, "kinds": kinds, "actors": actors, "summary": summary}


def reports(app: Any) -> dict[str, Any]:
    """Journaled reports (newest first) with their files, and the supervisors' signed reviews."""
    entries = rows(app, "SELECT seq, time_utc, body FROM journal WHERE kind = 'operation' AND subject = 'report'"
                        " ORDER BY seq DESC LIMIT 50")
    return {"reports": [{"seq": e["seq"], "time_utc": e["time_utc"], **json.loads(e["body"])} for e in entries],
            "reviews": list(reversed(review.reviews(app))) if app.store.db["reviews"].exists() else []}


def report_folders(app: Any) -> list[Path]:
    """Where reports are written: `reports` beside the store (the CLI's default) and beside the config."""
    folders = [app.site.store.parent / "reports"]
    if app.site.source is not None:
        folders.append(app.site.source.parent / "reports")
    return [folder for folder in dict.fromkeys(folders) if folder.is_dir()]


def report_file(app: Any, seq: int, name: str) -> Path:
    """A file of a journaled report, found where reports are written and matched by its hash."""
    import hashlib

    entry = review.report_entry(app, seq)
    listed = {f["name"]: f["sha256"] for f in entry["body"].get("files", [])}
    if name not in listed:
        raise KeyError(f"report {seq} has no file {name!r}")
    for path in sorted(p for folder in report_folders(app) for p in folder.rglob(name)):
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == listed[name]:
            return path
    raise KeyError(f"report {seq}: {name} is no longer on disk with its journaled hash")

"""The Devices screen: each device's status, last contact, capabilities, clock, and its diagnostics."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS
from watchkeeper.faces.console.data import rows
from watchkeeper.site.app import SECRET_KEYS, redact

#: Journal entries about a device that its diagnostics carry.
DIAGNOSTIC_ENTRIES = 100


def _capabilities(app: Any, endpoint: Any, door: bool) -> list[str]:
    """What the driver declares before it connects; a driver that learns them from the device says so."""
    try:
        driver = app.door_driver(endpoint.device_id) if door else app.driver(endpoint)
    except KeyError:
        return []
    return sorted(str(getattr(c, "value", c)) for c in getattr(driver, "capabilities", frozenset()))


def _last_contact(app: Any, device: str) -> str | None:
    """When the device last answered: its newest clock reading, disk reading, inspection or door event."""
    times = [row["at"] for row in rows(app, (
        "SELECT max(time_utc) AS at FROM clock_readings WHERE device = ? AND offset_seconds IS NOT NULL"
        " UNION ALL SELECT max(checked_at) FROM disks WHERE device = ?"
        " UNION ALL SELECT max(runs.started_at) FROM inspection_results r JOIN inspection_runs runs"
        " ON runs.id = r.run WHERE r.camera = ? AND r.frames > 0"), [device, device, device]) if row["at"]]
    times += [row["at"] for row in rows(app, "SELECT max(time_utc) AS at FROM access_events WHERE door = ?",
                                        [device]) if row["at"]]
    return max(times) if times else None


def _entry(app: Any, device: str, kind: str, endpoint: Any) -> dict[str, Any]:
    failures = [str(k) for k in DEVICE_FAILURE_KINDS]
    findings = rows(app, "SELECT id, kind, severity, reason, opened_at FROM findings WHERE subject = ?"
                         " AND closed_at IS NULL ORDER BY id", [device])
    clock = rows(app, "SELECT time_utc, offset_seconds, reference, ntp_enabled, time_zone FROM clock_readings"
                      " WHERE device = ? ORDER BY id DESC LIMIT 1", [device])
    down = [f for f in findings if f["kind"] in failures]
    return {"id": device, "kind": kind, "platform": endpoint.platform, "host": endpoint.host, "port": endpoint.port,
            "status": "unreachable" if down else ("fault" if findings else "ok"),
            "last_contact": _last_contact(app, device), "capabilities": _capabilities(app, endpoint, kind == "door"),
            "clock": clock[0] if clock else None, "findings": findings,
            "disks": rows(app, "SELECT disk, status, capacity_bytes, free_bytes, checked_at FROM disks"
                               " WHERE device = ? AND id IN (SELECT max(id) FROM disks GROUP BY device, disk)",
                          [device])}


def _door_endpoint(app: Any, door: Any) -> Any:
    from watchkeeper.core.models import Endpoint

    return Endpoint(door.platform, door.host or door.serial_port or "", door.port or 0, "", "", 5.0, door.id, {})


def devices(app: Any) -> list[dict[str, Any]]:
    """Recorders, cameras reached directly, and doors."""
    found = []
    for device, endpoint in app.devices():
        kind = "recorder" if any(r.id == device for r in app.site.recorders) else "camera"
        found.append(_entry(app, device, kind, endpoint))
    for door in app.site.doors:
        found.append(_entry(app, door.id, "door", _door_endpoint(app, door)))
    return found


def _config_entry(app: Any, device: str) -> dict[str, Any] | None:
    for section in ("recorders", "cameras", "doors"):
        for item in app.site.raw.get(section, []):
            if isinstance(item, dict) and item.get("id") == device:
                return {"section": section, **redact(item)}
    return None


def _scrub(value: Any) -> Any:
    """Every secret-named field blanked, references included: a diagnostics file leaves the building."""
    if isinstance(value, dict):
        return {k: ("********" if k in SECRET_KEYS and v else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def diagnostics(app: Any, device: str) -> dict[str, Any]:
    """One device's diagnostics bundle: its config (secrets blanked), state, readings and journal."""
    entry = next((d for d in devices(app) if d["id"] == device), None)
    if entry is None:
        raise KeyError(f"no device {device!r} on this site")
    return _scrub({
        "site": app.site.name, "device": device, "written_at": datetime.now(timezone.utc).isoformat(),
        "config": _config_entry(app, device), "state": entry,
        "clock_readings": rows(app, "SELECT * FROM clock_readings WHERE device = ? ORDER BY id DESC LIMIT 50",
                               [device]),
        "journal": rows(app, "SELECT seq, time_utc, kind, actor, subject, body FROM journal WHERE subject = ?"
                             f" ORDER BY seq DESC LIMIT {DIAGNOSTIC_ENTRIES}", [device]),
    })

"""Viewing and device-side retrieval (R9): replay or clip only on an approved request, and every day the
recorders' own logs read, each retrieval or deletion there matched to an approval or made a finding."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations
from sqlite_utils.db import NotFoundError

from watchkeeper import hookimpl
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_, _
from watchkeeper.core.models import RETRIEVAL_ACTIONS, AuditAction, AuditEntry, Capability
from watchkeeper.devices.drivers import CameraDriver, DeviceError
from watchkeeper.rules.runner import per_device
from watchkeeper.site.app import Refused
from watchkeeper.site.checks import Check, CheckContext, CheckResult

migrations = Migrations("watchkeeper.viewing")

#: The first read of a device's log goes back at most this far; later reads start where the last one
#: ended, less an overlap (entries are deduplicated), so a missed day is read the next day.
FIRST_READ = timedelta(days=31)
OVERLAP = timedelta(hours=1)


@migrations()
def m001_retrievals_and_device_logs(db: sqlite_utils.Database) -> None:
    # What watchkeeper itself took off a device, so the device's log line for it is not a stranger's.
    db["device_retrievals"].create({"id": int, "device": str, "channel": int, "action": str, "at_utc": str,
                                    "actor": str, "purpose": str, "request": int, "run": int}, pk="id")
    db["device_retrievals"].create_index(["device", "at_utc"])
    db["device_log_entries"].create({
        "id": int, "device": str, "fingerprint": str, "time_utc": str, "log_type": str, "action": str,
        "user": str, "address": str, "channel": int, "detail": str, "read_at": str, "matched": str}, pk="id")
    db["device_log_entries"].create_index(["fingerprint"], unique=True)
    db["device_log_entries"].create_index(["device", "time_utc"])
    db["device_log_reads"].create({"id": int, "device": str, "read_at": str, "start_utc": str, "end_utc": str,
                                   "status": str, "entries": int, "reason": str}, pk="id")
    db["device_log_reads"].create_index(["device", "read_at"])


@migrations()
def m002_retrieval_attempts(db: sqlite_utils.Database) -> None:
    """Which try of a distributed task, on which worker, made a retrieval: a worker lost after its
    fetch leaves the recorder's log line, and the retried task's own line, each with its row."""
    db["device_retrievals"].add_column("attempt", int)
    db["device_retrievals"].add_column("worker", str)


@migrations()
def m003_matched_index(db: sqlite_utils.Database) -> None:
    """Each approval note covers one session, so every retrieval line asks which lines a note already covers."""
    db["device_log_entries"].create_index(["device", "matched"])


@migrations()
def m004_announced(db: sqlite_utils.Database) -> None:
    """A worker's intent is the run's stream entry it came from: recorded once, whether read as it came
    or recovered from Redis after the appliance that should have read it died."""
    db["device_retrievals"].add_column("announced", str)
    db["device_retrievals"].create_index(["announced"], unique=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def retrieval_row(device: str, channel: int | None, action: AuditAction | str, actor: str, purpose: str,
                  request: int | None = None, run: int | None = None, attempt: int | None = None,
                  worker: str | None = None, at: datetime | None = None, announced: str | None = None
                  ) -> dict[str, Any]:
    """A `device_retrievals` row: watchkeeper is about to replay or download from a device, and why (a
    worker's intent names its task's try, the worker and the stream entry that announced it)."""
    return {"device": device, "channel": channel, "action": str(AuditAction(action)),
            "at_utc": (at or _now()).isoformat(), "actor": actor, "purpose": purpose, "request": request,
            "run": run, "attempt": attempt, "worker": worker, "announced": announced}


def record_retrieval(app: Any, device: str, channel: int | None, action: AuditAction | str, actor: str,
                     purpose: str, request: int | None = None, run: int | None = None, attempt: int | None = None,
                     worker: str | None = None, at: datetime | None = None, announced: str | None = None) -> None:
    """Note that watchkeeper is about to replay or download from a device, and why; an intent already
    recorded from the same stream entry (`announced`) is not recorded again."""
    row = retrieval_row(device, channel, action, actor, purpose, request, run, attempt, worker, at, announced)
    app.store.db["device_retrievals"].insert(row, ignore=True)


def recording_source(app: Any, camera_id: str) -> tuple[Any, int]:
    """The endpoint and channel that hold a camera's recordings (its recorder, or the camera)."""
    camera = app.site.camera(camera_id)
    if camera.recorder:
        return app.recorder_endpoint(camera.recorder), camera.recorder_channel or camera.channel
    return app.camera_endpoint(camera.id), camera.channel


async def view(app: Any, actor: str, request_id: int, clip: bool = False) -> dict[str, Any]:
    """Show an approved request's interval: its replay URI (no credentials), or with `clip` a clip
    downloaded for viewing. Refused, and journaled, without an approved request."""
    try:
        row = app.store.db["footage_requests"].get(request_id)
    except NotFoundError:
        raise KeyError(_("no request {id}").format(id=request_id)) from None
    subject = f"request-{request_id}"
    app.require(actor, "footage.view", subject, kind="retrieval")
    if row["status"] not in ("approved", "exported"):
        app.journal.append("retrieval", actor, subject, {"refused": "view", "status": row["status"]})
        raise Refused(N_("request {id} is {status}, not approved", id=request_id, status=row["status"]))
    endpoint, channel = recording_source(app, row["camera"])
    start, end = datetime.fromisoformat(row["start_utc"]), datetime.fromisoformat(row["end_utc"])
    driver = app.driver(endpoint)
    try:
        if clip or Capability.PLAYBACK not in driver.capabilities:
            if Capability.CLIP_DOWNLOAD not in driver.capabilities:
                raise ValueError(_("{platform} devices can neither replay nor export this recording").format(
                    platform=endpoint.platform))
            folder = app.site.exports_dir / "views" / subject
            folder.mkdir(parents=True, exist_ok=True)
            record_retrieval(app, endpoint.device_id, channel, AuditAction.DOWNLOAD, actor, f"view {subject}",
                             request=request_id)
            path = await driver.download_clip(channel, start, end, folder / f"{row['camera']}-{_now():%Y%m%dT%H%M%S}.mp4")
            shown = {"clip": str(path)}
        else:
            record_retrieval(app, endpoint.device_id, channel, AuditAction.PLAYBACK, actor, f"view {subject}",
                             request=request_id)
            shown = {"replay_uri": await driver.playback_uri(channel, start, end)}
    finally:
        await driver.close()
    app.journal.append("retrieval", actor, subject, {"viewed": {"camera": row["camera"], "from": row["start_utc"],
                                                                "to": row["end_utc"], **shown}})
    return {"request": request_id, "camera": row["camera"], **shown}


def fingerprint(device: str, entry: AuditEntry) -> str:
    """The same log line read twice (overlapping reads) is one entry."""
    key = json.dumps([device, entry.time.isoformat(), entry.log_type, entry.user, entry.address, entry.channel,
                      entry.detail])
    return hashlib.sha256(key.encode()).hexdigest()


def _clock_offset(app: Any, device: str) -> float:
    """The device clock's last measured offset (R7), so its log times can be put on the host's clock."""
    row = app.store.conn.execute("SELECT offset_seconds FROM clock_readings WHERE device = ? ORDER BY id DESC LIMIT 1",
                                 [device]).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def cameras_on(app: Any, device: str, channel: int | None) -> list[str]:
    """The cameras whose recordings a device's channel holds (every camera on it if no channel)."""
    found = []
    for camera in app.site.cameras:
        if camera.recorder == device:
            if channel is None or (camera.recorder_channel or camera.channel) == channel:
                found.append(camera.id)
        elif camera.id == device and camera.host is not None:
            found.append(camera.id)
    return found


def _session(entry: AuditEntry) -> tuple[str, str, int | None]:
    """Who did a retrieval, as the device saw it: its account, the address it came from (none at the
    console) and the channel. Lines with the same session are one person's viewing of one camera."""
    return entry.user, entry.address, entry.channel


def _free_for(app: Any, device: str, note: str, entry: AuditEntry) -> bool:
    """Whether an approval note (`watchkeeper:<id>`, `request:<id>`) may cover this line: nothing has
    used it yet, or only lines of this line's own session (a device logs one viewing in several lines)."""
    used = app.store.conn.execute("SELECT DISTINCT user, address, channel FROM device_log_entries"
                                  " WHERE device = ? AND matched = ?", [device, note]).fetchall()
    return all(tuple(row) == _session(entry) for row in used)


def match(app: Any, device: str, entry: AuditEntry, when: datetime) -> str | None:
    """Why a retrieval in a device's log was allowed: watchkeeper's own (`watchkeeper:<id>`) or an
    approved request for a camera there, approved before it and still valid (`request:<id>`).

    Each note covers one session only (`_session`): the first line it matched claims it, and a line of
    anyone else, or of another camera, needs a note of its own, so one approval never covers many viewings.
    """
    slack = timedelta(seconds=app.site.policies.audit_match_seconds)
    # Watchkeeper retrieves over the network, never at the device's console; a replay is logged as a
    # playback, a clip as a download or an export, whatever the vendor calls it.
    family = {AuditAction.PLAYBACK} if entry.action is AuditAction.PLAYBACK else {AuditAction.DOWNLOAD,
                                                                                  AuditAction.EXPORT}
    rows = [] if entry.local else app.store.conn.execute(
        "SELECT id, channel, at_utc, action FROM device_retrievals WHERE device = ? AND at_utc >= ? AND at_utc <= ?",
        [device, (when - slack).isoformat(), (when + slack).isoformat()]).fetchall()
    ours = sorted((abs(datetime.fromisoformat(at) - when), row_id) for row_id, channel, at, action in rows
                  if action in family and (entry.channel is None or channel is None or channel == entry.channel))
    for _distance, row_id in ours:
        if _free_for(app, device, f"watchkeeper:{row_id}", entry):
            return f"watchkeeper:{row_id}"
    cameras = cameras_on(app, device, entry.channel)
    if not cameras:
        return None
    valid = timedelta(hours=app.site.policies.retrieval_valid_hours)
    marks = ",".join("?" * len(cameras))
    for request_id, decided_at in app.store.conn.execute(
            f"SELECT id, decided_at FROM footage_requests WHERE camera IN ({marks})"
            " AND status IN ('approved', 'exported') AND decided_at IS NOT NULL ORDER BY id", cameras):
        decided = datetime.fromisoformat(decided_at)
        if decided - slack <= when <= decided + valid and _free_for(app, device, f"request:{request_id}", entry):
            return f"request:{request_id}"
    return None


def finding_for(app: Any, device: str, entry: AuditEntry, entry_id: int) -> Finding:
    cameras = cameras_on(app, device, entry.channel)
    where = cameras[0] if len(cameras) == 1 and entry.channel is not None else device
    local = entry.time.astimezone(app.site.zone)
    how = N_("at the device's own console") if entry.local else N_("from {address}", address=entry.address)
    details = {"device": device, "entry": entry_id, "log_type": entry.log_type, "user": entry.user,
               "address": entry.address, "local": entry.local, "time": entry.time.isoformat(),
               "device_channel": entry.channel}
    subject = f"{where} {entry.action} {local:%Y-%m-%d %H:%M:%S}"
    channel = entry.channel if where == device else None
    on = N_("{device} channel {channel}", device=device, channel=entry.channel) if entry.channel is not None else device
    if entry.action is AuditAction.DELETION:
        return Finding(FindingKind.RECORDING_DELETED, subject, N_(
            "recordings deleted on {on} by device user '{user}' {how} ({log})", on=on, user=entry.user, how=how,
            log=entry.log_type), channel=channel, details=details)
    return Finding(FindingKind.UNAPPROVED_RETRIEVAL, subject, N_(
        "{action} on {on} by device user '{user}' {how} with no approved request ({log})", action=str(entry.action),
        on=on, user=entry.user, how=how, log=entry.log_type), channel=channel, details=details)


async def read_device_logs(context: CheckContext) -> CheckResult:
    """Read each recorder's own log since the last read; each new playback, export or download
    without a matching approval is `unapproved_retrieval`, each deletion `recording_deleted`."""
    app = context.app
    devices = [(device_id, endpoint) for device_id, endpoint in app.devices() if context.wanted(device_id)]

    async def work(device_id: str, driver: CameraDriver, endpoint: Any) -> CheckResult:
        result = CheckResult()
        read_at = _now().isoformat()
        if Capability.AUDIT_LOG not in driver.capabilities:
            app.store.db["device_log_reads"].insert({"device": device_id, "read_at": read_at, "status": "unsupported",
                                                     "entries": 0, "reason": f"{endpoint.platform}: no device log"})
            return result
        last = app.store.conn.execute("SELECT max(end_utc) FROM device_log_reads WHERE device = ? AND status = 'ok'",
                                      [device_id]).fetchone()[0]
        start = (datetime.fromisoformat(last) - OVERLAP if last
                 else max(app.commissioned_at(), context.now - FIRST_READ) - OVERLAP)
        end = context.now + timedelta(minutes=1)
        try:
            entries = await driver.audit_log(start, end)
        except DeviceError as error:
            app.store.db["device_log_reads"].insert({"device": device_id, "read_at": read_at, "status": "failed",
                                                     "start_utc": start.isoformat(), "end_utc": end.isoformat(),
                                                     "entries": 0, "reason": error.reason[:200]})
            raise
        offset, new = _clock_offset(app, device_id), 0
        for entry in entries:
            key = fingerprint(device_id, entry)
            if app.store.conn.execute("SELECT 1 FROM device_log_entries WHERE fingerprint = ?", [key]).fetchone():
                continue
            new += 1
            when = entry.time - timedelta(seconds=offset)
            footage = entry.action in RETRIEVAL_ACTIONS or entry.action is AuditAction.DELETION
            matched = match(app, device_id, entry, when) if entry.action in RETRIEVAL_ACTIONS else None
            entry_id = app.store.db["device_log_entries"].insert({
                "device": device_id, "fingerprint": key, "time_utc": entry.time.isoformat(), "log_type": entry.log_type,
                "action": str(entry.action), "user": entry.user, "address": entry.address, "channel": entry.channel,
                "detail": entry.detail[:500], "read_at": read_at, "matched": matched}).last_pk
            assert entry_id is not None  # an insert always has a key
            if footage and matched is None:
                result.findings.append(finding_for(app, device_id, entry, entry_id))
        app.store.db["device_log_reads"].insert({"device": device_id, "read_at": read_at, "status": "ok",
                                                 "start_utc": start.isoformat(), "end_utc": end.isoformat(),
                                                 "entries": new, "reason": ""})
        return result

    result = await per_device(devices, work, app)
    result.summary = {"devices": len(devices), "unmatched": len(result.findings)}
    return result


@hookimpl
def register_checks(register: Any) -> None:
    register(Check("device_audit", "R9", read_device_logs,
                   "recorders' own logs: retrieval without approval, deletion of recordings"))


@hookimpl
def register_migrations(register: Any) -> None:
    register(migrations)

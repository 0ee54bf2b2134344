"""The retention rule (R8): every camera's recordings cover the retention window, with no gaps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.runner import per_device
from watchkeeper.rules.verdicts import Item, decide, local, unreadable
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext
from watchkeeper.devices.drivers import CameraDriver, DeviceError, known_capabilities
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.models import DISK_STATUS_NAMES, Capability, DiskStatus, Endpoint, RecordingSegment

migrations = Migrations("watchkeeper.retention")

#: Recording that ends this close to now is still being written; do not call it a gap.
RECENT_LAG = timedelta(minutes=2)
#: The oldest recording may be this much younger than the floor before it is a finding.
RETENTION_SLACK = timedelta(hours=1)


@migrations()
def m001_coverage(db: sqlite_utils.Database) -> None:
    db["coverage"].create({"camera": str, "day": str, "covered_seconds": float, "expected_seconds": float,
                           "checked_at": str}, pk=("camera", "day"))
    db["gaps"].create({"id": int, "camera": str, "start_utc": str, "end_utc": str, "seconds": float,
                       "checked_at": str}, pk="id")
    db["disks"].create({"id": int, "device": str, "disk": str, "status": str, "capacity_bytes": int,
                        "free_bytes": int, "checked_at": str}, pk="id")


def merge(segments: list[RecordingSegment]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching segments as one covered interval each, in order."""
    covered: list[tuple[datetime, datetime]] = []
    for segment in sorted(segments, key=lambda s: s.start):
        if covered and segment.start <= covered[-1][1] + timedelta(seconds=1):
            covered[-1] = (covered[-1][0], max(covered[-1][1], segment.end))
        else:
            covered.append((segment.start, segment.end))
    return covered


def gaps_between(covered: list[tuple[datetime, datetime]], start: datetime, end: datetime,
                 threshold: float) -> list[tuple[datetime, datetime]]:
    found, cursor = [], start
    for begin, finish in covered:
        if begin > cursor and (begin - cursor).total_seconds() > threshold:
            found.append((cursor, min(begin, end)))
        cursor = max(cursor, finish)
    if end > cursor and (end - cursor).total_seconds() > threshold:
        found.append((cursor, end))
    return [(a, b) for a, b in found if b > a]


def daily_coverage(covered: list[tuple[datetime, datetime]], start: datetime, end: datetime,
                   zone: tzinfo) -> dict[str, tuple[float, float]]:
    """Seconds covered and expected per site-local day between start and end."""
    days: dict[str, tuple[float, float]] = {}
    day = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        following = (day + timedelta(days=1, hours=2)).replace(hour=0)  # survives DST days
        lo, hi = max(day, start), min(following, end)
        expected = (hi - lo).total_seconds()
        got = sum(max(0.0, (min(b, hi) - max(a, lo)).total_seconds()) for a, b in covered)
        days[day.date().isoformat()] = (got, expected)
        day = following
    return days


async def search_holder(driver: CameraDriver, device_id: str, cameras: list[tuple[str, int, int]], now: datetime,
                        threshold: float, zone: tzinfo) -> tuple[CheckResult, dict[str, Any]]:
    """One device's disks and the recordings it holds for each (camera, channel, retention days):
    findings, and the rows for the store (coverage, gaps, disks) with what could not be verified.
    Writes nothing, so a worker runs it as the appliance does."""
    result = CheckResult()
    checked_at = now.isoformat()
    coverage_rows: list[dict[str, Any]] = []
    gap_rows: list[dict[str, Any]] = []
    disk_rows: list[dict[str, Any]] = []
    unverified: dict[str, str] = {}  # camera → what could not be checked, and why
    rows = {"coverage": coverage_rows, "gaps": gap_rows, "disks": disk_rows, "unverified": unverified}
    capabilities = await known_capabilities(driver)  # the device's answer, not the driver's hopes
    if Capability.STORAGE in capabilities:
        result.evaluated([FindingKind.DISK_ERROR, FindingKind.DISK_FULL], device_id)
        for disk in await driver.storage():
            disk_rows.append({"device": device_id, "disk": disk.id, "status": str(disk.status),
                              "capacity_bytes": disk.capacity_bytes, "free_bytes": disk.free_bytes,
                              "checked_at": checked_at})
            if disk.status in (DiskStatus.ERROR, DiskStatus.UNFORMATTED, DiskStatus.ABSENT):
                result.findings.append(Finding(FindingKind.DISK_ERROR, device_id,
                                               N_("disk {disk} is {status} ({detail})", disk=disk.id,
                                                  status=DISK_STATUS_NAMES.get(disk.status, str(disk.status)), detail=disk.raw_status or N_("no detail")),
                                               measured=str(disk.status)))
            elif disk.status is DiskStatus.FULL:
                result.findings.append(Finding(FindingKind.DISK_FULL, device_id, N_("disk {disk} is full", disk=disk.id)))
    if Capability.RECORDINGS not in capabilities:
        return result, rows
    for camera_id, channel, days in cameras:
        floor = now - timedelta(days=days)
        try:
            segments = await driver.recordings(channel, floor - timedelta(days=1), now)
        except DeviceError as error:
            result.findings.append(error.finding(camera_id))
            continue
        result.evaluated([FindingKind.RECORDING_GAP], camera_id)
        covered = merge([s for s in segments if s.start_known])
        # A recording whose beginning the device will not say (EarliestRecording at the epoch) still
        # tells where it ends: keep that, judge gaps from there on, and say what could not be judged.
        known_from = max((s.end for s in segments if not s.start_known), default=None)
        if known_from is None:
            result.evaluated([FindingKind.SHORT_RETENTION], camera_id)
            oldest = covered[0][0] if covered else None
            if oldest is None or oldest > floor + RETENTION_SLACK:
                kept = (now - oldest).total_seconds() / 86400 if oldest else 0.0
                result.findings.append(Finding(
                    FindingKind.SHORT_RETENTION, camera_id,
                    N_("oldest recording is {kept:.1f} days old; {days} days required", kept=kept, days=days),
                    measured=round(kept, 2), threshold=float(days)))
            window_start = max(floor, oldest) if oldest else floor
        else:
            unverified[camera_id] = (
                "the device does not say where the recording begins (its earliest recording is reported "
                f"at the epoch); it reaches {known_from.astimezone(zone):%Y-%m-%d %H:%M}, so the "
                "retention period is not checked and gaps only from then on")
            window_start = max(floor, known_from)
        gaps = gaps_between(covered, window_start, now - RECENT_LAG, threshold)
        for begin, end in gaps:
            gap_rows.append({"camera": camera_id, "start_utc": begin.isoformat(), "end_utc": end.isoformat(),
                             "seconds": (end - begin).total_seconds(), "checked_at": checked_at})
        if gaps:
            total = sum((b - a).total_seconds() for a, b in gaps)
            first = gaps[0]
            result.findings.append(Finding(
                FindingKind.RECORDING_GAP, camera_id,
                N_("{count} gap(s), {minutes:.0f} min missing; first {start}–{end}", count=len(gaps),
                   minutes=total / 60, start=first[0].astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                   end=first[1].astimezone(zone).strftime("%H:%M")) if camera_id not in unverified else
                N_("{count} gap(s), {minutes:.0f} min missing; first {start}–{end}; not checked before {since}: "
                   "the device does not say where the recording begins", count=len(gaps), minutes=total / 60,
                   start=first[0].astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                   end=first[1].astimezone(zone).strftime("%H:%M"),
                   since=window_start.astimezone(zone).strftime("%Y-%m-%d %H:%M")),
                measured=round(total, 1), threshold=threshold,
                details={"gaps": [[a.isoformat(), b.isoformat()] for a, b in gaps[:50]]}))
        if camera_id in unverified:
            continue  # no day's coverage was established: the R8 verdict has no evidence, not a "met"
        for day, (got, expected) in daily_coverage(covered, window_start, now, zone).items():
            coverage_rows.append({"camera": camera_id, "day": day, "covered_seconds": got,
                                  "expected_seconds": expected, "checked_at": checked_at})
    return result, rows


async def check_retention(context: CheckContext) -> CheckResult:
    app, now = context.app, context.now
    threshold = app.site.policies.gap_threshold_seconds
    # Group cameras by the device that holds their recordings, each with its retention days (the
    # plugins' decision, made here: a worker only searches).
    holders: dict[str, list[tuple[str, int, int]]] = {}
    for camera in app.site.cameras:
        if not context.wanted(camera.id):
            continue
        if camera.recorder:
            holders.setdefault(camera.recorder, []).append(
                (camera.id, camera.recorder_channel or camera.channel, app.retention_days(camera.id)))
        else:
            holders.setdefault(camera.id, []).append((camera.id, camera.channel, app.retention_days(camera.id)))
    endpoints = dict(app.devices())
    wanted = [(d, endpoints[d]) for d in holders if d in endpoints]
    rows: dict[str, Any] = {"coverage": [], "gaps": [], "disks": [], "unverified": {}}

    def keep(found: dict[str, Any]) -> None:
        for name in ("coverage", "gaps", "disks"):
            rows[name] += found.get(name, [])
        rows["unverified"].update(found.get("unverified", {}))

    if app.site.distributed is not None:
        # Workers search; this process decides the days, records the rows and reconciles.
        from watchkeeper.rules import dispatch
        result = CheckResult()
        answers = await dispatch.on_workers(app, "retention", {
            device: {"cameras": holders[device], "threshold": threshold} for device, _endpoint in wanted}, context)
        for answer in answers.values():
            result.merge(dispatch.result_of(answer))
            keep(answer["data"])
    else:
        async def one(device_id: str, driver: CameraDriver, endpoint: Endpoint) -> CheckResult:
            found, read = await search_holder(driver, device_id, holders[device_id], now, threshold, app.site.zone)
            keep(read)
            return found

        result = await per_device(wanted, one, app)
    with app.store.transaction():
        app.store.db["coverage"].upsert_all(rows["coverage"], pk=("camera", "day"))
        app.store.db["gaps"].insert_all(rows["gaps"])
        app.store.db["disks"].insert_all(rows["disks"])
    result.summary = {"cameras": sum(len(v) for v in holders.values()), "gaps": len(rows["gaps"])}
    if rows["unverified"]:
        result.summary["unverified"] = rows["unverified"]
    return result


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(Check("retention", "R8", check_retention, "recordings kept for the retention period without gaps"))


def verdict(context: VerdictContext) -> Verdict:
    """R8: every camera's recordings for the period's days searched, with no gap and healthy disks."""
    app, zone = context.app, context.app.site.zone
    evidence, breaches, missing = Evidence(), [], []
    if not app.site.cameras:
        return decide(context, evidence)
    first, last = context.since.astimezone(zone).date().isoformat(), context.until.astimezone(zone).date().isoformat()
    coverage = context.rows("SELECT camera, day FROM coverage WHERE day >= ? AND day <= ? ORDER BY camera, day",
                            [first, last])
    # Recordings of the whole period count, made before commissioning or not: they are what is kept.
    gaps = context.rows("SELECT * FROM gaps WHERE end_utc > ? AND start_utc < ? ORDER BY id",
                        [context.start.isoformat(), context.until.isoformat()])
    disks = context.rows("SELECT * FROM disks WHERE checked_at >= ? AND checked_at < ? ORDER BY id", context.span())
    reported = set()
    for gap in gaps:
        evidence.add("gaps", gap["id"])
        if (gap["camera"], gap["start_utc"]) not in reported:  # each run lists the gaps it saw again
            reported.add((gap["camera"], gap["start_utc"]))
            breaches.append(Item("R8.gap", _("{camera}: recording missing {start} – {end}").format(
                camera=gap["camera"], start=local(context, gap["start_utc"]), end=local(context, gap["end_utc"]))))
    for disk in disks:
        evidence.add("disks", disk["id"])
        if disk["status"] != str(DiskStatus.OK):
            breaches.append(Item("R8.disk", _("{device}: disk {disk} {status}").format(
                device=disk["device"], disk=disk["disk"], status=disk["status"])))
    holders = {camera.id: camera.recorder or camera.id for camera in app.site.cameras}
    failed = unreadable(context, [*holders, *holders.values()])
    for camera, holder in holders.items():
        days = [row["day"] for row in coverage if row["camera"] == camera]
        evidence.extend("coverage", [f"{camera}/{day}" for day in days])
        if days:
            continue
        failure = failed.get(camera) or failed.get(holder)
        if failure is not None:
            missing.append(Item("R8.unreadable", _("{camera}: recordings could not be searched ({kind} on {device})").format(
                camera=camera, kind=failure["kind"], device=failure["subject"])))
        elif context.over or coverage:
            missing.append(Item("R8.not_checked", _("{camera}: recordings not searched for the period").format(
                camera=camera)))
    return decide(context, evidence, breaches, missing,
                  _("{count} camera(s) recorded without loss").format(count=len(holders)))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R8", verdict, "recordings searched per camera and day, no gaps, disks healthy"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)

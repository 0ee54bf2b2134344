"""The shift inspection (R5): live frames and a recorded clip per camera, judged by the frame checks."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cv2
import numpy as np
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.analysis.metrics import (AnalysisError, Metrics, analyze_frame)
from watchkeeper.analysis.scene import compare_to_reference
from watchkeeper.core.i18n import N_, error_text
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.verdicts import ClauseRule
from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS, CapabilityMissing, DeviceError
from watchkeeper.core.findings import Finding, FindingKind, Severity
from watchkeeper.analysis.imagechecks import check_frame, combine, thresholds_for
from watchkeeper.site.app import App, DeviceReach
from watchkeeper.site.config import Camera
# Where frames come from lives in its own module; these names are used here and by callers of inspection.
from watchkeeper.rules.frames import (Announce as Announce, FrameSeries as FrameSeries,
                                      PlaybackUnavailable as PlaybackUnavailable, decode_jpeg as decode_jpeg,
                                      in_frame_thread as in_frame_thread, live_frames as live_frames,
                                      playback_frames as playback_frames, read_stream as read_stream,
                                      recorder_of as recorder_of, source_of as source_of,
                                      store_intent as store_intent, FRAME_THREADS)
from watchkeeper.rules.signing import (SHIFT_GRACE as SHIFT_GRACE, SHIFT_LEAD as SHIFT_LEAD, check_signed,
                                       shifts_due as shifts_due, sign as sign, verdict)

log = logging.getLogger(__name__)
T = TypeVar("T")
migrations = Migrations("watchkeeper.inspection")

IMAGE_KINDS = (FindingKind.BLURRED, FindingKind.TOO_DARK, FindingKind.OVEREXPOSED, FindingKind.COLOUR_CAST,
               FindingKind.NOISY, FindingKind.NO_SIGNAL, FindingKind.FROZEN, FindingKind.OCCLUDED, FindingKind.MOVED)
#: Cameras inspected at once: each waits between its spaced frames, so many overlap cheaply.
CAMERA_CONCURRENCY = 128




@migrations()
def m001_runs_results_baselines(db: sqlite_utils.Database) -> None:
    db["inspection_runs"].create({
        "id": int, "started_at": str, "finished_at": str, "actor": str, "cameras": int, "ok": int, "warning": int,
        "fault": int, "signed_by": str, "signed_at": str, "note": str}, pk="id")
    db["inspection_results"].create({
        "id": int, "run": int, "camera": str, "channel": int, "status": str, "frames": int, "metrics": str,
        "findings": str, "thumbnail": str, "playback": str}, pk="id")
    db["inspection_results"].create_index(["run"])
    db["baselines"].create({"camera": str, "captured_at": str, "captured_by": str, "jpeg": bytes}, pk="camera")


@migrations()
def m002_one_result_per_camera(db: sqlite_utils.Database) -> None:
    """A run holds one result per camera: a task a worker delivered twice (retried after the worker
    was lost) is stored once. Rows a store may already hold twice keep their first."""
    db.execute("DELETE FROM inspection_results WHERE id NOT IN"
               " (SELECT MIN(id) FROM inspection_results GROUP BY run, camera)")
    db["inspection_results"].create_index(["run", "camera"], unique=True, if_not_exists=True,
                                          index_name="inspection_results_run_camera")


@migrations()
def m003_baseline_metrics(db: sqlite_utils.Database) -> None:
    """Each reference view's metrics, measured once per captured JPEG (by its hash): a worker is sent
    these and the small thumbnail, not the 1080p JPEG to decode again every run."""
    db["baseline_metrics"].create({"camera": str, "jpeg_sha256": str, "metrics": str, "thumbnail_png": bytes},
                                  pk="camera")



#: The metrics a stored reference carries (all of Metrics but the thumbnail, kept apart as a PNG).
REFERENCE_FIELDS = frozenset(field.name for field in attrs.fields(Metrics) if field.name != "thumbnail")


def reference_from(payload: dict[str, Any] | None) -> Metrics | None:
    """The reference view's metrics as the appliance measured them (exact: JSON floats round-trip,
    the thumbnail is a PNG), so the worker judges against the very numbers the appliance would."""
    if payload is None:
        return None
    if "error" in payload:  # as an unreadable reference always was: that camera's check fails, saying so
        raise DeviceError(FindingKind.PROTOCOL_ERROR, payload["error"])
    fields = dict(payload["metrics"])
    for name in ("channel_means", "edge_gradients", "direction_sharpness", "white_point", "edge_chroma"):
        if fields.get(name) is not None:  # the newer ones are missing from references stored before them
            fields[name] = tuple(fields[name])
    png = np.frombuffer(base64.b64decode(payload["thumbnail"]), np.uint8)
    thumbnail = cv2.imdecode(png, cv2.IMREAD_UNCHANGED)
    if thumbnail is None:
        raise AnalysisError("the reference thumbnail is not a PNG")
    return Metrics(**fields, thumbnail=thumbnail)


def reference_payload(metrics: Metrics) -> dict[str, Any]:
    ok, png = cv2.imencode(".png", metrics.thumbnail)
    if not ok:
        raise ValueError("the reference thumbnail could not be encoded")
    return {"metrics": attrs.asdict(metrics, filter=lambda field, _value: field.name != "thumbnail"),
            "thumbnail": base64.b64encode(png.tobytes()).decode()}


async def references(app: App, cameras: list[Camera]) -> dict[str, dict[str, Any]]:
    """Each camera's reference for its task, measured once per captured view and kept in the store
    (analysed in threads: the kernel drops the GIL)."""
    known = {row[0]: (row[1], row[2], row[3]) for row in app.store.conn.execute(
        "SELECT camera, jpeg_sha256, metrics, thumbnail_png FROM baseline_metrics")}
    wanted = {camera.id for camera in cameras}
    found: dict[str, dict[str, Any]] = {}
    stale: list[str] = []
    for camera, jpeg in app.store.conn.execute("SELECT camera, jpeg FROM baselines"):
        if camera not in wanted:
            continue
        cached = known.get(camera)
        # Measured before a metric was added (direction_sharpness): measured again, or the view
        # would be judged without what that metric is there for.
        if (cached is not None and cached[0] == hashlib.sha256(jpeg).hexdigest()
                and set(json.loads(cached[1])) >= REFERENCE_FIELDS):
            found[camera] = {"metrics": json.loads(cached[1]), "thumbnail": base64.b64encode(cached[2]).decode()}
        else:
            stale.append(camera)  # its JPEG is read again when measured, not held meanwhile

    def measure(jpeg: bytes) -> dict[str, Any]:
        try:
            return reference_payload(analyze_frame(decode_jpeg(jpeg)))
        except (DeviceError, AnalysisError) as error:  # not kept: said again in each run's finding
            return {"error": f"the reference view: {getattr(error, 'reason', error)}"}

    # A few at a time (two a frame thread, so none waits on the store): holding every stale JPEG at
    # once cost the first run after commissioning 1,000 1080p cameras about 190 MB.
    limit = asyncio.Semaphore(2 * FRAME_THREADS)
    rows = []

    async def one(camera: str) -> None:
        async with limit:
            row = app.store.conn.execute("SELECT jpeg FROM baselines WHERE camera = ?", [camera]).fetchone()
            if row is None:  # its reference was cleared meanwhile: the camera is judged without one
                return
            jpeg = row[0]
            found[camera] = payload = await in_frame_thread(measure, jpeg)
        if "error" not in payload:
            rows.append({"camera": camera, "jpeg_sha256": hashlib.sha256(jpeg).hexdigest(),
                         "metrics": json.dumps(payload["metrics"]),
                         "thumbnail_png": base64.b64decode(payload["thumbnail"])})

    await asyncio.gather(*(one(camera) for camera in stale))
    if rows:
        with app.store.transaction():
            app.store.db["baseline_metrics"].upsert_all(rows, pk="camera")
    return found


def judge(series: FrameSeries, camera: Camera, app: DeviceReach, reference: Metrics | None,
          judge_frozen: bool = True) -> list[Finding]:
    """Image findings for a camera from its judged frames."""
    if series.last is None:
        return []
    scene = compare_to_reference(series.last, reference) if reference is not None else None
    limits = thresholds_for(camera.profile, app.site.policies.thresholds)
    return check_frame(series.last, subject=camera.id, profile=camera.profile, thresholds=limits, scene=scene,
                       frozen_score=series.frozen if judge_frozen else None)


def judge_camera(live: FrameSeries, recorded: FrameSeries, camera: Any, app: Any,
                 reference: Callable[[], Metrics | None]) -> tuple[list[Finding], str]:
    """A camera's image findings (live frames against its reference, then what only the recording
    shows) and its thumbnail for the run's record: one worker-thread trip for all of it."""
    found = judge(live, camera, app, reference())
    if recorded.count:
        # Frozen is meaningless across a replayed clip's sparse samples; the live frames judge it.
        # What only the recording shows joins the live findings, ranked as check_frame ranks.
        replayed = judge(recorded, camera, app, None, False)
        found = combine(found, [f for f in replayed if f.kind is not FindingKind.FROZEN])
    return found, thumbnail_b64(live.last) if live.last is not None else ""


def thumbnail_b64(metrics: Metrics) -> str:
    ok, data = cv2.imencode(".jpg", metrics.thumbnail, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return base64.b64encode(data.tobytes()).decode() if ok else ""


def status_of(findings: list[Finding]) -> str:
    if any(f.severity is Severity.FAULT for f in findings):
        return "fault"
    return "warning" if findings else "ok"


async def inspect_camera(app: DeviceReach, camera: Camera, now: datetime, actor: str, run_id: int, folder: Path,
                         playback: bool, reference: Callable[[], Metrics | None], announce: Announce,
                         limit: asyncio.Semaphore | None = None) -> tuple[CheckResult, dict[str, Any]]:
    """One camera's inspection: its findings and scope and its row for inspection_results. Writes
    nothing but the intent of each retrieval, through `announce` before the fetch, so it runs alike
    in the appliance and in a worker process; whatever goes wrong with the camera is its finding.
    `reference` gives the camera's reference view's metrics (called in the analysis thread:
    decoding it is part of the camera's work)."""
    policies = app.site.policies
    result = CheckResult()
    result.evaluated([*DEVICE_FAILURE_KINDS, FindingKind.CHECK_FAILED], camera.id)
    row: dict[str, Any] = {"run": run_id, "camera": camera.id, "channel": None, "frames": 0, "playback": "not tried"}

    async def inspect() -> None:
        endpoint, channel = source_of(app, camera)
        row["channel"] = channel
        async with limit or contextlib.nullcontext():
            driver = app.driver(endpoint)
            try:
                try:
                    live = await live_frames(driver, channel, policies.inspection_frames,
                                             policies.frame_interval_seconds)
                except DeviceError as error:
                    result.findings.append(error.finding(camera.id))
                    live = FrameSeries()
                recorded = FrameSeries()
                if playback and live.count:
                    result.evaluated([FindingKind.PLAYBACK_UNAVAILABLE], camera.id)
                    try:
                        recorded, row["playback"] = await playback_frames(app, camera, now, actor, run_id, folder,
                                                                          driver, announce)
                    except PlaybackUnavailable as failure:
                        row["playback"] = f"failed: {failure}"
                        result.findings.append(Finding(FindingKind.PLAYBACK_UNAVAILABLE, camera.id,
                                                       N_("recorded footage could not be played back: {failure}",
                                                          failure=error_text(failure))))
            finally:
                await driver.close()
        if live.count:
            result.evaluated(IMAGE_KINDS, camera.id)
            # Live pictures arriving is the camera's answer to a video-loss alarm it raised earlier;
            # if they show no signal, the no_signal finding says so instead.
            result.evaluated([FindingKind.VIDEO_LOSS], camera.id)
            found, thumbnail = await in_frame_thread(judge_camera, live, recorded, camera, app, reference)
            result.findings += found
            if live.last is not None:
                row.update(frames=live.count, metrics=json.dumps(live.last.to_dict()), thumbnail=thumbnail)

    try:
        await inspect()
    except CapabilityMissing as error:
        result.findings.append(Finding(FindingKind.CHECK_FAILED, camera.id,
                                       N_("the device cannot be inspected: {problem}", problem=error_text(error))))
    except Exception as error:  # a bug must cost one camera its inspection, not the whole run
        log.exception("inspection of %s failed", camera.id)
        result.findings.append(Finding(FindingKind.CHECK_FAILED, camera.id,
                                       N_("inspection failed inside watchkeeper ({error}); see the log",
                                          error=type(error).__name__)))
    finish_row(row, result.findings)
    return result, row


def finish_row(row: dict[str, Any], findings: list[Finding]) -> None:
    row["findings"] = json.dumps(sorted(str(f.kind) for f in findings))
    row["status"] = status_of(findings)


async def inspect_cameras(context: CheckContext) -> CheckResult:
    app = context.app
    playback = context.options.get("playback", True)
    # No clock check here: R7's clock check runs at every start and nightly as its own check, and
    # running it again per inspection asked every camera its time twice.
    run_id = app.store.db["inspection_runs"].insert({
        "started_at": context.now.isoformat(), "actor": context.actor, "cameras": 0}).last_pk
    assert run_id is not None  # an insert always has a key
    limit = asyncio.Semaphore(CAMERA_CONCURRENCY)
    rows: list[dict[str, Any]] = []
    cameras = [camera for camera in app.site.cameras if context.wanted(camera.id)]
    # Each camera's reference view, measured once per captured view: in-process and on workers alike.
    reference = await references(app, cameras)
    folder = Path(tempfile.mkdtemp(prefix="watchkeeper-inspection-"))

    def record(camera: str, result: CheckResult, row: dict[str, Any]) -> None:
        """The one writer: a camera's row goes to the store with the run (its retrievals went before
        each fetch)."""
        rows.append(row)
        if context.progress is not None:
            context.progress(camera)

    async def one(camera: Camera) -> CheckResult:
        """One camera's inspection; whatever goes wrong with it is its finding, and the run goes on."""
        result, row = await inspect_camera(app, camera, context.now, context.actor, run_id, folder, playback,
                                           functools.partial(reference_from, reference.get(camera.id)),
                                           functools.partial(store_intent, app, context.actor, run_id), limit)
        record(camera.id, result, row)
        return result

    total = CheckResult()
    try:
        if app.site.distributed is not None:
            # Workers inspect; this process stays the one writer of what they found.
            from watchkeeper.rules import dispatch
            total = await dispatch.inspect_remotely(app, cameras, context, run_id, playback, record)
        else:
            for result in await asyncio.gather(*(one(camera) for camera in cameras)):
                total.merge(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        # Every run finishes, whatever was raised: a run without finished_at can never be signed.
        counts = {status: sum(1 for r in rows if r["status"] == status) for status in ("ok", "warning", "fault")}
        with app.store.transaction():
            # A camera's row is stored once, however often a retried task delivered it.
            app.store.db["inspection_results"].insert_all(rows, ignore=True)
            app.store.db["inspection_runs"].update(run_id, {"finished_at": datetime.now(timezone.utc).isoformat(),
                                                            "cameras": len(rows), **counts})
    total.summary = {"run": run_id, "cameras": len(rows), **counts}
    app.pm.hook.on_inspection_complete(run={"id": run_id, **total.summary,
                                                       "results": [{k: v for k, v in r.items() if k != "thumbnail"}
                                                                   for r in rows]}, site=app.site)
    return total


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R5", verdict, "a signed inspection before every shift"))


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(Check("inspection", "R5", inspect_cameras, "live and recorded frames of every camera judged"))
    register(Check("inspection_signed", "R5", check_signed, "every shift has a signed inspection"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)

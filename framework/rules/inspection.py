"""The shift inspection (R5): live frames and a recorded clip per camera, judged by the frame checks."""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import contextvars
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import attrs
import cv2
import numpy as np
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.analysis.metrics import (MOTION_PLANE_NOISE_GAIN, AnalysisError, Metrics, analyze_frame, as_frame,
                                          frozen_score, motion_plane, sample_video)
from watchkeeper.analysis.scene import compare_to_reference
from watchkeeper.analysis.imagebounds import check_size, decode_image
from watchkeeper.core.i18n import N_, _, error_text
from watchkeeper.rules.verdicts import Item, decide, local
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext
from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS, CapabilityMissing, DeviceError, known_capabilities
from watchkeeper.core.findings import Finding, FindingKind, Severity
from watchkeeper.analysis.imagechecks import check_frame, combine, thresholds_for
from watchkeeper.core.models import AuditAction, Capability, Endpoint
from watchkeeper.rules import duty, ownership, viewing
from watchkeeper.devices.drivers import CameraDriver
from watchkeeper.site.app import App, DeviceReach
from watchkeeper.site.config import Camera

log = logging.getLogger(__name__)
T = TypeVar("T")
migrations = Migrations("watchkeeper.inspection")

IMAGE_KINDS = (FindingKind.BLURRED, FindingKind.TOO_DARK, FindingKind.OVEREXPOSED, FindingKind.COLOUR_CAST,
               FindingKind.NOISY, FindingKind.NO_SIGNAL, FindingKind.FROZEN, FindingKind.OCCLUDED, FindingKind.MOVED)
#: Cameras inspected at once: each waits between its spaced frames, so many overlap cheaply.
CAMERA_CONCURRENCY = 128
#: Threads for frame work (JPEG and clip decoding, the kernel, judging): these drop the GIL, so one
#: a core keeps every core busy; asyncio's default pool (cores + 4) held more 1080p frames at once
#: (6 MB each) and queued the event loop's own thread work (address lookups) behind them.
FRAME_THREADS = max(2, os.cpu_count() or 2)
_frame_pool: tuple[int, ThreadPoolExecutor] | None = None
#: A shift's inspection counts if it started this long before the shift, or up to SHIFT_GRACE after.
SHIFT_LEAD, SHIFT_GRACE = duty.SHIFT_LEAD, duty.SHIFT_GRACE


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


async def in_frame_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a frame thread, with the caller's context (as asyncio.to_thread does)."""
    global _frame_pool
    if _frame_pool is None or _frame_pool[0] != os.getpid():  # a forked worker starts a pool of its own
        _frame_pool = (os.getpid(), ThreadPoolExecutor(FRAME_THREADS, thread_name_prefix="watchkeeper-frames"))
    call = functools.partial(contextvars.copy_context().run, function, *args)
    return await asyncio.get_running_loop().run_in_executor(_frame_pool[1], call)


def decode_jpeg(data: bytes) -> np.ndarray:
    """A camera's snapshot as BGR; its header's size is checked before anything is decoded, so a
    lying or bombed JPEG is that camera's protocol_error, not gigabytes for the whole inspection."""
    try:
        return as_frame(decode_image(data, color=True, what=f"snapshot of {len(data)} bytes"))
    except AnalysisError as error:
        raise DeviceError(FindingKind.PROTOCOL_ERROR, str(error)) from None


def source_of(app: DeviceReach, camera: Camera) -> tuple[Endpoint, int]:
    """The endpoint and channel that give this camera's live image."""
    if camera.host is not None:
        return app.camera_endpoint(camera.id), camera.channel
    return app.camera_endpoint(camera.id), camera.recorder_channel or camera.channel


def recorder_of(app: DeviceReach, camera: Camera) -> tuple[Endpoint, int]:
    """The endpoint and channel that hold this camera's recordings."""
    if camera.recorder:
        return app.recorder_endpoint(camera.recorder), camera.recorder_channel or camera.channel
    return app.camera_endpoint(camera.id), camera.channel


@attrs.define
class FrameSeries:
    """Frames judged as they arrive. Between frames a camera keeps its last metrics (with the
    thumbnail) and its last frame's luma at half resolution, for the next frame's difference: a
    quarter of a 1080p luma plane (0.5 MB), not the 6 MB frame, while it waits for the next one."""

    count: int = 0
    last_plane: np.ndarray | None = None
    last: Metrics | None = None
    #: The largest difference between consecutive frames (per full-resolution pixel, see
    #: motion_plane): a stream is frozen only if even that is tiny.
    frozen: float | None = None

    def extend(self, frames: Iterable[np.ndarray]) -> None:
        """Frames from a decoder: only the last is analysed, once the decoder has no more (its
        predecessor is held meanwhile, as the decoder holds it anyway)."""
        latest = None
        for frame in frames:
            self.add(frame, judged=False)
            latest = frame
        if latest is not None:
            self.last = analyze_frame(latest)

    def add(self, frame: np.ndarray, judged: bool = True) -> None:
        """One more frame; `judged=False` when a later one is sure to follow. Only the last frame's
        metrics are judged (frozen comes from the planes): the kernel's passes over the others were
        thrown away, about a tenth of the inspection's CPU at five live frames and three recorded."""
        frame = as_frame(frame)  # every frame is checked as the kernel would check it, judged or not
        plane = motion_plane(frame)
        if self.last_plane is not None and self.last_plane.shape == plane.shape:
            score = frozen_score(self.last_plane, plane) * MOTION_PLANE_NOISE_GAIN
            self.frozen = score if self.frozen is None else max(self.frozen, score)
        if judged:
            self.last = analyze_frame(frame)
        self.last_plane, self.count = plane, self.count + 1

    def finished(self) -> FrameSeries:
        """No more frames: the plane kept for the next difference goes (the metrics stay)."""
        self.last_plane = None
        return self


async def live_frames(driver: CameraDriver, channel: int, count: int, interval: float) -> FrameSeries:
    series = FrameSeries()
    for index in range(count):
        if index:
            await asyncio.sleep(interval)
        data = await driver.snapshot(channel)
        # Decoding and analysis run on a frame thread: the kernel drops the GIL, so every core works.
        # A failed snapshot discards the whole series, so a frame before the last needs only its plane.
        last = index == count - 1
        await in_frame_thread(lambda: series.add(decode_jpeg(data), judged=last))
        del data  # not kept through the wait (185 KB at 1080p, beside the 0.5 MB plane kept)
    return series.finished()


def read_stream(uri: str, endpoint: Endpoint, count: int) -> FrameSeries:
    """`count` frames, about a second apart, from an RTSP replay (runs in a worker thread).

    PyAV, not OpenCV: cv2.VideoCapture serialises opens across threads in one process, so replays
    of many cameras would open one after another (bench/stream_opens.py: 1.00x with 8 threads for
    OpenCV, 7.6x for PyAV).
    """
    import av

    parts = urlsplit(uri)
    credentials = f"{quote(endpoint.username, safe='')}:{quote(endpoint.password.reveal(), safe='')}@"
    with_credentials = urlunsplit(parts._replace(netloc=credentials + parts.netloc.rpartition("@")[2]))
    where = f"replay stream {parts.path or '/'} on {parts.hostname}"  # never the credential-bearing URI
    series, next_time = FrameSeries(), 0.0
    try:
        with av.open(with_credentials, timeout=endpoint.timeout,
                     options={"rtsp_transport": "tcp", "timeout": str(int(endpoint.timeout * 1_000_000))}) as container:
            video = container.streams.video[0].codec_context
            if video.width and video.height:  # an RTSP description may leave the size to the first frame
                check_size(video.width, video.height, what=where)
            for frame in container.decode(video=0):
                check_size(frame.width, frame.height, what=where)  # before the BGR copy is allocated
                moment = float(frame.time or 0.0)
                if series.count and moment < next_time:
                    continue
                series.add(frame.to_ndarray(format="bgr24"))
                next_time = moment + 1.0
                if series.count >= count:
                    break
    except (av.FFmpegError, OSError) as error:
        raise AnalysisError(f"{where} failed ({type(error).__name__})") from None
    if not series.count:
        raise AnalysisError(f"{where} gave no frames")
    return series.finished()


class PlaybackUnavailable(Exception):
    """The recorded clip could not be played back; the reason is said in the finding."""


async def playback_frames(app: DeviceReach, camera: Camera, now: datetime, actor: str = "watchkeeper",
                          run_id: int | None = None, folder: Path | None = None,
                          live: Any = None, note: Callable[..., None] | None = None) -> tuple[FrameSeries, str]:
    """Frames of yesterday's recording at this time of day: a clip exported from the recorder, or
    its RTSP replay where the recorder cannot export (ONVIF Profile G). Each is noted as watchkeeper's
    own retrieval, so the recorder's log line for it is not taken for a stranger's (R9). Raises
    PlaybackUnavailable saying why when neither works: a failed replay is a finding, never "ok".

    `folder` holds the clip while it is read (a run shares one: a folder per clip cost more than
    the clip's analysis); `live` is the driver the live frames came through, used again (its
    connection and login) when the camera records itself. `note` takes each retrieval in place of
    the store (a worker has none); by default it is written to the site's store.
    """
    endpoint, channel = recorder_of(app, camera)
    if note is None:
        note = functools.partial(viewing.record_retrieval, app)
    purpose = f"inspection run-{run_id}" if run_id is not None else "inspection"
    reuse = live is not None and endpoint == source_of(app, camera)[0]
    driver = live if reuse else app.driver(endpoint)
    start = now - timedelta(days=1)
    end = start + timedelta(seconds=app.site.policies.playback_seconds)
    # An undecodable clip is reported in the run's result; FFmpeg need not also print it.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        # The device's own answer: a driver may only learn what it offers once it has connected.
        capabilities = await known_capabilities(driver)
        if Capability.CLIP_DOWNLOAD in capabilities:
            series = FrameSeries()
            note(endpoint.device_id, channel, AuditAction.DOWNLOAD, actor, purpose, run=run_id)
            with contextlib.ExitStack() as stack:
                if folder is None:
                    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                wanted = folder / f"playback-{uuid.uuid4().hex}.mp4"
                stack.callback(wanted.unlink, missing_ok=True)
                # The driver says where the clip is: a recorder's own container may need its own
                # suffix (a GB/T 28181 playback is a PS, .mpg).
                clip = await driver.download_clip(channel, start, end, wanted)
                stack.callback(Path(clip).unlink, missing_ok=True)
                await in_frame_thread(series.extend, sample_video(clip, 3))
            source = "clip"
        elif Capability.PLAYBACK in capabilities:
            note(endpoint.device_id, channel, AuditAction.PLAYBACK, actor, purpose, run=run_id)
            uri = await driver.playback_uri(channel, start, end)
            # Not a frame thread: a replay waits seconds on the network while it plays.
            series = await asyncio.to_thread(read_stream, uri, endpoint, 3)
            source = "replay stream"
        else:
            raise PlaybackUnavailable(N_("the recorder can neither export nor replay recordings"))
        return series.finished(), f"ok: {series.count} frames of the {source} from {start.isoformat(timespec='seconds')}"
    except (DeviceError, AnalysisError, CapabilityMissing) as error:
        raise PlaybackUnavailable(error.reason if isinstance(error, DeviceError) else error_text(error)) from None
    finally:
        if not reuse:
            await driver.close()


def reference_from(payload: dict[str, Any] | None) -> Metrics | None:
    """The reference view's metrics as the appliance measured them (exact: JSON floats round-trip,
    the thumbnail is a PNG), so the worker judges against the very numbers the appliance would."""
    if payload is None:
        return None
    if "error" in payload:  # as an unreadable reference always was: that camera's check fails, saying so
        raise DeviceError(FindingKind.PROTOCOL_ERROR, payload["error"])
    fields = dict(payload["metrics"])
    for name in ("channel_means", "edge_gradients"):
        if fields[name] is not None:
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
        if cached is not None and cached[0] == hashlib.sha256(jpeg).hexdigest():
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


#: Retrievals a camera's inspection made, as (device, channel, action, purpose): the appliance
#: writes them to the store (a worker has no store), before the run's results.
Retrievals = list[tuple[str, int | None, str, str]]


async def inspect_camera(app: DeviceReach, camera: Camera, now: datetime, actor: str, run_id: int, folder: Path,
                         playback: bool, reference: Callable[[], Metrics | None],
                         limit: asyncio.Semaphore | None = None) -> tuple[CheckResult, dict[str, Any], Retrievals]:
    """One camera's inspection: its findings and scope, its row for inspection_results, and the
    retrievals it made. Writes nothing, so it runs alike in the appliance and in a worker process;
    whatever goes wrong with the camera is its finding. `reference` gives the camera's reference
    view's metrics (called in the analysis thread: decoding it is part of the camera's work)."""
    policies = app.site.policies
    result = CheckResult()
    result.evaluated([*DEVICE_FAILURE_KINDS, FindingKind.CHECK_FAILED], camera.id)
    row: dict[str, Any] = {"run": run_id, "camera": camera.id, "channel": None, "frames": 0, "playback": "not tried"}
    retrievals: Retrievals = []

    def note(device: str, channel: int | None, action: AuditAction, actor: str, purpose: str, run: int | None) -> None:
        retrievals.append((device, channel, str(action), purpose))

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
                                                                          driver, note)
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
    return result, row, retrievals


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

    def record(camera: str, result: CheckResult, row: dict[str, Any], retrievals: Retrievals) -> None:
        """The one writer: a camera's retrievals go to the store as it is done, its row with the run."""
        for device, channel, action, purpose in retrievals:
            viewing.record_retrieval(app, device, channel, action, context.actor, purpose, run=run_id)
        rows.append(row)
        if context.progress is not None:
            context.progress(camera)

    async def one(camera: Camera) -> CheckResult:
        """One camera's inspection; whatever goes wrong with it is its finding, and the run goes on."""
        result, row, retrievals = await inspect_camera(app, camera, context.now, context.actor, run_id, folder,
                                                       playback, functools.partial(reference_from, reference.get(camera.id)),
                                                       limit)
        record(camera.id, result, row, retrievals)
        return result

    total = CheckResult()
    try:
        if app.site.distributed is not None:
            # Workers inspect; this process stays the one writer of what they found.
            from watchkeeper.rules import workers
            total = await workers.inspect_remotely(app, cameras, context, run_id, playback, record)
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


def sign(app: App, actor: str, run_id: int | None = None, note: str = "",
         fault_notes: dict[str, tuple[str, str]] | None = None) -> int:
    """An operator on duty signs an inspection run (the latest by default): R5's accountability.

    Refused, and journaled, unless the run covered every camera in scope, the signer is on duty for
    the shift the run serves, and `fault_notes` holds, for every camera with a fault, what was done
    and to whom it was reported: ``{camera: (action, reported_to)}``.
    """
    if run_id is None:
        row = app.store.conn.execute("SELECT id FROM inspection_runs WHERE finished_at IS NOT NULL"
                                     " ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise KeyError("no finished inspection run to sign")
        run_id = row[0]
    subject = f"run-{run_id}"
    app.require(actor, "inspect.sign", subject, kind="inspection")
    run = app.store.row("inspection_runs", run_id, "inspection run")
    if run["signed_by"]:
        raise ValueError(f"run {run_id} was already signed by {run['signed_by']}")
    if not run["finished_at"]:
        raise ValueError(f"run {run_id} has not finished")
    results = list(app.store.db["inspection_results"].rows_where("run = ?", [run_id]))
    missing = sorted({camera.id for camera in app.site.cameras} - {r["camera"] for r in results})
    if missing:
        raise duty.refuse(app, actor, subject, "inspect.sign", N_(
            "run {run} did not inspect every camera in scope: {cameras} missing",
            run=run_id, cameras=", ".join(missing)))
    shift = duty.shift_for(app, datetime.fromisoformat(run["started_at"]))
    rostered = duty.on_duty(app, shift) if shift is not None else ()
    if actor not in rostered:
        label = duty.shift_label(app, shift) if shift is not None else "?"
        raise duty.refuse(app, actor, subject, "inspect.sign", N_(
            "{actor} is not on duty for the shift of {shift} (on duty: {names})",
            actor=actor, shift=label, names=", ".join(rostered) or N_("nobody")))
    fault_notes = {camera: (action.strip(), to.strip()) for camera, (action, to) in (fault_notes or {}).items()}
    faulty = sorted(r["camera"] for r in results if r["status"] == "fault")
    extra = sorted(set(fault_notes) - set(faulty))
    if extra:
        raise ValueError(_("no fault in run {run} for {cameras}").format(run=run_id, cameras=", ".join(extra)))
    unnoted = [camera for camera in faulty if not all(fault_notes.get(camera, ("", "")))]
    if unnoted:
        raise duty.refuse(app, actor, subject, "inspect.sign", N_(
            "every fault needs a note of what was done and to whom it was reported: {cameras}",
            cameras=", ".join(unnoted)))
    now = datetime.now(timezone.utc).isoformat()
    with app.store.transaction():
        app.store.db["inspection_fault_notes"].insert_all(
            [{"run": run_id, "camera": camera, "action": action, "reported_to": to, "noted_by": actor,
              "noted_at": now} for camera, (action, to) in sorted(fault_notes.items())])
        app.store.db["inspection_runs"].update(run_id, {"signed_by": actor, "signed_at": now, "note": note})
    app.journal.append("inspection", actor, subject, {
        "signed": run_id, "note": note, "faults": run["fault"], "warnings": run["warning"],
        "shift": duty.shift_label(app, shift) if shift is not None else None,
        "fault_notes": {camera: {"action": action, "reported_to": to} for camera, (action, to) in fault_notes.items()}})
    return run_id


def shifts_due(app: App, now: datetime, days: int | None = None) -> list[datetime]:
    """Shift starts whose signing window has closed: since commissioning (any age), or in the last `days`."""
    since = app.commissioned_at()
    if days is not None:
        since = max(since, now - timedelta(days=days))
    return duty.shift_starts(app, since, now - SHIFT_GRACE)


async def check_signed(context: CheckContext) -> CheckResult:
    """Every shift since commissioning, however long ago, has a signed inspection; a missed one names
    the operators on duty."""
    app, result = context.app, CheckResult()
    signed = sorted(datetime.fromisoformat(row[0]) for row in app.store.conn.execute(
        "SELECT started_at FROM inspection_runs WHERE signed_by IS NOT NULL"))
    for start in shifts_due(app, context.now):
        subject = f"shift {duty.shift_label(app, start)}"
        if ownership.disposed(app, FindingKind.INSPECTION_UNSIGNED, subject):
            continue
        result.evaluated([FindingKind.INSPECTION_UNSIGNED], subject)
        first = bisect.bisect_left(signed, start - SHIFT_LEAD)
        if first < len(signed) and signed[first] <= start + SHIFT_GRACE:
            continue
        names = duty.on_duty(app, start)
        who = ", ".join(names) if names else N_("nobody was rostered")
        result.findings.append(Finding(FindingKind.INSPECTION_UNSIGNED, subject,
                                       N_("no signed inspection before this shift; on duty: {who}", who=who),
                                       details={"on_duty": list(names), "shift": start.isoformat()}))
    return result


def verdict(context: VerdictContext) -> Verdict:
    """R5: each shift that fell due in the period has a signed inspection run before it."""
    app, zone = context.app, context.app.site.zone
    evidence, missing = Evidence(), []
    if not app.site.cameras:
        return decide(context, evidence)
    runs = context.rows("SELECT id, started_at FROM inspection_runs WHERE signed_by IS NOT NULL AND started_at >= ?"
                        " AND started_at < ? ORDER BY id",
                        [(context.since - SHIFT_LEAD).isoformat(), context.until.isoformat()])
    in_period = [run for run in runs if run["started_at"] >= context.since.isoformat()]
    evidence.extend("inspection_runs", [run["id"] for run in in_period])
    day = context.since.astimezone(zone).date()
    while datetime.combine(day, time(), tzinfo=zone) < context.until:
        for text in app.site.policies.inspection_times:
            shift = datetime.combine(day, time.fromisoformat(text), tzinfo=zone).astimezone(timezone.utc)
            if not (context.since <= shift and shift + SHIFT_GRACE <= context.until):
                continue
            window = [(shift - SHIFT_LEAD).isoformat(), (shift + SHIFT_GRACE).isoformat()]
            covering = [run["id"] for run in runs if window[0] <= run["started_at"] <= window[1]]
            evidence.extend("inspection_runs", covering)
            if not covering:
                missing.append(Item("R5.shift_unsigned", _("no signed inspection before the shift of {shift}").format(
                    shift=local(context, shift))))
        day += timedelta(days=1)
    return decide(context, evidence, (), missing, _("every shift due had a signed inspection"))


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

"""The shift inspection (R5): live frames and a recorded clip per camera, judged by the frame checks."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import tempfile
import uuid
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import attrs
import cv2
import numpy as np
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.analysis import (MOTION_PLANE_NOISE_GAIN, AnalysisError, Metrics, analyze_frame, frozen_score,
                                  motion_plane, sample_video)
from watchkeeper.checks import Check, CheckContext, CheckResult
from watchkeeper.drivers import DEVICE_FAILURE_KINDS, DeviceError
from watchkeeper.findings import Finding, FindingKind, Severity
from watchkeeper.imagechecks import check_frame, combine, thresholds_for
from watchkeeper.models import Capability
from watchkeeper.pluginhost import fire_event
from watchkeeper.scene import compare_to_reference

migrations = Migrations("watchkeeper.inspection")

IMAGE_KINDS = (FindingKind.BLURRED, FindingKind.TOO_DARK, FindingKind.OVEREXPOSED, FindingKind.COLOUR_CAST,
               FindingKind.NOISY, FindingKind.NO_SIGNAL, FindingKind.FROZEN, FindingKind.OCCLUDED, FindingKind.MOVED)
#: Cameras inspected at once: each waits between its spaced frames, so many overlap cheaply.
CAMERA_CONCURRENCY = 128
#: A shift's inspection counts if it started this long before the shift, or up to SHIFT_GRACE after.
SHIFT_LEAD = timedelta(hours=4)
SHIFT_GRACE = timedelta(hours=1)


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


def decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DeviceError(FindingKind.PROTOCOL_ERROR, f"snapshot is not a decodable image ({len(data)} bytes)")
    return image


def source_of(app: Any, camera: Any) -> tuple[Any, int]:
    """The endpoint and channel that give this camera's live image."""
    if camera.host is not None:
        return app.camera_endpoint(camera.id), camera.channel
    return app.camera_endpoint(camera.id), camera.recorder_channel or camera.channel


def recorder_of(app: Any, camera: Any) -> tuple[Any, int]:
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

    def add(self, frame: np.ndarray) -> None:
        metrics = analyze_frame(frame)
        plane = motion_plane(frame)
        if self.last_plane is not None and self.last_plane.shape == plane.shape:
            score = frozen_score(self.last_plane, plane) * MOTION_PLANE_NOISE_GAIN
            self.frozen = score if self.frozen is None else max(self.frozen, score)
        self.last_plane, self.last, self.count = plane, metrics, self.count + 1

    def finished(self) -> FrameSeries:
        """No more frames: the plane kept for the next difference goes (the metrics stay)."""
        self.last_plane = None
        return self


async def live_frames(driver: Any, channel: int, count: int, interval: float) -> FrameSeries:
    series = FrameSeries()
    for index in range(count):
        if index:
            await asyncio.sleep(interval)
        data = await driver.snapshot(channel)
        # Decoding and analysis run in a worker thread: the kernel drops the GIL, so both cores work.
        await asyncio.to_thread(lambda: series.add(decode_jpeg(data)))
    return series.finished()


def read_stream(uri: str, endpoint: Any, count: int) -> FrameSeries:
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
            for frame in container.decode(video=0):
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


async def playback_frames(app: Any, camera: Any, now: datetime, folder: Path | None = None,
                         live: Any = None) -> tuple[FrameSeries, str]:
    """Frames of yesterday's recording at this time of day: a clip exported from the recorder, or
    its RTSP replay where the recorder cannot export (ONVIF Profile G).

    `folder` holds the clip while it is read (a run shares one: a folder per clip cost more than
    the clip's analysis); `live` is the driver the live frames came through, used again (its
    connection and login) when the camera records itself.
    """
    endpoint, channel = recorder_of(app, camera)
    reuse = live is not None and endpoint == source_of(app, camera)[0]
    driver = live if reuse else app.driver(endpoint)
    start = now - timedelta(days=1)
    end = start + timedelta(seconds=app.site.policies.playback_seconds)
    # An undecodable clip is reported in the run's result; FFmpeg need not also print it.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        if Capability.CLIP_DOWNLOAD in driver.capabilities:
            series = FrameSeries()
            with contextlib.ExitStack() as stack:
                if folder is None:
                    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                clip = folder / f"playback-{uuid.uuid4().hex}.mp4"
                stack.callback(clip.unlink, missing_ok=True)
                await driver.download_clip(channel, start, end, clip)
                await asyncio.to_thread(lambda: [series.add(frame) for frame in sample_video(clip, 3)])
            source = "clip"
        elif Capability.PLAYBACK in driver.capabilities:
            uri = await driver.playback_uri(channel, start, end)
            series = await asyncio.to_thread(read_stream, uri, endpoint, 3)
            source = "replay stream"
        else:
            return FrameSeries(), "skipped: the recorder can neither export nor replay"
        return series.finished(), f"ok: {series.count} frames of the {source} from {start.isoformat(timespec='seconds')}"
    except (DeviceError, AnalysisError) as error:
        return FrameSeries(), f"failed: {getattr(error, 'reason', error)}"
    finally:
        if not reuse:
            await driver.close()


def reference_metrics(app: Any, camera_id: str) -> Metrics | None:
    row = app.store.conn.execute("SELECT jpeg FROM baselines WHERE camera = ?", [camera_id]).fetchone()
    return analyze_frame(decode_jpeg(row[0])) if row else None


def judge(series: FrameSeries, camera: Any, app: Any, reference: Metrics | None,
          judge_frozen: bool = True) -> list[Finding]:
    """Image findings for a camera from its judged frames."""
    scene = compare_to_reference(series.last, reference) if reference is not None else None
    limits = thresholds_for(camera.profile, app.site.policies.thresholds)
    return check_frame(series.last, subject=camera.id, profile=camera.profile, thresholds=limits, scene=scene,
                       frozen_score=series.frozen if judge_frozen else None)


def judge_camera(live: FrameSeries, recorded: FrameSeries, camera: Any, app: Any) -> tuple[list[Finding], str]:
    """A camera's image findings (live frames against its reference, then what only the recording
    shows) and its thumbnail for the run's record: one worker-thread trip for all of it."""
    found = judge(live, camera, app, reference_metrics(app, camera.id))
    if recorded.count:
        # Frozen is meaningless across a replayed clip's sparse samples; the live frames judge it.
        # What only the recording shows joins the live findings, ranked as check_frame ranks.
        replayed = judge(recorded, camera, app, None, False)
        found = combine(found, [f for f in replayed if f.kind is not FindingKind.FROZEN])
    return found, thumbnail_b64(live.last)


def thumbnail_b64(metrics: Metrics) -> str:
    ok, data = cv2.imencode(".jpg", metrics.thumbnail, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return base64.b64encode(data.tobytes()).decode() if ok else ""


def status_of(findings: list[Finding]) -> str:
    if any(f.severity is Severity.FAULT for f in findings):
        return "fault"
    return "warning" if findings else "ok"


async def inspect_cameras(context: CheckContext) -> CheckResult:
    app, policies = context.app, context.app.site.policies
    playback = context.options.get("playback", True)
    # No clock check here: R7's clock check runs at every start and nightly as its own check, and
    # running it again per inspection asked every camera its time twice.
    run_id = app.store.db["inspection_runs"].insert({
        "started_at": context.now.isoformat(), "actor": context.actor, "cameras": 0}).last_pk
    limit = asyncio.Semaphore(CAMERA_CONCURRENCY)
    rows: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="watchkeeper-inspection-"))

    async def one(camera: Any) -> CheckResult:
        result = CheckResult()
        endpoint, channel = source_of(app, camera)
        result.evaluated(DEVICE_FAILURE_KINDS, camera.id)
        row = {"run": run_id, "camera": camera.id, "channel": channel, "frames": 0, "playback": "not tried"}
        async with limit:
            driver = app.driver(endpoint)
            try:
                live = await live_frames(driver, channel, policies.inspection_frames, policies.frame_interval_seconds)
                recorded = FrameSeries()
                if playback and live.count:
                    recorded, row["playback"] = await playback_frames(app, camera, context.now, folder, driver)
            except DeviceError as error:
                result.findings.append(error.finding(camera.id))
                live = recorded = FrameSeries()
            finally:
                await driver.close()
        if live.count:
            result.evaluated(IMAGE_KINDS, camera.id)
            # Live pictures arriving is the camera's answer to a video-loss alarm it raised earlier;
            # if they show no signal, the no_signal finding says so instead.
            result.evaluated([FindingKind.VIDEO_LOSS], camera.id)
            found, thumbnail = await asyncio.to_thread(judge_camera, live, recorded, camera, app)
            result.findings += found
            row.update(frames=live.count, metrics=json.dumps(live.last.to_dict()), thumbnail=thumbnail)
        row["findings"] = json.dumps(sorted(str(f.kind) for f in result.findings))
        row["status"] = status_of(result.findings)
        rows.append(row)
        if context.progress is not None:
            context.progress(camera.id)
        return result

    cameras = [camera for camera in app.site.cameras if context.wanted(camera.id)]
    total = CheckResult()
    try:
        for result in await asyncio.gather(*(one(camera) for camera in cameras)):
            total.merge(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in ("ok", "warning", "fault")}
    with app.store.transaction():
        app.store.db["inspection_results"].insert_all(rows)
        app.store.db["inspection_runs"].update(run_id, {"finished_at": datetime.now(timezone.utc).isoformat(),
                                                        "cameras": len(rows), **counts})
    total.summary = {"run": run_id, "cameras": len(rows), **counts}
    fire_event(app.pm, "on_inspection_complete", run={"id": run_id, **total.summary,
                                                       "results": [{k: v for k, v in r.items() if k != "thumbnail"}
                                                                   for r in rows]}, site=app.site)
    return total


def sign(app: Any, actor: str, run_id: int | None = None, note: str = "") -> int:
    """An operator signs an inspection run (the latest by default): R5's accountability."""
    if run_id is None:
        row = app.store.conn.execute("SELECT id FROM inspection_runs WHERE finished_at IS NOT NULL"
                                     " ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise KeyError("no finished inspection run to sign")
        run_id = row[0]
    app.require(actor, "inspect.sign", f"run-{run_id}", kind="inspection")
    run = app.store.db["inspection_runs"].get(run_id)
    if run["signed_by"]:
        raise ValueError(f"run {run_id} was already signed by {run['signed_by']}")
    app.store.db["inspection_runs"].update(run_id, {"signed_by": actor, "signed_at": datetime.now(timezone.utc).isoformat(),
                                                    "note": note})
    app.journal.append("inspection", actor, f"run-{run_id}", {"signed": run_id, "note": note,
                                                             "faults": run["fault"], "warnings": run["warning"]})
    return run_id


def shifts_due(app: Any, now: datetime, days: int = 1) -> list[datetime]:
    """Shift starts in the last `days` whose signing window has closed."""
    zone, starts = app.site.zone, []
    local_today = now.astimezone(zone).date()
    since = max(now - timedelta(days=days), app.commissioned_at())
    for offset in range(days, -1, -1):
        day = local_today - timedelta(days=offset)
        for text in app.site.policies.inspection_times:
            start = datetime.combine(day, time.fromisoformat(text), tzinfo=zone).astimezone(timezone.utc)
            if since <= start and start + SHIFT_GRACE <= now:
                starts.append(start)
    return starts


async def check_signed(context: CheckContext) -> CheckResult:
    result = CheckResult()
    for start in shifts_due(context.app, context.now):
        subject = f"shift {start.astimezone(context.app.site.zone):%Y-%m-%d %H:%M}"
        result.evaluated([FindingKind.INSPECTION_UNSIGNED], subject)
        signed = context.app.store.conn.execute(
            "SELECT count(*) FROM inspection_runs WHERE signed_by IS NOT NULL AND started_at >= ? AND started_at <= ?",
            [(start - SHIFT_LEAD).isoformat(), (start + SHIFT_GRACE).isoformat()]).fetchone()[0]
        if not signed:
            result.findings.append(Finding(FindingKind.INSPECTION_UNSIGNED, subject,
                                           "no signed inspection before this shift: the person on duty is accountable"))
    return result


@hookimpl
def register_checks(register: Any) -> None:
    register(Check("inspection", "R5", inspect_cameras, "live and recorded frames of every camera judged"))
    register(Check("inspection_signed", "R5", check_signed, "every shift has a signed inspection"))


@hookimpl
def register_migrations(register: Any) -> None:
    register(migrations)

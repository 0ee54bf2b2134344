"""The shift inspection (R5): live frames and a recorded clip per camera, judged by the frame checks."""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
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
from watchkeeper.analysis.metrics import (MOTION_PLANE_NOISE_GAIN, AnalysisError, Metrics, analyze_frame, as_frame,
                                          frozen_score, motion_plane, sample_video)
from watchkeeper.analysis.scene import compare_to_reference
from watchkeeper.analysis.imagebounds import check_size, decode_image
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.verdicts import Item, decide, local
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext
from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS, CapabilityMissing, DeviceError, known_capabilities
from watchkeeper.core.findings import Finding, FindingKind, Severity
from watchkeeper.analysis.imagechecks import check_frame, combine, thresholds_for
from watchkeeper.core.models import AuditAction, Capability, Endpoint
from watchkeeper.rules import duty, ownership, viewing
from watchkeeper.devices.drivers import CameraDriver
from watchkeeper.site.app import App
from watchkeeper.site.config import Camera

log = logging.getLogger(__name__)
migrations = Migrations("watchkeeper.inspection")

IMAGE_KINDS = (FindingKind.BLURRED, FindingKind.TOO_DARK, FindingKind.OVEREXPOSED, FindingKind.COLOUR_CAST,
               FindingKind.NOISY, FindingKind.NO_SIGNAL, FindingKind.FROZEN, FindingKind.OCCLUDED, FindingKind.MOVED)
#: Cameras inspected at once: each waits between its spaced frames, so many overlap cheaply.
CAMERA_CONCURRENCY = 128
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


def decode_jpeg(data: bytes) -> np.ndarray:
    """A camera's snapshot as BGR; its header's size is checked before anything is decoded, so a
    lying or bombed JPEG is that camera's protocol_error, not gigabytes for the whole inspection."""
    try:
        return as_frame(decode_image(data, color=True, what=f"snapshot of {len(data)} bytes"))
    except AnalysisError as error:
        raise DeviceError(FindingKind.PROTOCOL_ERROR, str(error)) from None


def source_of(app: App, camera: Camera) -> tuple[Endpoint, int]:
    """The endpoint and channel that give this camera's live image."""
    if camera.host is not None:
        return app.camera_endpoint(camera.id), camera.channel
    return app.camera_endpoint(camera.id), camera.recorder_channel or camera.channel


def recorder_of(app: App, camera: Camera) -> tuple[Endpoint, int]:
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
        for frame in frames:
            self.add(frame)

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


async def live_frames(driver: CameraDriver, channel: int, count: int, interval: float) -> FrameSeries:
    series = FrameSeries()
    for index in range(count):
        if index:
            await asyncio.sleep(interval)
        data = await driver.snapshot(channel)
        # Decoding and analysis run in a worker thread: the kernel drops the GIL, so both cores work.
        await asyncio.to_thread(lambda: series.add(decode_jpeg(data)))
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


async def playback_frames(app: App, camera: Camera, now: datetime, actor: str = "watchkeeper",
                          run_id: int | None = None, folder: Path | None = None,
                          live: Any = None) -> tuple[FrameSeries, str]:
    """Frames of yesterday's recording at this time of day: a clip exported from the recorder, or
    its RTSP replay where the recorder cannot export (ONVIF Profile G). Each is noted as watchkeeper's
    own retrieval, so the recorder's log line for it is not taken for a stranger's (R9). Raises
    PlaybackUnavailable saying why when neither works: a failed replay is a finding, never "ok".

    `folder` holds the clip while it is read (a run shares one: a folder per clip cost more than
    the clip's analysis); `live` is the driver the live frames came through, used again (its
    connection and login) when the camera records itself.
    """
    endpoint, channel = recorder_of(app, camera)
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
            viewing.record_retrieval(app, endpoint.device_id, channel, AuditAction.DOWNLOAD, actor, purpose, run=run_id)
            with contextlib.ExitStack() as stack:
                if folder is None:
                    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                wanted = folder / f"playback-{uuid.uuid4().hex}.mp4"
                stack.callback(wanted.unlink, missing_ok=True)
                # The driver says where the clip is: a recorder's own container may need its own
                # suffix (a GB/T 28181 playback is a PS, .mpg).
                clip = await driver.download_clip(channel, start, end, wanted)
                stack.callback(Path(clip).unlink, missing_ok=True)
                await asyncio.to_thread(series.extend, sample_video(clip, 3))
            source = "clip"
        elif Capability.PLAYBACK in capabilities:
            viewing.record_retrieval(app, endpoint.device_id, channel, AuditAction.PLAYBACK, actor, purpose, run=run_id)
            uri = await driver.playback_uri(channel, start, end)
            series = await asyncio.to_thread(read_stream, uri, endpoint, 3)
            source = "replay stream"
        else:
            raise PlaybackUnavailable("the recorder can neither export nor replay recordings")
        return series.finished(), f"ok: {series.count} frames of the {source} from {start.isoformat(timespec='seconds')}"
    except (DeviceError, AnalysisError, CapabilityMissing) as error:
        raise PlaybackUnavailable(str(getattr(error, "reason", error))) from None
    finally:
        if not reuse:
            await driver.close()


def reference_metrics(app: App, camera_id: str) -> Metrics | None:
    row = app.store.conn.execute("SELECT jpeg FROM baselines WHERE camera = ?", [camera_id]).fetchone()
    return analyze_frame(decode_jpeg(row[0])) if row else None


def judge(series: FrameSeries, camera: Camera, app: App, reference: Metrics | None,
          judge_frozen: bool = True) -> list[Finding]:
    """Image findings for a camera from its judged frames."""
    if series.last is None:
        return []
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
    return found, thumbnail_b64(live.last) if live.last is not None else ""


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
    assert run_id is not None  # an insert always has a key
    limit = asyncio.Semaphore(CAMERA_CONCURRENCY)
    rows: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="watchkeeper-inspection-"))

    async def inspect(camera: Camera, result: CheckResult, row: dict[str, Any]) -> None:
        endpoint, channel = source_of(app, camera)
        row["channel"] = channel
        async with limit:
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
                        recorded, row["playback"] = await playback_frames(app, camera, context.now, context.actor,
                                                                          run_id, folder, driver)
                    except PlaybackUnavailable as failure:
                        row["playback"] = f"failed: {failure}"
                        result.findings.append(Finding(FindingKind.PLAYBACK_UNAVAILABLE, camera.id,
                                                       N_("recorded footage could not be played back: {failure}",
                                                          failure=str(failure))))
            finally:
                await driver.close()
        if live.count:
            result.evaluated(IMAGE_KINDS, camera.id)
            # Live pictures arriving is the camera's answer to a video-loss alarm it raised earlier;
            # if they show no signal, the no_signal finding says so instead.
            result.evaluated([FindingKind.VIDEO_LOSS], camera.id)
            found, thumbnail = await asyncio.to_thread(judge_camera, live, recorded, camera, app)
            result.findings += found
            if live.last is not None:
                row.update(frames=live.count, metrics=json.dumps(live.last.to_dict()), thumbnail=thumbnail)

    async def one(camera: Camera) -> CheckResult:
        """One camera's inspection; whatever goes wrong with it is its finding, and the run goes on."""
        result = CheckResult()
        result.evaluated([*DEVICE_FAILURE_KINDS, FindingKind.CHECK_FAILED], camera.id)
        row = {"run": run_id, "camera": camera.id, "channel": None, "frames": 0, "playback": "not tried"}
        try:
            await inspect(camera, result, row)
        except CapabilityMissing as error:
            result.findings.append(Finding(FindingKind.CHECK_FAILED, camera.id,
                                           f"the device cannot be inspected: {error}"[:300]))
        except Exception as error:  # a bug must cost one camera its inspection, not the whole run
            log.exception("inspection of %s failed", camera.id)
            result.findings.append(Finding(FindingKind.CHECK_FAILED, camera.id,
                                           f"inspection failed inside watchkeeper ({type(error).__name__}); "
                                           "see the log"))
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
        # Every run finishes, whatever was raised: a run without finished_at can never be signed.
        counts = {status: sum(1 for r in rows if r["status"] == status) for status in ("ok", "warning", "fault")}
        with app.store.transaction():
            app.store.db["inspection_results"].insert_all(rows)
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
        raise duty.refuse(app, actor, subject, "inspect.sign", _(
            "run {run} did not inspect every camera in scope: {cameras} missing").format(
            run=run_id, cameras=", ".join(missing)))
    shift = duty.shift_for(app, datetime.fromisoformat(run["started_at"]))
    rostered = duty.on_duty(app, shift) if shift is not None else ()
    if actor not in rostered:
        label = duty.shift_label(app, shift) if shift is not None else "?"
        raise duty.refuse(app, actor, subject, "inspect.sign", _(
            "{actor} is not on duty for the shift of {shift} (on duty: {names})").format(
            actor=actor, shift=label, names=", ".join(rostered) or _("nobody")))
    fault_notes = {camera: (action.strip(), to.strip()) for camera, (action, to) in (fault_notes or {}).items()}
    faulty = sorted(r["camera"] for r in results if r["status"] == "fault")
    extra = sorted(set(fault_notes) - set(faulty))
    if extra:
        raise ValueError(_("no fault in run {run} for {cameras}").format(run=run_id, cameras=", ".join(extra)))
    unnoted = [camera for camera in faulty if not all(fault_notes.get(camera, ("", "")))]
    if unnoted:
        raise duty.refuse(app, actor, subject, "inspect.sign", _(
            "every fault needs a note of what was done and to whom it was reported: {cameras}").format(
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

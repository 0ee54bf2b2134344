"""Where an inspection's frames come from (R5): live snapshots, the recorder's clip or replay, decoded on
frame threads off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import attrs
import numpy as np

from watchkeeper.analysis.metrics import (MOTION_PLANE_NOISE_GAIN, AnalysisError, Metrics, analyze_frame, as_frame,
                                          frozen_score, motion_plane, sample_video)
from watchkeeper.analysis.imagebounds import check_size, decode_image
from watchkeeper.core.i18n import N_, error_text
from watchkeeper.devices.drivers import CapabilityMissing, DeviceError, known_capabilities
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import AuditAction, Capability, Endpoint
from watchkeeper.devices.drivers import CameraDriver
from watchkeeper.site.app import DeviceReach
from watchkeeper.site.config import Camera
from watchkeeper.rules import viewing


log = logging.getLogger(__name__)
T = TypeVar("T")
#: Threads for frame work (JPEG and clip decoding, the kernel, judging): these drop the GIL, so one
#: a core keeps every core busy; asyncio's default pool (cores + 4) held more 1080p frames at once
#: (6 MB each) and queued the event loop's own thread work (address lookups) behind them.
FRAME_THREADS = max(2, os.cpu_count() or 2)
_frame_pool: tuple[int, ThreadPoolExecutor] | None = None
#: Records a retrieval's intent, (device, channel, action, purpose), before the fetch: the store's
#: row in the appliance, a message to the appliance from a worker (which has no store).
Announce = Callable[[str, int | None, str, str], Awaitable[None]]


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


async def store_intent(app: Any, actor: str, run_id: int | None, device: str, channel: int | None, action: str,
                       purpose: str) -> None:
    """A retrieval's intent, written to the site's store by the appliance itself."""
    viewing.record_retrieval(app, device, channel, action, actor, purpose, run=run_id)


async def playback_frames(app: DeviceReach, camera: Camera, now: datetime, actor: str = "watchkeeper",
                          run_id: int | None = None, folder: Path | None = None,
                          live: Any = None, note: Announce | None = None) -> tuple[FrameSeries, str]:
    """Frames of yesterday's recording at this time of day: a clip exported from the recorder, or
    its RTSP replay where the recorder cannot export (ONVIF Profile G). Each is noted as watchkeeper's
    own retrieval, so the recorder's log line for it is not taken for a stranger's (R9). Raises
    PlaybackUnavailable saying why when neither works: a failed replay is a finding, never "ok".

    `folder` holds the clip while it is read (a run shares one: a folder per clip cost more than
    the clip's analysis); `live` is the driver the live frames came through, used again (its
    connection and login) when the camera records itself. `note(device, channel, action, purpose)`
    records each retrieval's intent and is awaited before the fetch, so the recorder's log line
    is explained even if this process dies right after it (a worker sends it to the appliance, which
    has the store); by default it is written to the site's store as `actor`.
    """
    endpoint, channel = recorder_of(app, camera)
    if note is None:
        note = functools.partial(store_intent, app, actor, run_id)
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
            await note(endpoint.device_id, channel, str(AuditAction.DOWNLOAD), purpose)
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
            await note(endpoint.device_id, channel, str(AuditAction.PLAYBACK), purpose)
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


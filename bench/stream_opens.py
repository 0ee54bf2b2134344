"""Do RTSP stream opens run in parallel across threads? OpenCV's VideoCapture against PyAV.

Run: python bench/stream_opens.py [--streams 16] [--threads 8]
Opens each of the simulated ONVIF device's replay streams and reads its first frame, first one at a
time, then from a thread pool; prints each library's parallel speed-up (serial time / pooled time)
and the ratio of the two libraries' pooled times. A speed-up near 1 means opens are serialised.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import av
import cv2

from watchkeeper.plugins.onvif.driver import OnvifCamera
from watchkeeper.plugins.onvif.rtsp import rtsp_available
from watchkeeper.plugins.onvif.simulator import simulate

USER, PASSWORD = "admin", "bench-Pass-2026"


def open_cv(uri: str) -> bool:
    capture = cv2.VideoCapture(uri, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000,
                                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10_000])
    try:
        return capture.isOpened() and capture.read()[0]
    finally:
        capture.release()


def open_av(uri: str) -> bool:
    with av.open(uri, options={"rtsp_transport": "tcp", "timeout": "10000000"}, timeout=10) as container:
        return next(container.decode(video=0), None) is not None


def timed(opener, uris: list[str], threads: int) -> float:
    started = time.perf_counter()
    if threads == 1:
        results = [opener(uri) for uri in uris]
    else:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(opener, uris))
    assert all(results), f"{opener.__name__}: {results.count(False)} streams failed"
    return time.perf_counter() - started


async def replay_uris(count: int) -> tuple[list[str], object]:
    context = simulate(password=PASSWORD, channels=count, rtsp=True)
    (device,) = await context.__aenter__()
    camera = OnvifCamera(device.endpoint)
    now = datetime.now(timezone.utc)
    uris = []
    for channel in range(1, count + 1):
        uri = await camera.playback_uri(channel, now - timedelta(days=1), now - timedelta(days=1) + timedelta(seconds=10))
        uris.append(uri.replace("rtsp://", f"rtsp://{USER}:{PASSWORD}@", 1))
    await camera.close()
    return uris, context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reason = rtsp_available()
    if reason:
        raise SystemExit(reason)
    loop = asyncio.new_event_loop()
    uris, context = loop.run_until_complete(replay_uris(args.streams))
    try:
        figures = {}
        for opener in (open_cv, open_av):
            serial = statistics.median(timed(opener, uris, 1) for _ in range(args.repeats))
            pooled = statistics.median(timed(opener, uris, args.threads) for _ in range(args.repeats))
            figures[opener.__name__] = (serial, pooled)
            print(f"{opener.__name__}: {args.streams} opens, serial {serial:.2f} s ({serial / args.streams * 1000:.0f} ms "
                  f"each), {args.threads} threads {pooled:.2f} s: parallel speed-up {serial / pooled:.2f}")
        print(f"pooled time OpenCV / PyAV: {figures['open_cv'][1] / figures['open_av'][1]:.2f}")
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


if __name__ == "__main__":
    main()

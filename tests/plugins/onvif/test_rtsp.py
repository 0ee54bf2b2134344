"""Live and replay video over RTSP from the simulator (GStreamer RTSP server), read by OpenCV's FFmpeg."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import cv2
import pytest

from watchkeeper.plugins.onvif.driver import OnvifCamera
from watchkeeper.plugins.onvif.rtsp import rtsp_available
from watchkeeper.plugins.onvif.simulator import simulate

UNAVAILABLE = rtsp_available()


def _first_frame(uri: str, username: str, password: str) -> tuple[int, ...] | None:
    with_credentials = uri.replace("rtsp://", f"rtsp://{username}:{password}@", 1)
    capture = cv2.VideoCapture(with_credentials, cv2.CAP_FFMPEG)
    try:
        ok, frame = capture.read()
        return frame.shape if ok else None
    finally:
        capture.release()


@pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")
@pytest.mark.asyncio
async def test_stream_and_replay_uris_play() -> None:
    async with simulate(channels=2, rtsp=True) as (device,):
        camera = OnvifCamera(device.endpoint)
        try:
            live = await camera.stream_uri(2)
            now = datetime.now(timezone.utc)
            replay = await camera.playback_uri(2, now - timedelta(hours=1), now)
        finally:
            await camera.close()
        user, password = device.endpoint.username, device.endpoint.password.reveal()
        assert password not in live and password not in replay
        assert await asyncio.to_thread(_first_frame, live, user, password) == (360, 640, 3)
        assert await asyncio.to_thread(_first_frame, replay, user, password) == (360, 640, 3)
        assert await asyncio.to_thread(_first_frame, live, user, "wrong") is None  # RTSP digest auth

"""What a simulated recorder holds: continuous recording in fixed slots, cut by gaps, retention and now,
and clips of it that FFmpeg decodes."""

from __future__ import annotations

import itertools
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2

from watchkeeper.simulation.faults import FaultProfile, ImageFault
from watchkeeper.simulation.scenes import HEIGHT, WIDTH, render

#: How far back a healthy simulated recorder keeps footage.
DEFAULT_RETENTION_DAYS = 35.0


def recorded_intervals(start: datetime, end: datetime, faults: FaultProfile, now: datetime,
                       slot_seconds: int = 3600,
                       retention_days: float = DEFAULT_RETENTION_DAYS) -> list[tuple[datetime, datetime]]:
    """The recorded pieces overlapping [start, end): one per slot (a recorder's file), minus the
    profile's gaps, nothing older than its retention (the profile's, else `retention_days`) and nothing
    after now; whole seconds, UTC."""
    retention = faults.retention_days if faults.retention_days is not None else retention_days
    oldest = now - timedelta(days=retention)
    start, end = max(start, oldest), min(end, now)
    if start >= end:
        return []
    pieces: list[tuple[datetime, datetime]] = []
    first = int(start.timestamp()) // slot_seconds * slot_seconds
    for slot in itertools.count(first, slot_seconds):
        begin = datetime.fromtimestamp(slot, timezone.utc)
        if begin >= end:
            break
        cut = [(max(begin, oldest), min(begin + timedelta(seconds=slot_seconds), now))]
        for gap_start, gap_end in faults.gaps:
            kept = []
            for a, b in cut:
                if gap_end <= a or gap_start >= b:
                    kept.append((a, b))
                    continue
                if a < gap_start:
                    kept.append((a, gap_start))
                if gap_end < b:
                    kept.append((gap_end, b))
            cut = kept
        for a, b in cut:
            a, b = a.replace(microsecond=0), b.replace(microsecond=0)
            if b > a and b > start and a < end:
                pieces.append((a, b))
    return pieces


def mjpeg_clip(seed: int, image: frozenset[ImageFault], frames: int, first_tick: int = 0) -> bytes:
    """An MJPEG AVI of the scene, one frame a second, as FFmpeg and OpenCV decode it.

    Real recorders export their own containers (Hikvision PS, Dahua DHAV); a simulator that has no
    reason to copy one answers this, which the inspection's playback check decodes the same way.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 1.0, (WIDTH, HEIGHT))
        try:
            for tick in range(first_tick, first_tick + max(1, frames)):
                writer.write(render(seed, image, tick))
        finally:
            writer.release()
        return path.read_bytes()

"""What a simulated recorder has on disk: continuous pieces cut by gaps and retention, and clips of them."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import cv2

from watchkeeper.simulation.faults import FaultProfile, ImageFault
from watchkeeper.simulation.scenes import HEIGHT, WIDTH, render

#: How long a simulated recorder keeps recordings unless the fault profile says otherwise.
DEFAULT_RETENTION_DAYS = 30.0
Span = tuple[datetime, datetime]


def subtract(piece: Span, gaps: tuple[Span, ...]) -> list[Span]:
    """`piece` with every gap cut out."""
    parts = [piece]
    for gap_start, gap_end in gaps:
        next_parts = []
        for a, b in parts:
            if gap_end <= a or gap_start >= b:
                next_parts.append((a, b))
                continue
            if a < gap_start:
                next_parts.append((a, gap_start))
            if gap_end < b:
                next_parts.append((gap_end, b))
        parts = next_parts
    return parts


def recorded(start: datetime, end: datetime, faults: FaultProfile, now: datetime,
             piece: timedelta = timedelta(hours=1), retention_days: float = DEFAULT_RETENTION_DAYS) -> list[Span]:
    """Recorded files overlapping [start, end): one per `piece` (aligned to the hour) from the retention
    edge up to now, minus the profile's gaps; the profile's `retention_days` overrides the default."""
    kept = faults.retention_days if faults.retention_days is not None else retention_days
    oldest = now - timedelta(days=kept)
    begin, finish = max(start, oldest), min(end, now)
    pieces: list[Span] = []
    slot = begin.replace(minute=0, second=0, microsecond=0)
    while slot < finish:
        pieces.extend(subtract((max(slot, oldest), min(slot + piece, now)), faults.gaps))
        slot += piece
    return [(a, b) for a, b in pieces if b > start and a < end and b > a]


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

"""A camera's frame series judges its last frame exactly as analysing every frame did (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.analysis.metrics import MOTION_PLANE_NOISE_GAIN, analyze_frame, frozen_score, motion_plane
from watchkeeper.rules import frames as frame_sources, inspection
from watchkeeper.simulation.scenes import render


def frames(count: int) -> list[np.ndarray]:
    """A healthy camera's consecutive frames: the clock overlay and the walker move."""
    return [render(5, tick=tick) for tick in range(count)]


def eager(sequence: list[np.ndarray]) -> tuple[object, float | None]:
    """What the series computed before it skipped frames: every frame analysed, the last kept."""
    metrics, frozen, previous = None, None, None
    for frame in sequence:
        metrics = analyze_frame(frame)
        plane = motion_plane(frame)
        if previous is not None:
            score = frozen_score(previous, plane) * MOTION_PLANE_NOISE_GAIN
            frozen = score if frozen is None else max(frozen, score)
        previous = plane
    return metrics, frozen


@pytest.mark.parametrize("count", [1, 2, 4])
def test_only_the_last_frame_is_analysed_and_its_judgement_is_unchanged(count: int, monkeypatch) -> None:
    sequence = frames(count)
    expected, expected_frozen = eager(sequence)
    analysed = []
    monkeypatch.setattr(frame_sources, "analyze_frame", lambda frame: analysed.append(frame) or analyze_frame(frame))

    live = inspection.FrameSeries()
    for index, frame in enumerate(sequence):  # as live_frames adds snapshots: it knows which is last
        live.add(frame, judged=index == count - 1)
    clip = inspection.FrameSeries()
    clip.extend(iter(sequence))  # as a decoder yields them: the last is known when it runs out

    assert len(analysed) == 2 and all(frame is sequence[-1] for frame in analysed)
    for series in (live.finished(), clip.finished()):
        assert series.count == count and series.frozen == expected_frozen
        assert series.last == expected and np.array_equal(series.last.thumbnail, expected.thumbnail)


def test_an_empty_decoder_leaves_nothing_to_judge() -> None:
    series = inspection.FrameSeries()
    series.extend(iter(()))
    assert series.count == 0 and series.last is None and series.frozen is None

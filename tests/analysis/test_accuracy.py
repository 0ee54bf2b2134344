"""The accuracy floor: every image check is right on at least 95 % of the labelled set."""

from __future__ import annotations

import pytest

from watchkeeper.testing.frames_dataset import (
    CHECKED_KINDS, accuracy, confusion, labelled_samples, photo_path, run_checks,
)

FLOOR = 0.95


@pytest.fixture(scope="module", params=[2026, 7], ids=["calibration-seed", "other-seed"])
def outcomes(request):
    # The second seed moves occluders and redraws every noise field the thresholds were tuned on.
    return run_checks(labelled_samples(seed=request.param))


def test_photos_ship_inside_scikit_image() -> None:
    import skimage

    assert photo_path("astronaut.png").is_relative_to(__import__("pathlib").Path(skimage.__file__).parent)


@pytest.mark.parametrize("kind", CHECKED_KINDS, ids=str)
def test_check_accuracy_floor(outcomes, kind) -> None:
    counts = confusion(outcomes)[kind]
    assert counts["tp"] > 0, f"the set has no {kind} case"
    assert accuracy(counts) >= FLOOR, f"{kind}: {counts}"


def test_undegraded_images_raise_nothing(outcomes) -> None:
    clean = [o for o in outcomes if not o.sample.expected]
    assert len(clean) >= 20
    assert [(o.sample.name, sorted(o.found)) for o in clean if o.found] == []

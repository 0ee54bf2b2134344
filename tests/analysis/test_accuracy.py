"""The natural-picture set must not regress: one held-back seed, every check, no finding on a clean picture.

The full report (both sets, tuning and held-back seeds) is `python bench/accuracy.py`; this keeps a
floor a few points under what that reports, so that a change that breaks a check on natural pictures
fails here while a one-case wobble does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.core.findings import FindingKind as K
from watchkeeper.testing.frames_dataset import (
    CHECKED_KINDS, COLOUR_PHOTOS, GRAY_PHOTOS, HELD_BACK_SEEDS, confusion, labelled_samples, precision, recall,
    run_checks, shipped_photo,
)

FLOOR = 0.9


@pytest.fixture(scope="module")
def outcomes():
    return run_checks(labelled_samples(HELD_BACK_SEEDS[0], "natural"))


def test_photos_ship_inside_installed_packages() -> None:
    import matplotlib
    import skimage

    for package, name in COLOUR_PHOTOS + GRAY_PHOTOS:
        path = shipped_photo(package, name)
        roots = (Path(skimage.__file__).parent, Path(matplotlib.__file__).parent)
        assert any(path.is_relative_to(root) for root in roots), path
    with pytest.raises(FileNotFoundError, match="not shipped inside"):
        shipped_photo("skimage.data", "no-such-photo.png")


@pytest.mark.parametrize("kind", CHECKED_KINDS, ids=str)
def test_natural_set_precision_and_recall_floor(outcomes, kind) -> None:
    counts = confusion(outcomes)[kind]
    assert counts["tp"] >= 10, f"the set has too few {kind} cases: {counts}"
    assert precision(counts) >= FLOOR and recall(counts) >= FLOOR, f"{kind}: {counts}"


def test_undegraded_pictures_raise_nothing(outcomes) -> None:
    clean = [o for o in outcomes if o.sample.degradation == "clean"]
    assert len(clean) == 2 * len(COLOUR_PHOTOS + GRAY_PHOTOS)
    assert [(o.sample.name, sorted(o.found)) for o in clean if o.found] == []


def test_combined_faults_are_both_found(outcomes) -> None:
    combined = [o for o in outcomes if "+" in o.sample.degradation]
    assert len(combined) >= 40
    missed = [o for o in combined if not o.sample.expected <= o.found]
    assert len(missed) <= len(combined) // 10, [(o.sample.name, sorted(o.found)) for o in missed]


def test_a_replaced_view_is_moved_never_occluded(outcomes) -> None:
    # Gravel re-aimed at grass or brick reads flat against the gravel's contrast almost everywhere,
    # as a cover would; a cover is one even surface, the new view keeps its structure cell to cell.
    replaced = [o for o in outcomes if o.sample.degradation == "replaced"]
    assert len(replaced) == len(COLOUR_PHOTOS + GRAY_PHOTOS)
    assert [(o.sample.name, sorted(o.found)) for o in replaced if K.OCCLUDED in o.found] == []

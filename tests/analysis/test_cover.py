"""Occlusion: covers over plain areas, covers with an exposure fault, and a cover's soft edge."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from watchkeeper.core.findings import FindingKind as K
from watchkeeper.testing.degrade import blow_out, occlude, occluder_mask
from watchkeeper.testing.frames_dataset import _cases, capture, shipped_photo, synthetic_scene, view_of

from .test_checks import judge, kinds, live


def photo(package: str, name: str) -> np.ndarray:
    """A shipped photograph as the dataset reads it: gray ones stay gray."""
    gray = name in ("moon.png", "camera.png", "coins.png")
    return cv2.imread(str(shipped_photo(package, name)), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)


def cover_like(view: np.ndarray, share: float, seed: int, offset: float) -> np.ndarray:
    """Something at the lens over `share` of the view, `offset` gray levels off the mean of what it
    hides, with a faint gradient: over a plain area it is nearly as plain and as bright as that."""
    mask = occluder_mask(view.shape[:2], share, np.random.default_rng(seed))
    weight = mask if view.ndim == 2 else mask[..., None]
    hidden = (view.astype(np.float32) * weight).sum((0, 1)) / mask.sum()
    ramp = np.linspace(-4, 4, view.shape[1], dtype=np.float32)[None, :]
    fill = (ramp if view.ndim == 2 else ramp[..., None]) + hidden + offset
    return np.clip(view * (1 - weight) + fill * weight, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("offset", [-6, 6])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", [("skimage.data", "moon.png"), ("skimage.data", "rocket.jpg")],
                         ids=["moon", "rocket"])
def test_a_cover_as_plain_as_the_area_it_hides_is_occluded(name, seed, offset) -> None:
    # The moon's mottled surface and the rocket's dusk sky: a cover there changes their brightness by
    # less than a plain cell's shift and has no texture to lose; only its part over texture used to
    # count. Its part over the plain area continues the same even surface, faint structure gone.
    view = view_of(photo(*name))
    covered = cover_like(view, 0.45, seed, offset)
    findings = judge((live(covered, 1), live(covered, 2)), live(view, 100))
    assert kinds(findings) == [K.OCCLUDED], [f.reason for f in findings]


@pytest.mark.parametrize("seed", [30, 31, 32, 33])
def test_occluded_and_overexposed_as_the_accuracy_set_makes_them(seed) -> None:
    # A portrait on a dark plain background, blown out, a cover on top: the exposure's lift brings
    # the background's prediction within a few levels of the cover, so the cover's part there used
    # to be missed and the rest, cut up by clipped cells, was too small: only overexposed was told.
    base = photo("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")
    rng = np.random.default_rng(seed)
    reference = capture(view_of(base), rng)
    [(render, expected)] = [(render, expected) for label, _, render, expected, _ in _cases(base, base, rng)
                            if label == "occluded+bright"]
    findings = judge((capture(render(rng), rng), capture(render(rng), rng)), reference)
    assert set(kinds(findings)) == set(expected) == {K.OCCLUDED, K.OVEREXPOSED}
    assert findings[0].kind is K.OCCLUDED and findings[0].details["primary"]


@pytest.mark.parametrize("seed", [24, 25, 26])
def test_a_covers_soft_edge_is_not_a_new_view(seed) -> None:
    # Cells half under the cover's blurred edge show neither the cover nor the scene; counted as
    # "something else than the reference" they made a mostly covered lens read as moved too.
    view = view_of(photo("skimage.data", "coins.png"))
    covered = occlude(view, 0.65, np.random.default_rng(seed))
    findings = judge((live(covered, 1), live(covered, 2)), live(view, 100))
    assert kinds(findings) == [K.OCCLUDED], [f.reason for f in findings]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scene_no", [1, 5, 6])
def test_a_turn_is_not_measured_on_what_a_cover_leaves(scene_no, seed) -> None:
    # Blown out and mostly covered: the few cells left are too few to measure a pan or a turn on,
    # and one of the turns tried "restored" their match by chance, adding moved to occluded.
    view = view_of(synthetic_scene(scene_no))
    rng = np.random.default_rng(seed)
    covered = occlude(blow_out(view, 0.45, rng), 0.45, rng)
    findings = judge((live(covered, 1), live(covered, 2)), live(view, 100))
    assert set(kinds(findings)) - {K.OVEREXPOSED} == {K.OCCLUDED}, [f.reason for f in findings]

"""The compiled kernel agrees with the numpy reference and with OpenCV, on any frame it accepts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.analysis import frames as kernel

from .conftest import (
    frames, reference_cell_energy, reference_direction_energy, reference_edge_gradients, reference_edge_sharpness, reference_gray,
    reference_metrics, reference_thumbnail,
)

@pytest.fixture(autouse=True, params=["simd", "portable"])
def kernel_path(request):
    """Run every kernel test on the AVX2 path (where the CPU has it) and on the portable C path."""
    kernel.use_simd(request.param == "simd")
    yield request.param
    kernel.use_simd(True)


FLOATS = ("mean", "std", "under_fraction", "over_fraction", "sharpness", "noise")


def assert_metrics_equal(got: dict, want: dict, frame: np.ndarray | None = None) -> None:
    for name in FLOATS:
        assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-9), name
    if want["channel_means"] is None:
        assert got["channel_means"] is None
    else:
        assert got["channel_means"] == pytest.approx(want["channel_means"], rel=1e-12)
    if frame is not None:
        np.testing.assert_allclose(got["cell_energy"], reference_cell_energy(frame), rtol=1e-12)
        np.testing.assert_allclose(got["direction_energy"], reference_direction_energy(frame), rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(frames(channels=3))
def test_bgr_kernel_matches_reference(frame: np.ndarray) -> None:
    gray = np.empty(frame.shape[:2], np.uint8)
    got, thumb = kernel.analyze(frame, gray_out=gray)
    assert_metrics_equal(got, reference_metrics(frame), frame)
    np.testing.assert_array_equal(gray, reference_gray(frame))
    np.testing.assert_array_equal(thumb, reference_thumbnail(frame))


@settings(max_examples=150, deadline=None)
@given(frames(channels=1))
def test_gray_kernel_matches_reference(frame: np.ndarray) -> None:
    gray = np.empty(frame.shape, np.uint8)
    got, thumb = kernel.analyze(frame, gray_out=gray)
    assert_metrics_equal(got, reference_metrics(frame), frame)
    np.testing.assert_array_equal(gray, frame)
    np.testing.assert_array_equal(thumb, reference_thumbnail(frame))


@settings(max_examples=100, deadline=None)
@given(frames(channels=3, max_side=90), st.integers(0, 256), st.integers(0, 256))
def test_exposure_levels_are_parameters(frame: np.ndarray, dark: int, bright: int) -> None:
    got, _ = kernel.analyze(frame, dark, bright)
    want = reference_metrics(frame, dark, bright)
    assert got["under_fraction"] == want["under_fraction"]
    assert got["over_fraction"] == want["over_fraction"]


@settings(max_examples=100, deadline=None)
@given(frames(channels=3, max_side=90))
def test_gray_and_thumbnail_byte_exact_with_opencv(frame: np.ndarray) -> None:
    gray = np.empty(frame.shape[:2], np.uint8)
    _, thumb = kernel.analyze(frame, gray_out=gray)
    np.testing.assert_array_equal(gray, cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2GRAY))
    th, tw = thumb.shape[:2]
    region = np.ascontiguousarray(frame[: th * 8, : tw * 8])
    np.testing.assert_array_equal(thumb, cv2.resize(region, (tw, th), interpolation=cv2.INTER_AREA))


@settings(max_examples=60, deadline=None)
@given(frames(channels=1, max_side=90))
def test_gray_thumbnail_byte_exact_with_opencv(frame: np.ndarray) -> None:
    _, thumb = kernel.analyze(frame)
    th, tw = thumb.shape
    region = np.ascontiguousarray(frame[: th * 8, : tw * 8])
    np.testing.assert_array_equal(thumb, cv2.resize(region, (tw, th), interpolation=cv2.INTER_AREA))


def test_gray_is_opencv_on_every_colour() -> None:
    # All 2^24 colours at once: the fixed-point weights are exact, not just close.
    levels = np.arange(256, dtype=np.uint8)
    b, g, r = np.meshgrid(levels, levels, levels, indexing="ij")
    cube = np.stack([b, g, r], axis=-1).reshape(4096, 4096, 3)
    gray = np.empty((4096, 4096), np.uint8)
    kernel.analyze(cube, gray_out=gray)
    np.testing.assert_array_equal(gray, cv2.cvtColor(cube, cv2.COLOR_BGR2GRAY))


def test_full_hd_frame_with_opencv_sized_thumbnail() -> None:
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    got, thumb = kernel.analyze(frame)
    np.testing.assert_array_equal(thumb, cv2.resize(frame, (240, 135), interpolation=cv2.INTER_AREA))
    assert_metrics_equal(got, reference_metrics(frame))


def test_extreme_frames_do_not_overflow() -> None:
    # Alternating 0/255 maximises every Laplacian and Immerkaer term on a 4K-wide row.
    frame = np.zeros((16, 4096), np.uint8)
    frame[::2, ::2] = frame[1::2, 1::2] = 255
    got, _ = kernel.analyze(frame)
    assert_metrics_equal(got, reference_metrics(frame), frame)


@settings(max_examples=80, deadline=None)
@given(frames(channels=3, max_side=120), st.integers(0, 255), st.integers(0, 255))
def test_edge_gradients_match_reference(frame: np.ndarray, clipped: int, crushed: int) -> None:
    _, thumb = kernel.analyze(frame)
    assert kernel.edge_gradients(thumb, clipped, crushed) == reference_edge_gradients(thumb, clipped, crushed)
    other = thumb[::-1, ::-1].copy()
    assert kernel.edge_gradients(thumb, 250, 4, other) == reference_edge_gradients(thumb, 250, 4, other)


@settings(max_examples=80, deadline=None)
@given(frames(channels=3, max_side=160), st.floats(0, 400), st.floats(0, 200), st.integers(0, 20),
       st.floats(0, 100))
def test_edge_sharpness_matches_reference(frame, noise_energy, contrast_min, cells_min, percentile) -> None:
    got, thumb = kernel.analyze(frame)
    gray = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)
    want = reference_edge_sharpness(got["cell_energy"], gray, noise_energy, contrast_min, cells_min, percentile)
    result = kernel.edge_sharpness(got["cell_energy"], gray, noise_energy, contrast_min, cells_min, percentile)
    if want is None:
        assert result is None
    else:
        assert result == pytest.approx(want, rel=1e-9, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(frames(channels=3, max_side=160), st.floats(0, 400), st.floats(0, 200), st.integers(0, 20),
       st.floats(0, 100))
def test_direction_sharpness_is_edge_sharpness_per_direction(frame, noise_energy, contrast_min, cells_min,
                                                             percentile) -> None:
    got, thumb = kernel.analyze(frame)
    gray = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)
    variance = kernel.box_variance(gray)
    mean = cv2.blur(gray.astype(np.float64), (3, 3))
    np.testing.assert_allclose(variance, cv2.blur(gray.astype(np.float64) ** 2, (3, 3)) - mean * mean, atol=1e-9)
    want = [reference_edge_sharpness(energy, gray, noise_energy, contrast_min, cells_min, percentile)
            for energy in got["direction_energy"]]
    result = kernel.direction_sharpness(got["direction_energy"], variance, noise_energy, contrast_min, cells_min,
                                        percentile)
    if want[0] is None:
        assert result is None
    else:
        assert result == pytest.approx(want, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("percentile", [0, 12.5, 50, 90, 95, 99.5, 100])
@pytest.mark.parametrize("seed", [0, 1])
def test_direction_sharpness_on_many_cells_is_numpys_percentile(seed, percentile) -> None:
    # Past 64 x 16 cells the selection first narrows to the values above a sampled pivot.
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), float(rng.uniform(0.5, 3)))
    got, thumb = kernel.analyze(frame)
    gray = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)
    # A floor no 3 x 3 variance of whole gray levels (a multiple of 1/81) can equal: OpenCV's box
    # filter and the kernel's sums may round such a tie apart.
    floor = 2.005
    want = [reference_edge_sharpness(energy, gray, 4.0, floor, 12, percentile) for energy in got["direction_energy"]]
    result = kernel.direction_sharpness(got["direction_energy"], kernel.box_variance(gray), 4.0, floor, 12, percentile)
    assert result == pytest.approx(want, rel=1e-12, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(frames(channels=3, max_side=80))
def test_channel_spread_is_mean_of_max_minus_min(frame: np.ndarray) -> None:
    _, thumb = kernel.analyze(frame)
    want = (thumb.max(axis=2).astype(np.int64) - thumb.min(axis=2)).mean()
    assert kernel.channel_spread(thumb) == pytest.approx(want, rel=1e-12)
    assert kernel.channel_spread(thumb[..., 0]) == 0.0


@settings(max_examples=60, deadline=None)
@given(frames(channels=3, max_side=80), st.floats(0, 1))
def test_channel_quantiles_are_numpy_percentiles(frame: np.ndarray, fraction: float) -> None:
    _, thumb = kernel.analyze(frame)
    want = np.percentile(thumb.reshape(-1, 3), fraction * 100, axis=0)
    assert kernel.channel_quantiles(thumb, fraction) == pytest.approx(tuple(want), abs=1e-9)
    with pytest.raises(ValueError, match="fraction"):
        kernel.channel_quantiles(thumb, 1.5)


def reference_edge_chroma(thumb: np.ndarray, clipped: int, crushed: int, contrast_min: int):
    """edge_chroma written out: each kept pair's channel log offsets from its mean, in 1/64 bins."""
    lost = (thumb >= clipped).any(axis=2) | (thumb <= crushed).any(axis=2)
    t = thumb.astype(np.int64)
    diffs = [np.abs(t[1:] - t[:-1])[~(lost[1:] | lost[:-1])], np.abs(t[:, 1:] - t[:, :-1])[~(lost[:, 1:] | lost[:, :-1])]]
    d = np.concatenate(diffs)
    d = d[d.sum(axis=1) > contrast_min]
    if not len(d):
        return 0.0, 0.0, 0.0, 0
    logs = np.floor(np.log(np.arange(256) + 1.0) * 192 + 0.5).astype(np.int64)[d]
    bins = (3 * logs - logs.sum(axis=1, keepdims=True) + 9 * 512 + 4) // 9
    return (*((np.median(bins, axis=0) - 512) / 64), len(d))


@settings(max_examples=60, deadline=None)
@given(frames(channels=3, max_side=80), st.integers(200, 256), st.integers(0, 30), st.integers(0, 40))
def test_edge_chroma_matches_reference(frame: np.ndarray, clipped: int, crushed: int, contrast_min: int) -> None:
    _, thumb = kernel.analyze(frame)
    got = kernel.edge_chroma(thumb, clipped, crushed, contrast_min)
    assert got == pytest.approx(reference_edge_chroma(thumb, clipped, crushed, contrast_min), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(frames(channels=3, max_side=40), st.integers(0, 2**32 - 1))
def test_frozen_score_is_mean_absolute_difference(frame: np.ndarray, seed: int) -> None:
    other = np.random.default_rng(seed).integers(0, 256, frame.shape, dtype=np.uint8)
    want = np.abs(frame.astype(np.int64) - other).mean()
    assert kernel.frozen_score(frame, other) == pytest.approx(want, rel=1e-12)
    assert kernel.frozen_score(frame, frame.copy()) == 0.0


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), ValueError, "smaller than"),
        (np.zeros((1, 1, 3), np.uint8), ValueError, "smaller than"),
        (np.zeros((32, 32, 3), np.float32), TypeError, "uint8"),
        (np.zeros((32, 32, 4), np.uint8), ValueError, "BGR"),
        (np.zeros((32,), np.uint8), ValueError, "shape"),
        ([[1, 2], [3, 4]], TypeError, "uint8"),
    ],
)
def test_kernel_refuses_bad_frames(frame, error, message) -> None:
    with pytest.raises(error, match=message):
        kernel.analyze(frame)


def test_frozen_score_refuses_mismatched_frames() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        kernel.frozen_score(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8))

"""Numpy reference for the frame kernel, and frame strategies the property tests share."""

from __future__ import annotations

import math

import cv2
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def reference_gray(bgr: np.ndarray) -> np.ndarray:
    """OpenCV's 8-bit BGR2GRAY written out: 15-bit fixed-point weights, round half up."""
    b, g, r = (bgr[..., i].astype(np.int64) for i in range(3))
    return ((b * 3735 + g * 19235 + r * 9798 + (1 << 14)) >> 15).astype(np.uint8)


def reference_thumbnail(frame: np.ndarray) -> np.ndarray:
    """Mean of each 8 x 8 block of the top-left multiple-of-8 region, rounded half to even."""
    th, tw = frame.shape[0] // 8, frame.shape[1] // 8
    block = frame[: th * 8, : tw * 8].astype(np.int64)
    shape = (th, 8, tw, 8) + frame.shape[2:]
    return np.rint(block.reshape(shape).sum(axis=(1, 3)) / 64.0).astype(np.uint8)


def reference_metrics(frame: np.ndarray, dark: int = 16, bright: int = 245) -> dict:
    """Every kernel metric from plain numpy, with the same definitions (interior-only stencils)."""
    gray = frame if frame.ndim == 2 else reference_gray(frame)
    g = gray.astype(np.int64)
    n = g.size
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    vert = g[:-2] - 2 * g[1:-1] + g[2:]
    imm = vert[:, :-2] - 2 * vert[:, 1:-1] + vert[:, 2:]
    inner = (g.shape[0] - 2) * (g.shape[1] - 2)
    mean = g.sum() / n
    return {
        "mean": mean,
        "std": math.sqrt(max((g * g).sum() / n - mean * mean, 0.0)),
        "under_fraction": (g < dark).sum() / n,
        "over_fraction": (g >= bright).sum() / n,
        "sharpness": (lap * lap).sum() / inner - (lap.sum() / inner) ** 2,
        "noise": math.sqrt(math.pi / 2) * np.abs(imm).sum() / (6.0 * inner),
        "channel_means": None if frame.ndim == 2
        else tuple(frame[..., c].astype(np.int64).sum() / n for c in range(3)),
    }


def reference_cell_energy(frame: np.ndarray) -> np.ndarray:
    """Mean squared 4-neighbour Laplacian of the interior pixels of each cell ((y-1)//8, (x-1)//8)."""
    g = (frame if frame.ndim == 2 else reference_gray(frame)).astype(np.int64)
    h, w = g.shape
    th, tw = h // 8, w // 8
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    sums = np.zeros((th, tw))
    counts = np.zeros((th, tw))
    for y in range(lap.shape[0]):
        for cx in range(tw):
            if y // 8 < th:
                part = lap[y, cx * 8:cx * 8 + 8]
                sums[y // 8, cx] += float((part * part).sum())
                counts[y // 8, cx] += part.size
    return sums / np.maximum(counts, 1)


def reference_direction_energy(frame: np.ndarray) -> np.ndarray:
    """Per cell ((y-1)//8, (x-1)//8), the mean squared second difference of the interior pixels
    along each direction: horizontal, vertical, down-right and down-left diagonal."""
    g = (frame if frame.ndim == 2 else reference_gray(frame)).astype(np.int64)
    th, tw = g.shape[0] // 8, g.shape[1] // 8
    centre = 2 * g[1:-1, 1:-1]
    seconds = (g[1:-1, :-2] + g[1:-1, 2:] - centre, g[:-2, 1:-1] + g[2:, 1:-1] - centre,
               g[:-2, :-2] + g[2:, 2:] - centre, g[:-2, 2:] + g[2:, :-2] - centre)
    out = np.zeros((4, th, tw))
    for k, second in enumerate(seconds):
        square = (second * second).astype(np.float64)
        for cy in range(th):
            for cx in range(tw):
                part = square[cy * 8:cy * 8 + 8, cx * 8:cx * 8 + 8]
                out[k, cy, cx] = part.mean() if part.size else 0.0
    return out


def reference_edge_sharpness(energy: np.ndarray, gray_thumb: np.ndarray, noise_energy: float,
                             contrast_min: float, cells_min: int, percentile: float) -> float | None:
    """The kernel's edge_sharpness with OpenCV's 3x3 box filter and numpy's percentile."""
    thumb = gray_thumb.astype(np.float64)
    mean = cv2.blur(thumb, (3, 3))
    contrast = cv2.blur(thumb * thumb, (3, 3)) - mean * mean
    edges = (contrast >= contrast_min) & (contrast > 0)
    if int(edges.sum()) < max(cells_min, 1):
        return None
    return float(np.percentile(np.maximum(energy[edges] - noise_energy, 0) / contrast[edges], percentile))


def reference_edge_gradients(thumb: np.ndarray, clipped: int, crushed: int,
                             other: np.ndarray | None = None) -> tuple[int, int, int, int]:
    lost = (thumb.max(axis=2) >= clipped) | (thumb.min(axis=2) <= crushed)
    if other is not None:
        lost |= (other.max(axis=2) >= clipped) | (other.min(axis=2) <= crushed)
    t = thumb.astype(np.int64)
    keep_y, keep_x = ~(lost[1:] | lost[:-1]), ~(lost[:, 1:] | lost[:, :-1])
    sums = np.abs(np.diff(t, axis=0))[keep_y].sum(axis=0) + np.abs(np.diff(t, axis=1))[keep_x].sum(axis=0)
    return int(sums[0]), int(sums[1]), int(sums[2]), int(keep_y.sum() + keep_x.sum())


@st.composite
def frames(draw, channels: int = 3, max_side: int = 70) -> np.ndarray:
    """Random uint8 frames of odd sizes, often handed over as non-contiguous views."""
    h = draw(st.integers(8, max_side))
    w = draw(st.integers(8, max_side))
    shape = (h, w, channels) if channels > 1 else (h, w)
    style = draw(st.sampled_from(["random", "smooth", "flat"]))
    if style == "random":
        frame = draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 255)))
    else:
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        base = rng.integers(0, 256, (2, 2) + shape[2:]).astype(np.float64)
        ys, xs = np.linspace(0, 1, h)[:, None], np.linspace(0, 1, w)[None, :]
        if channels > 1:
            ys, xs = ys[..., None], xs[..., None]
        frame = (base[0, 0] * (1 - ys) * (1 - xs) + base[0, 1] * (1 - ys) * xs
                 + base[1, 0] * ys * (1 - xs) + base[1, 1] * ys * xs)
        if style == "flat":
            frame = np.full(shape, base[0, 0])
        frame = frame.astype(np.uint8)
    view = draw(st.sampled_from(["packed", "crop", "step", "flip"] + (["rgb"] if channels > 1 else [])))
    if view == "rgb":
        return frame[:, :, ::-1]  # channels reversed in place: a negative innermost stride
    if view == "crop":
        # Rows of a wider buffer: the row stride is not width x channels.
        wide = np.zeros((h, w + 5) + shape[2:], np.uint8)
        wide[:, 2:w + 2] = frame
        return wide[:, 2:w + 2]
    if view == "step":
        # Every other pixel of a bigger buffer: pixels are not packed either.
        big = np.zeros((h * 2, w * 2) + shape[2:], np.uint8)
        big[::2, ::2] = frame
        return big[::2, ::2]
    if view == "flip":
        return frame[::-1, ::-1]  # negative strides
    return frame

"""Frame analysis API: metrics from the compiled kernel, comparison with a reference, decoding."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import cv2
import numpy as np

from watchkeeper.analysis import frames as _kernel
from watchkeeper.analysis.errors import AnalysisError
from watchkeeper.analysis.imagebounds import check_size, decode_image, read_image_file

#: Gray levels below this count as under-exposed, at or above BRIGHT_LEVEL as over-exposed.
DARK_LEVEL = 16
BRIGHT_LEVEL = 245
#: Mean per-pixel channel spread (max - min, on the thumbnail) below which a frame is monochrome.
MONOCHROME_SPREAD = 2.0
#: Variance the 4-neighbour Laplacian gives unit white noise: 4^2 + 4 * 1^2.
LAPLACIAN_NOISE_GAIN = 20.0
#: Grid of blocks the occlusion comparison judges one by one.
OCCLUSION_GRID = (8, 8)
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".m4v", ".webm", ".h264", ".h265"})


@attrs.frozen
class Metrics:
    """Everything one pass of the kernel says about a frame; `thumbnail` feeds scene comparison."""

    width: int
    height: int
    channels: int
    mean: float
    std: float
    under_fraction: float
    over_fraction: float
    sharpness: float
    noise: float
    detail: float
    channel_means: tuple[float, float, float] | None
    colour_cast: float
    monochrome: bool
    thumbnail: np.ndarray = attrs.field(repr=False, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (see docs/analysis.md); the thumbnail stays out."""
        return {
            "width": self.width,
            "height": self.height,
            "channels": self.channels,
            "mean": round(self.mean, 4),
            "std": round(self.std, 4),
            "under_fraction": round(self.under_fraction, 6),
            "over_fraction": round(self.over_fraction, 6),
            "sharpness": round(self.sharpness, 4),
            "noise": round(self.noise, 4),
            "detail": round(self.detail, 4),
            "channel_means": None if self.channel_means is None
            else [round(v, 4) for v in self.channel_means],
            "colour_cast": round(self.colour_cast, 6),
            "monochrome": self.monochrome,
        }


@attrs.frozen
class SceneComparison:
    """How a frame differs from the camera's reference view, measured on the thumbnails."""

    #: Phase-correlation translation, as a fraction of the frame (hypot of both axes), and its peak.
    shift: float
    shift_x: float
    shift_y: float
    shift_response: float
    #: Hamming distance of the pHashes over 64 bits: 0 same scene, about 0.5 unrelated.
    hash_distance: float
    #: Share of the reference's textured blocks that went flat: something sits in front of the lens.
    occluded_fraction: float
    #: Share of the still-visible textured blocks that correlate with the reference at the same place.
    scene_match: float
    #: The same after undoing the measured shift: high when the camera was only panned or tilted.
    aligned_match: float
    #: Spread of the per-channel log gains against the reference: a white-balance drift (0 = none).
    colour_shift: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {name: None if value is None else round(value, 6)
                for name, value in attrs.asdict(self).items()}


def as_frame(image: Any) -> np.ndarray:
    """The array the kernel takes (H x W gray or H x W x 3 BGR, uint8), or AnalysisError saying why not."""
    if not isinstance(image, np.ndarray):
        raise AnalysisError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise AnalysisError(f"expected 8-bit pixels (uint8), got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]  # BGRA from a PNG: alpha says nothing about the scene
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise AnalysisError(f"expected H x W gray or H x W x 3 BGR pixels, got shape {image.shape}")
    if min(image.shape[:2]) < _kernel.MIN_SIDE:
        raise AnalysisError(
            f"frame {image.shape[1]}x{image.shape[0]} is too small: "
            f"at least {_kernel.MIN_SIDE}x{_kernel.MIN_SIDE} pixels are needed")
    if max(image.shape[:2]) > _kernel.MAX_SIDE:
        raise AnalysisError(f"frame {image.shape[1]}x{image.shape[0]} exceeds {_kernel.MAX_SIDE} pixels a side")
    return image


def colour_cast(channel_means: tuple[float, float, float] | None) -> float:
    """Grey-world imbalance: the channel means' spread relative to their average (0 = neutral)."""
    if channel_means is None:
        return 0.0
    # The floor keeps near-black frames, whose ratios are all noise, from reading as a strong cast.
    return (max(channel_means) - min(channel_means)) / max(sum(channel_means) / 3.0, 32.0)


def detail(sharpness: float, noise: float) -> float:
    """Laplacian variance net of the noise's share: white noise of sigma s adds 20 s^2 to it."""
    # Without this a blurred but noisy camera (every real one at night) reads as sharp.
    return max(sharpness - LAPLACIAN_NOISE_GAIN * noise * noise, 0.0)


def analyze_frame(image: Any) -> Metrics:
    """Run the fused kernel over one frame (BGR, or gray for IR cameras and decoder luma planes)."""
    frame = as_frame(image)
    raw, thumbnail = _kernel.analyze(frame, DARK_LEVEL, BRIGHT_LEVEL)
    means = raw["channel_means"]
    if means is None:
        monochrome = True
    else:
        spread = thumbnail.max(axis=2).astype(np.int16) - thumbnail.min(axis=2)
        monochrome = bool(spread.mean() < MONOCHROME_SPREAD)
    return Metrics(
        width=frame.shape[1], height=frame.shape[0], channels=1 if frame.ndim == 2 else 3,
        mean=raw["mean"], std=raw["std"], under_fraction=raw["under_fraction"],
        over_fraction=raw["over_fraction"], sharpness=raw["sharpness"], noise=raw["noise"],
        detail=detail(raw["sharpness"], raw["noise"]),
        channel_means=means, colour_cast=0.0 if monochrome else colour_cast(means),
        monochrome=monochrome, thumbnail=thumbnail,
    )


def frozen_score(previous: Any, current: Any) -> float:
    """Mean absolute difference per byte between two frames of one stream: 0 when it hangs."""
    a, b = as_frame(previous), as_frame(current)
    if a.shape != b.shape:
        raise AnalysisError(f"frames differ in shape: {a.shape} and {b.shape}")
    return float(_kernel.frozen_score(a, b))


def _gray_thumbnail(metrics: Metrics) -> np.ndarray:
    thumb = metrics.thumbnail
    return thumb if thumb.ndim == 2 else cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)


def compare_to_reference(current: Metrics, reference: Metrics) -> SceneComparison:
    """Compare thumbnails: phase correlation for a shift, pHash for the scene, blocks for occlusion."""
    ref = _gray_thumbnail(reference)
    cur = _gray_thumbnail(current)
    if cur.shape != ref.shape:
        cur = cv2.resize(cur, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)
    h, w = ref.shape
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(ref.astype(np.float32), cur.astype(np.float32), window)
    hasher = cv2.img_hash.PHash_create()
    bits = np.unpackbits(hasher.compute(ref) ^ hasher.compute(cur))
    ref_f, cur_f = ref.astype(np.float32), cur.astype(np.float32)
    occluded, match = _block_comparison(ref_f, cur_f)
    back = np.float32([[1, 0, -dx], [0, 1, -dy]])
    aligned = cv2.warpAffine(cur_f, back, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    _, aligned_match = _block_comparison(ref_f, aligned)
    return SceneComparison(
        shift=math.hypot(dx / w, dy / h), shift_x=dx / w, shift_y=dy / h,
        shift_response=float(response), hash_distance=float(bits.mean()),
        occluded_fraction=occluded, scene_match=match, aligned_match=aligned_match,
        colour_shift=_colour_shift(current.channel_means, reference.channel_means),
    )


def _block_comparison(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """(share of textured blocks gone flat, share of the rest still correlating with the reference)."""
    rows, cols = OCCLUSION_GRID
    h, w = ref.shape
    textured = flat = matched = 0
    for i in range(rows):
        for j in range(cols):
            cell = (slice(i * h // rows, (i + 1) * h // rows), slice(j * w // cols, (j + 1) * w // cols))
            r, c = ref[cell], cur[cell]
            r_std, c_std = float(r.std()), float(c.std())
            if r_std < 4.0:
                continue  # a flat patch of the reference (sky, wall) can show neither occluder nor match
            textured += 1
            if c_std < 0.4 * r_std:
                flat += 1  # an out-of-focus object at the lens; blur barely shows at thumbnail scale
            elif float(((r - r.mean()) * (c - c.mean())).mean()) > 0.6 * r_std * c_std:
                matched += 1
    if not textured:
        return 0.0, 1.0
    visible = textured - flat
    return flat / textured, matched / visible if visible else 0.0


def _colour_shift(means: tuple[float, float, float] | None,
                  ref_means: tuple[float, float, float] | None) -> float | None:
    if means is None or ref_means is None:
        return None
    gains = [math.log(max(m, 1.0) / max(r, 1.0)) for m, r in zip(means, ref_means)]
    return max(gains) - min(gains)


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to BGR (or gray if stored gray), 8 bits; AnalysisError if it cannot be."""
    path = Path(path)
    data = read_image_file(path)
    if not data:
        raise AnalysisError(f"{path}: file is empty")
    image = decode_image(data, what=str(path))
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)  # 16-bit PNG/TIFF: keep the top byte, as a viewer shows it
    elif image.dtype != np.uint8:
        raise AnalysisError(f"{path}: {image.dtype} pixels are not supported; export 8 or 16 bits")
    if image.ndim == 3 and image.shape[2] == 4:
        image = np.ascontiguousarray(image[:, :, :3])
    return image


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def sample_video(path: str | Path, count: int = 8, spacing: float = 1.0) -> Iterator[np.ndarray]:
    """Yield up to `count` frames `spacing` seconds apart (0: consecutive), decoding straight through.

    Frames a second apart differ in a live stream even where H.264 skips a static scene from one
    frame to the next (the on-screen clock moves, sensor noise re-encodes); a hung stream repeats
    them exactly. A clip shorter than two spacings still yields its first and last frames.
    """
    if count < 2:
        raise AnalysisError("sampling a video needs at least 2 frames to judge freezing")
    if not Path(path).is_file():  # a FIFO or device would block the decoder or never end
        raise AnalysisError(f"{path}: {'not a regular file' if Path(path).exists() else 'no such file'}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise AnalysisError(f"{path}: not a readable video")
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width and height:  # the container's frame size, before any frame is decoded into a BGR array
            check_size(width, height, what=f"{path}: video")
        fps = capture.get(cv2.CAP_PROP_FPS)
        step = max(1, round((fps if 0 < fps < 1000 else 25.0) * spacing))
        produced = index = 0
        last = None
        last_yielded = -1
        while produced < count:
            ok, frame = capture.read()
            if not ok:
                break
            last = frame
            if index % step == 0:
                produced += 1
                last_yielded = index
                yield frame
            index += 1
        if produced == 0:
            raise AnalysisError(f"{path}: video has no decodable frame")
        if produced == 1 and last is not None and last_yielded != index - 1:
            yield last
    finally:
        capture.release()

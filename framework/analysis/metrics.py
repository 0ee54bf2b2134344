"""Frame analysis API: metrics from the compiled kernel, and decoding images and videos to frames."""

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
#: Edge sharpness: thumbnail cells whose 3x3 neighbourhood varies by at least this (gray levels
#: squared) carry an edge whose width can be judged, and at least EDGE_CELLS_MIN of them are needed.
EDGE_CONTRAST_MIN = 64.0
EDGE_CELLS_MIN = 12
#: The edge-sharpness statistic: this percentile of the per-cell ratios (the scene's sharpest edges).
EDGE_PERCENTILE = 90
#: Direction sharpness: the same ratio per direction of the second difference (horizontal,
#: vertical and both diagonals; white noise of sigma s adds 6 s^2 to each), over the cells whose
#: 3x3 variance reaches DIRECTION_CONTRAST_MIN or DIRECTION_CONTRAST_SHARE of the thumbnail's
#: variance, whichever is more: a floor that moves with the exposure keeps the same edges judged
#: when a darker picture lowers every contrast (the reference's and a dim frame's sharpest cells
#: are then the same ones). The statistic is the DIRECTION_PERCENTILE percentile.
SECOND_DIFFERENCE_NOISE_GAIN = 6.0
DIRECTION_CONTRAST_MIN, DIRECTION_CONTRAST_SHARE = 32.0, 0.05
DIRECTION_PERCENTILE = 95
#: A diagonal second difference spans a step of sqrt(2) pixels, so on soft detail (what the blur
#: threshold judges) it reads about 3 times the energy an axis one does (4 on an isotropic smooth
#: field; 1.8-3.3 measured on Gaussian-blurred brick, gravel and grass): divided by this, the four
#: directions read alike, and a diagonal motion is not missed because its direction reads high.
DIAGONAL_GAIN = 3.0
#: Grey-edge leaves out thumbnail pixels at or above CLIPPED or at or below CRUSHED in any channel:
#: they lost their colour to the sensor's range. (Leaving out more, down to partly clipped ones,
#: loses the scene's whites, the best grey it has: 4 errors at 250 against 7 at 235 on the
#: natural set's tuning seeds.)
CLIPPED, CRUSHED = 250, 4
EDGE_PAIRS_MIN = 64
#: White patch: the per-channel quantile of the thumbnail taken as the scene's brightest surfaces.
#: Clipped pixels stay in (a blown white is white in every channel, so it pulls towards neutral, never
#: towards a tint); 0.98 keeps a few lamps or specular glints out (0.95 reads the scene's own
#: surfaces, 0.99 its lamps: on the tuning seeds 0.98 gave 12 no-reference errors, 0.95 21, 0.99 14).
WHITE_PATCH_QUANTILE = 0.98
#: Edge colour: neighbour pairs whose channel differences sum to more than EDGE_CHROMA_CONTRAST gray
#: levels (JPEG and sensor noise on flat ground stay below it; 3-9 did alike on the tuning seeds)
#: each give their colour, and at least EDGE_CHROMA_MIN such edges are needed.
EDGE_CHROMA_CONTRAST, EDGE_CHROMA_MIN = 6, 32
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
    #: How sharp the scene's sharpest edges are, whatever their contrast (None: too few edges).
    edge_sharpness: float | None
    #: Mean absolute gradient of each channel (B, G, R) on the thumbnail, clipped pixels left out.
    edge_gradients: tuple[float, float, float] | None
    #: Spread of the per-channel log mean gradients (grey-edge): an illuminant cast without a reference.
    grey_edge_cast: float | None
    thumbnail: np.ndarray = attrs.field(repr=False, eq=False)
    #: Edge sharpness along each direction (horizontal, vertical, down-right, down-left; None: too
    #: few edges): blur lowers all four, motion blur the one along its path (edges lying along the
    #: path stay sharp, so the isotropic edge_sharpness still reads them).
    direction_sharpness: tuple[float, ...] | None = None
    #: Per-channel WHITE_PATCH_QUANTILE of the thumbnail (B, G, R): the white-patch estimate of the light.
    #: (After the thumbnail, with defaults: reference metrics stored before these fields still load.)
    white_point: tuple[float, float, float] | None = None
    #: The typical edge's colour (B, G, R log offsets from the edge's mean, medians over the edges).
    edge_chroma: tuple[float, float, float] | None = None
    #: The no-reference cast: spread of the mean of the edge-colour and white-patch log estimates.
    illuminant_cast: float | None = None

    @property
    def weakest_sharpness(self) -> float | None:
        """The sharpness along the direction that lost the most: what blur, of any shape, lowers."""
        return None if self.direction_sharpness is None else min(self.direction_sharpness)

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
            "edge_sharpness": None if self.edge_sharpness is None else round(self.edge_sharpness, 6),
            "edge_gradients": None if self.edge_gradients is None
            else [round(v, 4) for v in self.edge_gradients],
            "grey_edge_cast": None if self.grey_edge_cast is None else round(self.grey_edge_cast, 6),
            "direction_sharpness": None if self.direction_sharpness is None
            else [round(v, 6) for v in self.direction_sharpness],
            "white_point": None if self.white_point is None else [round(v, 4) for v in self.white_point],
            "edge_chroma": None if self.edge_chroma is None else [round(v, 6) for v in self.edge_chroma],
            "illuminant_cast": None if self.illuminant_cast is None else round(self.illuminant_cast, 6),
        }


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
    monochrome = means is None or _kernel.channel_spread(thumbnail) < MONOCHROME_SPREAD
    gray_thumb = thumbnail if thumbnail.ndim == 2 else cv2.cvtColor(thumbnail, cv2.COLOR_BGR2GRAY)
    # Computed once: edge_sharpness (frames.edge_sharpness's result, from the shared variance) and
    # the directions' sharpness judge the same neighbourhoods.
    variance = _kernel.box_variance(gray_thumb)
    gradients = None if thumbnail.ndim == 2 else edge_gradients(thumbnail)
    white = None if thumbnail.ndim == 2 else _kernel.channel_quantiles(thumbnail, WHITE_PATCH_QUANTILE)
    chroma = None if thumbnail.ndim == 2 else edge_chroma(thumbnail)
    return Metrics(
        width=frame.shape[1], height=frame.shape[0], channels=1 if frame.ndim == 2 else 3,
        mean=raw["mean"], std=raw["std"], under_fraction=raw["under_fraction"],
        over_fraction=raw["over_fraction"], sharpness=raw["sharpness"], noise=raw["noise"],
        detail=detail(raw["sharpness"], raw["noise"]),
        channel_means=means, colour_cast=0.0 if monochrome else colour_cast(means), monochrome=monochrome,
        edge_sharpness=_first(_kernel.direction_sharpness(raw["cell_energy"][None], variance,
                                                          LAPLACIAN_NOISE_GAIN * raw["noise"] ** 2,
                                                          EDGE_CONTRAST_MIN, EDGE_CELLS_MIN, EDGE_PERCENTILE)),
        edge_gradients=gradients, grey_edge_cast=None if monochrome else log_spread(gradients),
        thumbnail=thumbnail, white_point=white, edge_chroma=chroma,
        illuminant_cast=None if monochrome else illuminant_cast(chroma, white),
        direction_sharpness=direction_sharpness(raw["direction_energy"], gray_thumb, variance, raw["noise"]),
    )


def _first(values: tuple[float, ...] | None) -> float | None:
    return None if values is None else values[0]


def direction_sharpness(direction_energy: np.ndarray, gray_thumb: np.ndarray, variance: np.ndarray,
                        noise: float) -> tuple[float, ...] | None:
    """Edge sharpness along each direction (see DIRECTION_PERCENTILE), None with too few edges;
    `variance` is the thumbnail's 3x3 box variance (frames.box_variance)."""
    floor = max(DIRECTION_CONTRAST_MIN, DIRECTION_CONTRAST_SHARE * float(gray_thumb.var()))
    values = _kernel.direction_sharpness(direction_energy, variance, SECOND_DIFFERENCE_NOISE_GAIN * noise ** 2,
                                         floor, EDGE_CELLS_MIN, DIRECTION_PERCENTILE)
    if values is None:
        return None
    horizontal, vertical, down_right, down_left = values
    return horizontal, vertical, down_right / DIAGONAL_GAIN, down_left / DIAGONAL_GAIN


def edge_gradients(thumbnail: np.ndarray, other: np.ndarray | None = None,
                   pairs_min: int = EDGE_PAIRS_MIN) -> tuple[float, float, float] | None:
    """Mean absolute gradient of each channel over thumbnail neighbours neither clipped nor crushed.

    Grey-edge: edges between surfaces average to grey under a neutral light far more reliably than
    the surfaces themselves (a brown room is brown on average, its edges are not), and gradients
    ignore an exposure's offset; clipped and crushed pixels no longer keep their channels' ratios.
    With `other` (a thumbnail of the same shape), pixels lost in either are left out.
    """
    *sums, pairs = _kernel.edge_gradients(thumbnail, CLIPPED, CRUSHED, other)
    if pairs < pairs_min:
        return None
    return tuple(total / pairs for total in sums)


def edge_chroma(thumbnail: np.ndarray) -> tuple[float, float, float] | None:
    """The typical edge's colour: per channel, the median over the thumbnail's unclipped edges of
    log(|difference| + 1) less the edge's mean over the channels (None with too few edges).

    Grey-edge's mean gradient lets the strongest edges decide, and where one saturated colour
    carries them (signs on a grey wall, towers against a dusk sky) it reads that colour; here each
    edge counts once whatever its contrast, so the light's colour, which every edge carries, wins.
    """
    *chroma, edges = _kernel.edge_chroma(thumbnail, CLIPPED, CRUSHED, EDGE_CHROMA_CONTRAST)
    return None if edges < EDGE_CHROMA_MIN else tuple(chroma)


def illuminant_cast(chroma: tuple[float, float, float] | None,
                    white_point: tuple[float, float, float] | None) -> float | None:
    """Spread of the light's colour estimated without a reference: the mean of the edge-colour and
    the white-patch log estimates, each centred on its channels' mean (None without edges).

    Each estimate fails on its own class of scene: the edges where one saturated colour carries
    most of them, white-patch where the brightest surfaces are coloured (a lamp, a lit sky). A cast
    multiplies every pixel's channels, so it moves both by the same log gains: their mean keeps all
    of it and halves each scene's bias, which points one way for one and another way for the other.
    """
    if chroma is None or white_point is None:
        return None
    whites = [math.log(max(v, 1.0)) for v in white_point]
    middle = [(e - sum(chroma) / 3 + w - sum(whites) / 3) / 2 for e, w in zip(chroma, whites)]
    return max(middle) - min(middle)


def log_spread(values: tuple[float, ...] | None) -> float | None:
    """max - min of the logs: how far apart channel gains (or gradients) are, 0 when equal."""
    if values is None:
        return None
    logs = [math.log(max(v, 1e-3)) for v in values]
    return max(logs) - min(logs)


#: A 2 x 2 mean divides independent noise by 2: differences of motion planes, times this, read as
#: full-resolution ones for the noise check (a hung stream's stay 0 whatever the scale).
MOTION_PLANE_NOISE_GAIN = 2.0


def motion_plane(frame: np.ndarray) -> np.ndarray:
    """The frame's luma at half resolution (2 x 2 means): what a stream keeps between frames to tell
    a hung picture from a live one, at an eighth of a BGR frame's memory."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, (max(gray.shape[1] // 2, 1), max(gray.shape[0] // 2, 1)), interpolation=cv2.INTER_AREA)


def frozen_score(previous: Any, current: Any) -> float:
    """Mean absolute difference per byte between two frames of one stream: 0 when it hangs."""
    a, b = as_frame(previous), as_frame(current)
    if a.shape != b.shape:
        raise AnalysisError(f"frames differ in shape: {a.shape} and {b.shape}")
    return float(_kernel.frozen_score(a, b))


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

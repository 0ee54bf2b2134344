"""Documented picture degradations with randomised severities: how a camera's picture goes wrong.

Each generator takes a clean view and one severity drawn from a band, and returns the degraded
view. Every generator has a *fault* band (an operator would call the picture faulty: the check must
fire) and most have a *fine* band (a milder version an operator would accept: the check must stay
quiet). The bands sit close to the checks' thresholds on either side, with a gap between them
because no measure can be exact at a boundary; docs/analysis.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import cv2
import numpy as np

from watchkeeper.core.findings import FindingKind as K

Rng = np.random.Generator


def _float(view: np.ndarray) -> np.ndarray:
    return view.astype(np.float32)


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _luma(view: np.ndarray) -> np.ndarray:
    return view if view.ndim == 2 else cv2.cvtColor(view, cv2.COLOR_BGR2GRAY)


def blur(view: np.ndarray, sigma: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """Out of focus, a dirty or fogged lens, or motion: Gaussian, disk (defocus) or line (motion)
    kernel, chosen at random, of the given equivalent Gaussian sigma in pixels."""
    shape = rng.choice(["gaussian", "disk", "motion"])
    if sigma < 0.05:
        return view.copy()
    if shape == "gaussian":
        return cv2.GaussianBlur(view, (0, 0), sigma)
    # Disk and line kernels are drawn 8x supersampled and area-reduced, so sub-pixel sizes stay exact.
    fine = 8
    if shape == "disk":
        radius = sigma * 2.0  # a uniform disk of radius r has a standard deviation of r / 2
        half = int(np.ceil(radius)) + 1
        big = np.zeros(((2 * half + 1) * fine,) * 2, np.float32)
        centre = (big.shape[0] - 1) / 2
        ys, xs = np.mgrid[0:big.shape[0], 0:big.shape[1]]
        big[np.hypot(xs - centre, ys - centre) <= radius * fine] = 1.0
    else:
        length = sigma * np.sqrt(12.0)  # a uniform line of length L has a standard deviation of L / sqrt(12)
        half = int(np.ceil(length / 2)) + 1
        big = np.zeros(((2 * half + 1) * fine,) * 2, np.float32)
        centre = (big.shape[0] - 1) / 2
        angle = float(rng.uniform(0, np.pi))
        steps = np.linspace(-length / 2, length / 2, max(int(length * fine * 4), 2)) * fine
        xs = np.clip(np.rint(centre + steps * np.cos(angle)).astype(int), 0, big.shape[1] - 1)
        ys = np.clip(np.rint(centre + steps * np.sin(angle)).astype(int), 0, big.shape[0] - 1)
        big[ys, xs] = 1.0
    kernel = cv2.resize(big, (2 * half + 1,) * 2, interpolation=cv2.INTER_AREA)
    return cv2.filter2D(view, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def _solve_gain(view: np.ndarray, measure: Callable[[np.ndarray], float], target: float,
                offset: float = 0.0) -> float:
    """The gain at which `measure` of the clipped, scaled view reaches `target` (bisection on a
    quarter-size copy: the measures are shares and means, which the reduction keeps)."""
    small = _float(cv2.resize(view, (max(view.shape[1] // 4, 8), max(view.shape[0] // 4, 8)),
                              interpolation=cv2.INTER_AREA))
    low, high = 0.0, 40.0
    for _ in range(30):  # clipping makes the measure monotonic in the gain but not linear
        gain = (low + high) / 2
        if measure(_luma(_to_u8(small * gain + offset))) < target:
            low = gain
        else:
            high = gain
    return (low + high) / 2


def exposure_to_mean(view: np.ndarray, target: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """Under- or over-exposure: a mild tone-curve difference (gamma 0.85-1.15) then the gain that
    brings mean luminance to `target`. Less light on the sensor is a gain in linear light, which the
    camera's fixed gamma turns into a gain of its output too; the curve is the ISP's own drift."""
    gamma = float(rng.uniform(0.85, 1.15))
    curved = _to_u8(255.0 * (_float(view) / 255.0) ** gamma)
    return _to_u8(_float(curved) * _solve_gain(curved, lambda g: float(g.mean()), target))


def blow_out(view: np.ndarray, share: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """Overexposure: a random lift (0-60 levels) and the gain that blows `share` of the pixels to white."""
    lift = float(rng.uniform(0, 60))
    gain = _solve_gain(view, lambda g: float((g >= 245).mean()), share, lift)
    return _to_u8(_float(view) * gain + lift)


def brighten(view: np.ndarray, share: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """A bright but acceptable exposure: as blow_out, but the gain is held back so that the mean
    luminance stays at or below BRIGHT_FINE_MEAN (a low-contrast scene reaches a washed-out mean
    long before any pixel clips)."""
    lift = float(rng.uniform(0, 60))
    gain = min(_solve_gain(view, lambda g: float((g >= 245).mean()), share, lift),
               _solve_gain(view, lambda g: float(g.mean()), BRIGHT_FINE_MEAN, lift))
    return _to_u8(_float(view) * gain + lift)


#: The highest mean luminance the bright-but-fine exposure reaches.
BRIGHT_FINE_MEAN = 190.0


def cast(view: np.ndarray, strength: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """A white-balance fault: channel gains whose log spread (max - min) is `strength`, in a random
    direction of hue, at constant brightness."""
    angle = float(rng.uniform(0, 2 * np.pi))
    # Three log gains 120 degrees apart on the hue circle, scaled so that their spread is `strength`.
    raw = np.cos(angle - np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]))
    logs = raw / (raw.max() - raw.min()) * strength
    gains = np.exp(logs - logs.mean()).astype(np.float32)
    return _to_u8(_float(view) * gains)


def noise(view: np.ndarray, sigma: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """Sensor noise of standard deviation `sigma` gray levels: white or signal-dependent (shot),
    luma-only or per channel, chosen with `rng`; the field itself comes from `frame_rng`, which
    differs from one frame to the next as a sensor's noise does."""
    image = _float(view)
    frame_rng = rng if frame_rng is None else frame_rng
    shot, luma_only = rng.random() < 0.5, view.ndim == 3 and rng.random() < 0.5
    if not shot:
        scale = np.ones_like(image)
    else:  # shot noise: variance grows with the signal; normalised so that the mean sigma is `sigma`
        root = np.sqrt(np.maximum(image, 1.0))
        scale = root / float(root.mean())
    if luma_only:
        field = frame_rng.standard_normal(view.shape[:2], np.float32)[..., None] * np.float32(sigma)
    else:
        field = frame_rng.standard_normal(view.shape, np.float32) * np.float32(sigma)
    return _to_u8(image + field * scale)


def occluder_mask(shape: tuple[int, int], share: float, rng: Rng) -> np.ndarray:
    """A soft mask over about `share` of the frame: a blob near the lens, or something reaching in
    from an edge (a branch, tape, a wall-mounted sign), with a random blurred edge."""
    h, w = shape
    mask = np.zeros((h, w), np.float32)
    if rng.random() < 0.5:
        # A rounded blob somewhere inside the frame.
        ratio = float(rng.uniform(0.6, 1.6))
        area = share * h * w
        ax = min(np.sqrt(area * ratio / np.pi), w * 0.75)
        ay = min(area / (np.pi * ax), h * 0.75)
        centre = (int(w * rng.uniform(0.3, 0.7)), int(h * rng.uniform(0.3, 0.7)))
        cv2.ellipse(mask, centre, (int(ax), int(ay)), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    else:
        # A band reaching in from one edge with a ragged border.
        edge = int(rng.integers(4))
        long_side, depth_side = (w, h) if edge in (0, 1) else (h, w)
        xs = np.linspace(0, long_side, 12)
        depths = np.clip(share * depth_side * (1 + rng.uniform(-0.35, 0.35, xs.size)), 4, depth_side)
        points = np.stack([xs, depths], axis=1)
        polygon = np.vstack([[[0, 0]], points, [[long_side, 0]]])
        if edge == 1:
            polygon[:, 1] = depth_side - polygon[:, 1]
        if edge in (2, 3):
            polygon = polygon[:, ::-1]
            if edge == 3:
                polygon[:, 0] = depth_side - polygon[:, 0]
        cv2.fillPoly(mask, [np.rint(polygon).astype(np.int32)], 1.0)
    # Rescale so that the covered share is what was asked for, whatever the shape's clipping did.
    covered = float(mask.mean())
    if covered > 0 and abs(covered - share) > 0.02:
        grown = cv2.dilate if covered < share else cv2.erode
        for _ in range(60):
            mask = np.asarray(grown(mask, np.ones((3, 3), np.uint8)), dtype=np.float32)
            if (float(mask.mean()) >= share) == (covered < share):
                break
    return cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(2, 10)))


def occlude(view: np.ndarray, share: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """Something at the lens over `share` of the view: out of focus, so nearly flat, of a random
    colour (dark to light), with a faint gradient across it."""
    mask = occluder_mask(view.shape[:2], share, rng)
    colour = rng.uniform(15, 200, () if view.ndim == 2 else (3,)).astype(np.float32)
    h, w = view.shape[:2]
    ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * float(rng.uniform(-12, 12))
    fill = np.broadcast_to(ramp, (h, w))
    fill = fill[..., None] + colour if view.ndim == 3 else fill + colour
    if view.ndim == 3:
        mask = mask[..., None]
    return _to_u8(_float(view) * (1 - mask) + fill * mask)


def flat(view: np.ndarray, level: float, rng: Rng, frame_rng: Rng | None = None) -> np.ndarray:
    """What a recorder shows for a lost signal: one colour (black, blue, grey) at `level` brightness."""
    if view.ndim == 2:
        return np.full(view.shape, int(level), np.uint8)
    hue = rng.choice([(1.0, 1.0, 1.0), (1.0, 0.15, 0.1), (0.2, 0.2, 0.2)])
    return np.full(view.shape, np.array(hue) * level, np.uint8) if level else np.zeros_like(view)


@attrs.frozen
class Degradation:
    """A generator, the check it must trip (None: none), and the severity bands, in its own unit."""

    name: str
    kind: K | None
    unit: str
    fault: tuple[float, float]
    fine: tuple[float, float] | None
    #: (view, severity, rng for the fault's shape, rng for what changes every frame) -> degraded view
    apply: Callable[[np.ndarray, float, Rng, Rng], np.ndarray]
    #: The generator of the fine band, where it differs.
    apply_fine: Callable[[np.ndarray, float, Rng, Rng], np.ndarray] | None = None


#: Picture-only degradations (the view stays where it is). Displacement, replacement and frozen
#: streams need the scene and the stream, so the dataset builds them (frames_dataset.py).
PICTURE_DEGRADATIONS: tuple[Degradation, ...] = (
    Degradation("blur", K.BLURRED, "kernel sigma, pixels", (2.2, 5.0), (0.0, 0.4), blur),
    Degradation("dark", K.TOO_DARK, "mean luminance after", (8.0, 28.0), (48.0, 80.0), exposure_to_mean),
    Degradation("overexposed", K.OVEREXPOSED, "share of pixels blown to white", (0.2, 0.7), (0.0, 0.03),
                blow_out, brighten),
    Degradation("cast", K.COLOUR_CAST, "spread of channel log gains", (0.3, 0.6), (0.0, 0.08), cast),
    Degradation("noise", K.NOISY, "added noise sigma, gray levels", (11.0, 24.0), (0.0, 3.0), noise),
    Degradation("occluded", K.OCCLUDED, "share of the view covered", (0.3, 0.7), (0.0, 0.04), occlude),
    Degradation("black", K.NO_SIGNAL, "level of the flat screen", (0.0, 200.0), None, flat),
)


def by_name(name: str) -> Degradation:
    return next(spec for spec in PICTURE_DEGRADATIONS if spec.name == name)


def draw(band: tuple[float, float], rng: Rng) -> float:
    return float(rng.uniform(*band))

"""Labelled image-check sets: photographs shipped inside installed packages, and synthetic scenes,
degraded by the generators of degrade.py with severities drawn at random near the thresholds."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import cv2
import numpy as np

from watchkeeper.core.findings import FindingKind as K
from watchkeeper.testing.degrade import (
    PICTURE_DEGRADATIONS, blow_out, blur, by_name, cast, draw, exposure_to_mean, noise, occlude,
)

#: Natural photographs that ship inside installed packages (read from the package folder, never
#: fetched): (import name, path inside it). Colour ones are judged as `day` cameras, gray ones as `ir`.
COLOUR_PHOTOS = (("skimage.data", "astronaut.png"), ("skimage.data", "chelsea.png"),
                 ("skimage.data", "coffee.png"), ("skimage.data", "rocket.jpg"),
                 ("skimage.data", "motorcycle_left.png"), ("skimage.data", "motorcycle_right.png"),
                 ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"))
GRAY_PHOTOS = (("skimage.data", "camera.png"), ("skimage.data", "coins.png"), ("skimage.data", "moon.png"),
               ("skimage.data", "brick.png"), ("skimage.data", "grass.png"), ("skimage.data", "gravel.png"))
SYNTHETIC_SCENES = (1, 2, 3, 4, 5, 6)
#: Seeds the thresholds were tuned on, and seeds held back to report accuracy on. 101-103 were held
#: back from the first tuning; 104-109 were first run on the merged checks of issue 17's last round,
#: after its tuning (tuning lanes saw only 1-60), and joined them so a kind's figure rests on more cases.
TUNING_SEEDS = tuple(range(1, 10))
HELD_BACK_SEEDS = tuple(range(101, 110))
SETS = ("natural", "synthetic")
#: The view is a crop of the base image so that a moved camera can show what lay beside it.
VIEW = 0.8
#: Displacement of the view, as the length of the shift in fractions of the base picture.
MOVED_BAND = (0.05, 0.1)
STEADY_BAND = (0.0, 0.008)
#: Rotation a knocked camera may show instead of a shift, in degrees.
ROTATED_BAND = (5.0, 12.0)
#: Bands of the occluded+bright case: share of the view covered, share of the scene blown out.
COMBINED_COVER = (0.3, 0.5)
COMBINED_BLOWN = (0.2, 0.4)
COMBINED_BLOWN_MIN = 0.2
#: Capture: sensor noise sigma and JPEG quality of the snapshot, drawn per frame.
SENSOR_SIGMA = (1.0, 2.5)
JPEG_QUALITY = (80, 95)


@attrs.frozen
class Sample:
    """One labelled case: frames of a stream (last is judged), the reference view if the camera has
    one, and what must be found."""

    name: str
    frames: tuple[np.ndarray, ...] = attrs.field(repr=False, eq=False)
    reference: np.ndarray | None = attrs.field(repr=False, eq=False)
    profile: str
    expected: frozenset[K]
    degradation: str
    severity: str = ""


def shipped_photo(package: str, name: str) -> Path:
    """The photo's file inside the installed package: offline by construction."""
    import importlib

    module = importlib.import_module(package)
    path = Path(module.__file__).parent / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not shipped inside {package} at {path}")
    return path


def photo_path(name: str) -> Path:
    """A photo scikit-image ships in its wheel."""
    return shipped_photo("skimage.data", name)


def synthetic_scene(seed: int, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A textured colour scene: shaded shapes over gratings, sharp edges, no noise of its own."""
    rng = np.random.default_rng(seed)
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = np.empty((h, w, 3), np.float32)
    # One grating, its phase shifted per channel: a texture's channels share its structure, as a real
    # surface's do (a grating of a different frequency per channel would tint every edge).
    fx, fy = rng.uniform(6, 20), rng.uniform(8, 25)
    for c in range(3):
        scene[..., c] = 90 + 40 * np.sin(xs / fx + c) * np.cos(ys / fy)
    for _ in range(40):
        colour = [float(v) for v in rng.uniform(20, 235, 3)]
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x, y), (x + int(rng.integers(20, 160)), y + int(rng.integers(20, 120))), colour, -1)
        else:
            cv2.circle(scene, (x, y), int(rng.integers(10, 70)), colour, -1)
    return np.clip(scene, 0, 255).astype(np.uint8)


def bases(which: str) -> list[tuple[str, np.ndarray, str]]:
    """(name, picture, profile) of the set's scenes."""
    if which == "synthetic":
        return [(f"synthetic-{seed}", synthetic_scene(seed), "day") for seed in SYNTHETIC_SCENES]
    if which != "natural":
        raise ValueError(f"unknown set {which!r}; sets are {', '.join(SETS)}")
    found = [(Path(name).stem, cv2.imread(str(shipped_photo(pkg, name)), cv2.IMREAD_COLOR), "day")
             for pkg, name in COLOUR_PHOTOS]
    found += [(Path(name).stem, cv2.imread(str(shipped_photo(pkg, name)), cv2.IMREAD_GRAYSCALE), "ir")
              for pkg, name in GRAY_PHOTOS]
    return found


def view_of(base: np.ndarray, dx: float = 0.0, dy: float = 0.0, angle: float = 0.0) -> np.ndarray:
    """The camera's view of the base: a centred crop, optionally panned by a fraction of the base
    or turned by `angle` degrees about the centre."""
    h, w = base.shape[:2]
    if angle:
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        base = cv2.warpAffine(base, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    vh, vw = int(h * VIEW) // 8 * 8, int(w * VIEW) // 8 * 8
    y0 = int(round((h - vh) / 2 + dy * h))
    x0 = int(round((w - vw) / 2 + dx * w))
    return np.ascontiguousarray(base[y0:y0 + vh, x0:x0 + vw])


#: Sensor noise comes from one pool of normal deviates at least this large, read at a random offset
#: per frame: drawing a fresh field for every snapshot was most of the set's build time.
NOISE_POOL = (1200, 1200)


def noise_pool(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(NOISE_POOL + (3,), np.float32)


def capture(view: np.ndarray, rng: np.random.Generator, pool: np.ndarray | None = None) -> np.ndarray:
    """One snapshot as a camera sends it: sensor noise, then JPEG at a random quality. The noise is
    read from `pool` at a random offset (a fresh field if no pool, or the view is larger)."""
    h, w = view.shape[:2]
    if pool is None or h > pool.shape[0] or w > pool.shape[1]:
        field = rng.standard_normal(view.shape, np.float32)
    else:
        y, x = int(rng.integers(pool.shape[0] - h + 1)), int(rng.integers(pool.shape[1] - w + 1))
        field = pool[y:y + h, x:x + w, int(rng.integers(3))] if view.ndim == 2 else pool[y:y + h, x:x + w]
    noisy = np.clip(np.rint(view.astype(np.float32) + field * np.float32(draw(SENSOR_SIGMA, rng))), 0, 255)
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    ok, data = cv2.imencode(".jpg", noisy.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def _displaced(base: np.ndarray, band: tuple[float, float], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    if band == MOVED_BAND and rng.random() < 0.3:
        angle = draw(ROTATED_BAND, rng) * rng.choice([-1, 1])
        return view_of(base, angle=angle), f"turned {angle:+.1f} deg"
    length, direction = draw(band, rng), float(rng.uniform(0, 2 * math.pi))
    dx, dy = length * math.cos(direction), length * math.sin(direction)
    return view_of(base, dx, dy), f"shifted {dx:+.3f},{dy:+.3f}"


Render = Callable[[np.random.Generator], np.ndarray]


def _fixed(view: np.ndarray) -> Render:
    return lambda frame_rng: view


def _degraded(view: Render, spec: Callable[..., np.ndarray], value: float, rng: np.random.Generator) -> Render:
    """The view through one generator: its shape drawn once (same seed every frame), its noise per frame."""
    seed = int(rng.integers(2**63))
    return lambda frame_rng: spec(view(frame_rng), value, np.random.default_rng(seed), frame_rng)


def _same_size(scene: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A view of another scene at `shape`, cropped from its centre (mirrored out where it is too
    small) rather than resized: upscaling would blur it, and a replaced view is not a blurred one."""
    h, w = shape
    pad_y, pad_x = max(h - scene.shape[0], 0), max(w - scene.shape[1], 0)
    if pad_y or pad_x:
        scene = cv2.copyMakeBorder(scene, pad_y // 2, pad_y - pad_y // 2, pad_x // 2, pad_x - pad_x // 2,
                                   cv2.BORDER_REFLECT_101)
    y0, x0 = (scene.shape[0] - h) // 2, (scene.shape[1] - w) // 2
    return np.ascontiguousarray(scene[y0:y0 + h, x0:x0 + w])


def _blown(image: np.ndarray) -> float:
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return float((gray >= 245).mean())


def _cases(base: np.ndarray, other: np.ndarray, rng: np.random.Generator
           ) -> Iterator[tuple[str, str, Render, frozenset[K], bool]]:
    """(label, severity, frame renderer, expected kinds, needs a reference) for one base."""
    view = view_of(base)
    clean = _fixed(view)
    yield "clean", "", clean, frozenset(), False
    for spec in PICTURE_DEGRADATIONS:
        if spec.kind is K.COLOUR_CAST and base.ndim == 2:
            continue
        for band, expected, label, apply in ((spec.fault, frozenset({spec.kind}), spec.name, spec.apply),
                                             (spec.fine, frozenset(), f"{spec.name}-fine", spec.apply_fine or spec.apply)):
            if band is None:
                continue
            value = draw(band, rng)
            yield label, f"{value:.3g}", _degraded(clean, apply, value, rng), expected, spec.kind is K.OCCLUDED
    moved, moved_how = _displaced(base, MOVED_BAND, rng)
    yield "moved", moved_how, _fixed(moved), frozenset({K.MOVED}), True
    steady, how = _displaced(base, STEADY_BAND, rng)
    yield "moved-fine", how, _fixed(steady), frozenset(), True
    yield "replaced", "", _fixed(_same_size(other, view.shape[:2])), frozenset({K.MOVED}), True
    # Faults that come together, so that one cannot hide the other. The occluder goes on after the
    # exposure: something at the lens is not lit like the scene the camera exposes for.
    dark_at = draw(by_name("dark").fault, rng)
    yield "moved+dark", f"{moved_how}, mean {dark_at:.3g}", \
        _degraded(_fixed(moved), exposure_to_mean, dark_at, rng), frozenset({K.MOVED, K.TOO_DARK}), True
    # Something at the lens of a camera that also blows out. Both must stay visible, so the cover
    # and the scene's blown share are kept moderate; the scene's share is then raised until the
    # picture's own blown share is clearly overexposed (the occluder may hide what was blown).
    share, bright_at = draw(COMBINED_COVER, rng), draw(COMBINED_BLOWN, rng)
    covered_bright = _degraded(_degraded(clean, blow_out, bright_at, rng), occlude, share, rng)
    while _blown(covered_bright(rng)) < COMBINED_BLOWN_MIN and bright_at < 0.9:
        bright_at += 0.05
        covered_bright = _degraded(_degraded(clean, blow_out, bright_at, rng), occlude, share, rng)
    yield "occluded+bright", f"cover {share:.2f}, scene blown {bright_at:.2f}", covered_bright, \
        frozenset({K.OCCLUDED, K.OVEREXPOSED}), True
    sigma, strength = draw(by_name("blur").fault, rng), draw(by_name("cast").fault, rng)
    if base.ndim == 3:
        yield "blur+cast", f"sigma {sigma:.3g}, cast {strength:.3g}", \
            _degraded(_degraded(clean, blur, sigma, rng), cast, strength, rng), \
            frozenset({K.BLURRED, K.COLOUR_CAST}), False
    grain = draw(by_name("noise").fault, rng)
    yield "moved+noise", f"{moved_how}, noise {grain:.3g}", _degraded(_fixed(moved), noise, grain, rng), \
        frozenset({K.MOVED, K.NOISY}), True


def labelled_samples(seed: int, which: str = "natural") -> list[Sample]:
    """The whole set for one seed: every base through every case, plus frozen streams.

    Picture-only cases are built twice, with and without a commissioning reference (cameras
    without one are judged too); scene cases always have one.
    """
    rng = np.random.default_rng(seed)
    pool = noise_pool(rng)
    scenes = bases(which)
    samples: list[Sample] = []
    for index, (name, base, profile) in enumerate(scenes):
        other = scenes[(index + 1 + int(rng.integers(len(scenes) - 1))) % len(scenes)][1]
        if other.ndim != base.ndim:
            other = cv2.cvtColor(other, cv2.COLOR_GRAY2BGR if base.ndim == 3 else cv2.COLOR_BGR2GRAY)
        reference = capture(view_of(base), rng, pool)
        for label, severity, render, expected, needs_reference in _cases(base, other, rng):
            for with_reference in (True,) if needs_reference else (True, False):
                if K.NO_SIGNAL in expected:
                    frame = render(rng)
                    frames = (frame, frame)  # a recorder's no-signal screen: the same bytes every frame
                else:
                    frames = (capture(render(rng), rng, pool), capture(render(rng), rng, pool))
                suffix = "" if with_reference else " (no reference)"
                samples.append(Sample(f"{name}/{label}{suffix}", frames, reference if with_reference else None,
                                      profile, expected, label, severity))
        live = capture(view_of(base), rng, pool)
        for with_reference in (True, False):
            samples.append(Sample(f"{name}/frozen{'' if with_reference else ' (no reference)'}",
                                  (live, live.copy()), reference if with_reference else None, profile,
                                  frozenset({K.FROZEN}), "frozen"))
        if base.ndim == 2:
            # An IR camera whose encoder sends monochrome as BGR: not a colour cast.
            mono = cv2.cvtColor(view_of(base), cv2.COLOR_GRAY2BGR)
            samples.append(Sample(f"{name}/ir-as-bgr", (capture(mono, rng, pool), capture(mono, rng, pool)),
                                  cv2.cvtColor(reference, cv2.COLOR_GRAY2BGR), profile, frozenset(), "ir-as-bgr"))
    return samples


#: The finding kinds the image checks raise, in the order reports list them.
CHECKED_KINDS = (K.BLURRED, K.TOO_DARK, K.OVEREXPOSED, K.COLOUR_CAST, K.NOISY, K.NO_SIGNAL,
                 K.FROZEN, K.OCCLUDED, K.MOVED)


@attrs.frozen
class Outcome:
    sample: Sample
    found: frozenset[K]
    primary: K | None = None


def run_checks(samples: list[Sample]) -> list[Outcome]:
    """Analyse every sample as the appliance would: last frame, its predecessor, the reference."""
    from watchkeeper.analysis.imagechecks import check_frame
    from watchkeeper.analysis.metrics import analyze_frame, frozen_score
    from watchkeeper.analysis.scene import compare_to_reference

    outcomes = []
    for sample in samples:
        metrics = analyze_frame(sample.frames[-1])
        scene = None
        if sample.reference is not None:
            scene = compare_to_reference(metrics, analyze_frame(sample.reference))
        findings = check_frame(metrics, subject=sample.name, profile=sample.profile, scene=scene,
                               frozen_score=frozen_score(sample.frames[-2], sample.frames[-1]))
        outcomes.append(Outcome(sample, frozenset(f.kind for f in findings),
                                findings[0].kind if findings else None))
    return outcomes


def confusion(outcomes: list[Outcome]) -> dict[K, dict[str, int]]:
    """Per check: true/false positives and negatives over the whole set."""
    table = {kind: {"tp": 0, "fp": 0, "fn": 0, "tn": 0} for kind in CHECKED_KINDS}
    for outcome in outcomes:
        for kind in CHECKED_KINDS:
            key = ("t" if (kind in outcome.found) == (kind in outcome.sample.expected) else "f") + \
                  ("p" if kind in outcome.found else "n")
            table[kind][key] += 1
    return table


def accuracy(counts: dict[str, int]) -> float:
    total = sum(counts.values())
    return (counts["tp"] + counts["tn"]) / total if total else 1.0


def precision(counts: dict[str, int]) -> float:
    found = counts["tp"] + counts["fp"]
    return counts["tp"] / found if found else 1.0


def recall(counts: dict[str, int]) -> float:
    present = counts["tp"] + counts["fn"]
    return counts["tp"] / present if present else 1.0

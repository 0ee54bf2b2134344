"""A labelled image-check test set: textured scenes and shipped photos degraded in known ways and amounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import cv2
import numpy as np

from watchkeeper.core.findings import FindingKind as K

#: Photos that scikit-image ships inside its wheel (read from the package folder, never fetched).
COLOUR_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
GRAY_PHOTOS = ("camera.png", "brick.png", "coins.png")
SYNTHETIC_SEEDS = (1, 2, 3)
#: Capture noise every frame gets, as a live sensor would: two frames of a live scene never match.
SENSOR_SIGMA = 2.0
#: The view is a crop of the base image so that a moved camera can show what lay beside it.
VIEW = 0.8


@attrs.frozen
class Sample:
    """One labelled case: frames of a stream (last is judged), the reference view and what must be found."""

    name: str
    frames: tuple[np.ndarray, ...] = attrs.field(repr=False, eq=False)
    reference: np.ndarray = attrs.field(repr=False, eq=False)
    profile: str
    expected: frozenset[K]
    degradation: str


def photo_path(name: str) -> Path:
    """The photo's file inside the installed scikit-image: offline by construction."""
    import skimage.data

    path = Path(skimage.data.__file__).parent / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not shipped inside scikit-image at {path}")
    return path


def synthetic_scene(seed: int, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A textured colour scene: shaded shapes over gratings, sharp edges, no noise of its own."""
    rng = np.random.default_rng(seed)
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = np.empty((h, w, 3), np.float32)
    for c in range(3):
        scene[..., c] = 90 + 40 * np.sin(xs / rng.uniform(6, 20) + c) * np.cos(ys / rng.uniform(8, 25))
    for _ in range(40):
        colour = [float(v) for v in rng.uniform(20, 235, 3)]
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x, y), (x + int(rng.integers(20, 160)), y + int(rng.integers(20, 120))), colour, -1)
        else:
            cv2.circle(scene, (x, y), int(rng.integers(10, 70)), colour, -1)
    return np.clip(scene, 0, 255).astype(np.uint8)


def _bases() -> Iterator[tuple[str, np.ndarray, str]]:
    for name in COLOUR_PHOTOS:
        yield name, cv2.imread(str(photo_path(name)), cv2.IMREAD_COLOR), "day"
    for seed in SYNTHETIC_SEEDS:
        yield f"synthetic-{seed}", synthetic_scene(seed), "day"
    for name in GRAY_PHOTOS:
        yield name, cv2.imread(str(photo_path(name)), cv2.IMREAD_GRAYSCALE), "ir"


def _view(base: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """The camera's view of the base: a centred crop, optionally panned by a fraction of the base."""
    h, w = base.shape[:2]
    vh, vw = int(h * VIEW) // 8 * 8, int(w * VIEW) // 8 * 8
    y0 = int((h - vh) / 2 + dy * h)
    x0 = int((w - vw) / 2 + dx * w)
    return np.ascontiguousarray(base[y0:y0 + vh, x0:x0 + vw])


def _capture(view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = view.astype(np.float32) + rng.normal(0, SENSOR_SIGMA, view.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _scale(view: np.ndarray, gain: float, offset: float = 0.0) -> np.ndarray:
    return np.clip(view.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def _cast(view: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    if view.ndim == 2:
        view = cv2.cvtColor(view, cv2.COLOR_GRAY2BGR)
    return np.clip(view.astype(np.float32) * np.array(gains, np.float32), 0, 255).astype(np.uint8)


def _noise(view: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(view.astype(np.float32) + rng.normal(0, sigma, view.shape), 0, 255).astype(np.uint8)


def _occlude(view: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Something close to the lens: a flat, out-of-focus blob over `share` of the view."""
    h, w = view.shape[:2]
    mask = np.zeros((h, w), np.float32)
    axes = (int(w * np.sqrt(share) * 0.62), int(h * np.sqrt(share) * 0.62))
    centre = (int(w * rng.uniform(0.35, 0.65)), int(h * rng.uniform(0.35, 0.65)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 6)
    colour = rng.uniform(30, 90, () if view.ndim == 2 else (3,)).astype(np.float32)
    if view.ndim == 3:
        mask = mask[..., None]
    return (view * (1 - mask) + colour * mask).astype(np.uint8)


def degradations(base: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray, frozenset[K]]]:
    """Each way a camera goes wrong, at amounts an operator would call a fault."""
    view = _view(base)
    yield "clean", view, frozenset()
    yield "dim-but-fine", _scale(view, 0.75), frozenset()
    for sigma in (3.0, 6.0):
        yield f"blur-{sigma:g}", cv2.GaussianBlur(view, (0, 0), sigma), frozenset({K.BLURRED})
    for gain in (0.12, 0.2):
        yield f"dark-x{gain:g}", _scale(view, gain), frozenset({K.TOO_DARK})
    for gain in (2.5, 3.5):
        yield f"overexposed-x{gain:g}", _scale(view, gain, 40), frozenset({K.OVEREXPOSED})
    for sigma in (15.0, 25.0):
        yield f"noise-{sigma:g}", _noise(view, sigma, rng), frozenset({K.NOISY})
    if view.ndim == 3:
        yield "cast-warm", _cast(view, (0.65, 1.0, 1.35)), frozenset({K.COLOUR_CAST})
        yield "cast-green", _cast(view, (0.8, 1.3, 0.75)), frozenset({K.COLOUR_CAST})
    yield "black", np.full_like(view, 2), frozenset({K.NO_SIGNAL})
    yield "blue-screen", np.full(view.shape[:2] + (3,), (200, 30, 20), np.uint8) if view.ndim == 3 \
        else np.full_like(view, 128), frozenset({K.NO_SIGNAL})
    for share in (0.4, 0.6):
        yield f"occluded-{share:g}", _occlude(view, share, rng), frozenset({K.OCCLUDED})
    yield "panned", _view(base, dx=0.08), frozenset({K.MOVED})
    yield "tilted", _view(base, dx=-0.05, dy=0.07), frozenset({K.MOVED})


def labelled_samples(seed: int = 2026) -> list[Sample]:
    """The whole set: every base through every degradation, plus frozen streams and replaced scenes."""
    rng = np.random.default_rng(seed)
    bases = list(_bases())
    samples: list[Sample] = []
    for index, (name, base, profile) in enumerate(bases):
        reference = _capture(_view(base), rng)
        for label, view, expected in degradations(base, rng):
            flat = label in ("black", "blue-screen")
            # A no-signal screen is generated by the recorder: exactly the same bytes every frame.
            frames = (view, view) if flat else (_capture(view, rng), _capture(view, rng))
            samples.append(Sample(f"{name}/{label}", frames, reference, profile, expected, label))
        live = _capture(_view(base), rng)
        samples.append(Sample(f"{name}/frozen", (live, live.copy()), reference, profile,
                              frozenset({K.FROZEN}), "frozen"))
        other = bases[(index + 1) % len(bases)][1]
        if other.ndim != base.ndim:
            other = cv2.cvtColor(other, cv2.COLOR_GRAY2BGR if base.ndim == 3 else cv2.COLOR_BGR2GRAY)
        replaced = cv2.resize(_view(other), reference.shape[1::-1], interpolation=cv2.INTER_AREA)
        samples.append(Sample(f"{name}/replaced", (_capture(replaced, rng), _capture(replaced, rng)),
                              reference, profile, frozenset({K.MOVED}), "replaced"))
        if base.ndim == 2:
            # An IR camera whose encoder sends monochrome as BGR: not a colour cast.
            mono = cv2.cvtColor(_view(base), cv2.COLOR_GRAY2BGR)
            samples.append(Sample(f"{name}/ir-as-bgr", (_capture(mono, rng), _capture(mono, rng)),
                                  cv2.cvtColor(reference, cv2.COLOR_GRAY2BGR), profile, frozenset(), "ir-as-bgr"))
    return samples


#: The finding kinds the image checks raise, in the order reports list them.
CHECKED_KINDS = (K.BLURRED, K.TOO_DARK, K.OVEREXPOSED, K.COLOUR_CAST, K.NOISY, K.NO_SIGNAL,
                 K.FROZEN, K.OCCLUDED, K.MOVED)


@attrs.frozen
class Outcome:
    sample: Sample
    found: frozenset[K]


def run_checks(samples: list[Sample]) -> list[Outcome]:
    """Analyse every sample as the appliance would: last frame, its predecessor, the reference."""
    from watchkeeper.analysis.metrics import analyze_frame, compare_to_reference, frozen_score
    from watchkeeper.analysis.imagechecks import check_frame

    outcomes = []
    for sample in samples:
        metrics = analyze_frame(sample.frames[-1])
        scene = compare_to_reference(metrics, analyze_frame(sample.reference))
        findings = check_frame(metrics, subject=sample.name, profile=sample.profile, scene=scene,
                               frozen_score=frozen_score(sample.frames[-2], sample.frames[-1]))
        outcomes.append(Outcome(sample, frozenset(f.kind for f in findings)))
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

"""Image checks: per-profile thresholds and the rules that turn frame metrics into findings."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

import attrs

from watchkeeper.analysis.metrics import Metrics, SceneComparison
from watchkeeper.core.findings import Finding
from watchkeeper.core.findings import FindingKind as K

PROFILES = ("day", "night", "ir")


@attrs.frozen
class Threshold:
    """One tunable limit: what it bounds, its defaults per profile, and the values it may take."""

    description: str
    day: float
    night: float
    ir: float
    fraction: bool = False


#: Every threshold a site may set under [policies.thresholds.<profile>], with its defaults.
THRESHOLDS: dict[str, Threshold] = {
    "no_signal_std_max": Threshold("luminance std at or below which the frame is one flat colour", 2.0, 2.0, 2.0),
    "dark_mean_min": Threshold("mean luminance (0-255) below which the image is too dark", 35.0, 18.0, 30.0),
    "dark_fraction_max": Threshold("share of near-black pixels (< 16) above which it is too dark",
                                   0.75, 0.85, 0.85, fraction=True),
    "bright_mean_max": Threshold("mean luminance above which the image is overexposed", 215.0, 215.0, 215.0),
    "bright_fraction_max": Threshold("share of near-white pixels (>= 245) above which it is overexposed",
                                     0.10, 0.10, 0.15, fraction=True),
    "sharpness_min": Threshold("detail (Laplacian variance net of noise) below which it is blurred",
                               20.0, 10.0, 20.0),
    "noise_max": Threshold("Immerkaer noise sigma (gray levels) above which it is noisy", 7.0, 10.0, 9.0),
    "cast_max": Threshold("grey-world channel imbalance above which, with no reference, it has a cast",
                          1.3, 1.5, 1.3),
    "cast_shift_max": Threshold("spread of channel log-gains against the reference above which it has a cast",
                                0.2, 0.25, 0.2),
    "frozen_diff_max": Threshold("mean absolute difference between sampled frames at or below which it is frozen",
                                 0.1, 0.1, 0.1),
    "occluded_fraction_max": Threshold("share of the reference's textured blocks gone flat above which it is occluded",
                                       0.2, 0.2, 0.2, fraction=True),
    "scene_match_min": Threshold("share of visible blocks matching the reference below which the camera moved",
                                 0.5, 0.5, 0.5, fraction=True),
    "moved_shift_max": Threshold("image shift against the reference (fraction of the frame) above which it moved",
                                 0.04, 0.04, 0.04, fraction=True),
}
#: Phase-correlation peak below which a measured shift is not trusted (the scene decides instead).
SHIFT_RESPONSE_MIN = 0.2
#: How much better the view must match once the shift is undone for the shift to be believed.
ALIGNMENT_GAIN_MIN = 0.1


def default_thresholds(profile: str) -> dict[str, float]:
    if profile not in PROFILES:
        raise ValueError(f"unknown camera profile {profile!r}; profiles are {', '.join(PROFILES)}")
    return {name: getattr(spec, profile) for name, spec in THRESHOLDS.items()}


def validate_threshold_names(mapping: Mapping[str, Any]) -> list[str]:
    """Problems in a site's `policies.thresholds` table ({profile: {name: number}}), each naming its key."""
    problems: list[str] = []
    for profile, values in mapping.items():
        path = f"policies.thresholds.{profile}"
        if profile not in PROFILES:
            problems.append(f"{path}: unknown profile; profiles are {', '.join(PROFILES)}")
            continue
        if not isinstance(values, Mapping):
            problems.append(f"{path}: must be a table of thresholds")
            continue
        for name, value in values.items():
            spec = THRESHOLDS.get(name)
            if spec is None:
                close = difflib.get_close_matches(name, THRESHOLDS, n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(THRESHOLDS)}"
                problems.append(f"{path}.{name}: unknown threshold{hint}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(f"{path}.{name}: must be a finite number, not {value!r}")
            elif value < 0 or (spec.fraction and value > 1):
                problems.append(f"{path}.{name}: {value} is out of range ({'0 to 1' if spec.fraction else '>= 0'})")
    return problems


def thresholds_for(profile: str, overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
    """The defaults for `profile` with the site's overrides for that profile merged over them."""
    overrides = overrides or {}
    problems = validate_threshold_names(overrides)
    if problems:
        raise ValueError("; ".join(problems))
    merged = default_thresholds(profile)
    merged.update({name: float(v) for name, v in overrides.get(profile, {}).items()})
    return merged


def check_frame(metrics: Metrics, *, subject: str, profile: str = "day",
                thresholds: Mapping[str, float] | None = None, channel: int | None = None,
                scene: SceneComparison | None = None, frozen_score: float | None = None) -> list[Finding]:
    """Findings for one frame, with the comparison to its reference and the frozen score if known.

    A flat frame is reported as no signal and nothing else; a badly exposed frame is not judged
    for blur, scene or colour, whose measures it would distort.
    """
    limits = dict(default_thresholds(profile))
    limits.update(thresholds or {})
    found: list[Finding] = []

    def add(kind: K, measured: float, limit: str, reason: str, **details: Any) -> None:
        found.append(Finding(kind, subject, reason, channel=channel, measured=round(measured, 4),
                             threshold=limits[limit], details={"threshold_name": limit, "profile": profile,
                                                               **details}))

    m = metrics
    if m.std <= limits["no_signal_std_max"] and m.over_fraction > 0.5:
        add(K.OVEREXPOSED, m.over_fraction, "bright_fraction_max",
            f"the whole frame is blown out to white ({m.over_fraction:.0%} of the pixels)")
        return found
    if m.std <= limits["no_signal_std_max"]:
        add(K.NO_SIGNAL, m.std, "no_signal_std_max",
            f"frame is one flat colour (mean {m.mean:.0f}, std {m.std:.2f}): no video signal")
        return found
    if m.mean < limits["dark_mean_min"]:
        add(K.TOO_DARK, m.mean, "dark_mean_min", f"mean luminance {m.mean:.1f} is below {limits['dark_mean_min']:g}")
    elif m.under_fraction > limits["dark_fraction_max"]:
        add(K.TOO_DARK, m.under_fraction, "dark_fraction_max",
            f"{m.under_fraction:.0%} of the pixels are near black")
    if m.mean > limits["bright_mean_max"]:
        add(K.OVEREXPOSED, m.mean, "bright_mean_max", f"mean luminance {m.mean:.1f} is above {limits['bright_mean_max']:g}")
    elif m.over_fraction > limits["bright_fraction_max"]:
        add(K.OVEREXPOSED, m.over_fraction, "bright_fraction_max",
            f"{m.over_fraction:.0%} of the pixels are blown out to white")
    if m.noise > limits["noise_max"]:
        add(K.NOISY, m.noise, "noise_max", f"noise sigma {m.noise:.1f} is above {limits['noise_max']:g}")
    if frozen_score is not None and frozen_score <= limits["frozen_diff_max"]:
        add(K.FROZEN, frozen_score, "frozen_diff_max",
            f"consecutive frames differ by {frozen_score:.3f} per pixel: the stream is not updating")
    if any(f.kind in (K.TOO_DARK, K.OVEREXPOSED) for f in found):
        return found
    if m.detail < limits["sharpness_min"]:
        add(K.BLURRED, m.detail, "sharpness_min",
            f"detail {m.detail:.1f} is below {limits['sharpness_min']:g}: out of focus or a dirty lens",
            sharpness=round(m.sharpness, 4))
    scene_matches = True
    if scene is not None:
        scene_matches = _check_scene(scene, limits, add)
    # An occluder brings its own colour: the balance of what is left cannot be judged.
    if not m.monochrome and profile != "ir" and not any(f.kind == K.OCCLUDED for f in found):
        if scene is not None and scene_matches and scene.colour_shift is not None:
            if scene.colour_shift > limits["cast_shift_max"]:
                add(K.COLOUR_CAST, scene.colour_shift, "cast_shift_max",
                    f"colour balance drifted from the reference by {scene.colour_shift:.2f}",
                    channel_means=[round(v, 2) for v in m.channel_means or ()])
        elif m.colour_cast > limits["cast_max"]:
            add(K.COLOUR_CAST, m.colour_cast, "cast_max", f"channel means are imbalanced by {m.colour_cast:.2f}",
                channel_means=[round(v, 2) for v in m.channel_means or ()])
    return found


def _check_scene(scene: SceneComparison, limits: Mapping[str, float], add: Any) -> bool:
    """Moved, then occluded; returns whether the view still is the reference's scene."""
    # Occluders fool phase correlation into large shifts; a real pan is one that undoing restores.
    shifted = (scene.shift_response >= SHIFT_RESPONSE_MIN and scene.shift > limits["moved_shift_max"]
               and scene.aligned_match >= limits["scene_match_min"]
               and scene.aligned_match > scene.scene_match + ALIGNMENT_GAIN_MIN)
    if shifted:
        add(K.MOVED, scene.shift, "moved_shift_max",
            f"view shifted by {scene.shift:.1%} of the frame since commissioning",
            shift_x=round(scene.shift_x, 4), shift_y=round(scene.shift_y, 4), mode="shifted")
        return False
    if scene.scene_match < limits["scene_match_min"]:
        add(K.MOVED, scene.scene_match, "scene_match_min",
            f"only {scene.scene_match:.0%} of the view matches the reference: camera turned or scene replaced",
            hash_distance=round(scene.hash_distance, 4), mode="replaced")
        return False
    if scene.occluded_fraction > limits["occluded_fraction_max"]:
        add(K.OCCLUDED, scene.occluded_fraction, "occluded_fraction_max",
            f"{scene.occluded_fraction:.0%} of the textured view has gone flat: something blocks the lens")
    return True

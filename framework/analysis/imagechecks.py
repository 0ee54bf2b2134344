"""Image checks: per-profile thresholds and the rules that turn frame metrics into findings."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

import attrs

from watchkeeper.analysis.metrics import Metrics
from watchkeeper.analysis.scene import SceneComparison
from watchkeeper.core.findings import Finding
from watchkeeper.core.findings import FindingKind as K
from watchkeeper.core.i18n import N_

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
    "weakest_sharpness_min": Threshold("edge sharpness along the weakest direction (second-difference energy of "
                                       "the sharpest edges over their contrast) below which, with no reference, "
                                       "it is blurred", 0.27, 0.2, 0.27),
    "direction_ratio_min": Threshold("edge sharpness along the weakest direction as a share of the reference's "
                                     "along it below which it is blurred", 0.19, 0.19, 0.19, fraction=True),
    "sharpness_ratio_min": Threshold("edge sharpness as a share of the reference's below which a view that lost "
                                     "its texture is read as defocused rather than covered",
                                     0.25, 0.25, 0.25, fraction=True),
    "detail_min": Threshold("Laplacian variance net of noise below which a frame with too few edges to judge "
                            "their sharpness is blurred", 20.0, 10.0, 20.0),
    "noise_max": Threshold("noise sigma (gray levels) above which it is noisy, in the frame and, when frames "
                           "a moment apart are known, between them", 7.0, 10.0, 9.0),
    "cast_edge_max": Threshold("colour spread of the light estimated from edges and highlights (grey-edge and "
                               "white-patch, log units) above which, with no reference, it has a cast",
                               0.225, 0.32, 0.225),
    "cast_shift_max": Threshold("spread of the channels' edge-gradient log gains against the reference above "
                                "which it has a cast",
                                0.2, 0.25, 0.2),
    "frozen_diff_max": Threshold("mean absolute difference between sampled frames at or below which it is frozen",
                                 0.1, 0.1, 0.1),
    "occluded_fraction_max": Threshold("share of the judged view covered by one flat region above which it "
                                       "is occluded", 0.2, 0.2, 0.2, fraction=True),
    "scene_match_min": Threshold("share of visible cells matching the reference below which the camera moved",
                                 0.5, 0.5, 0.5, fraction=True),
    "scene_changed_max": Threshold("share of the textured view showing something else than the reference above "
                                   "which the camera moved (even where the layout still matches)", 0.25, 0.25, 0.25,
                                   fraction=True),
    "moved_shift_max": Threshold("image shift against the reference (fraction of the frame) above which it moved",
                                 0.04, 0.04, 0.04, fraction=True),
}
#: Thresholds that measured something else before: a site's old value would be meaningless now.
RETIRED = {
    "edge_sharpness_min": "retired: blur without a reference is judged on weakest_sharpness_min (the sharpness "
                          "along the direction that lost the most, so that motion blur is seen too)",
    "sharpness_min": "retired: blur is judged on weakest_sharpness_min (edges' sharpness whatever the scene's "
                     "texture) or, with a reference, direction_ratio_min; detail_min covers frames without edges",
    "cast_max": "retired: a cast without a reference is judged on cast_edge_max (grey-edge, log units)",
}
#: Phase-correlation peak below which a measured shift is not trusted (the scene decides instead).
SHIFT_RESPONSE_MIN = 0.2
#: How much better the view must match once the shift (or turn) is undone for it to be believed.
ALIGNMENT_GAIN_MIN = 0.1
#: Smallest turn reported: a camera re-aimed by hand turns by a few degrees at least.
TURN_MIN_DEGREES = 2.0
#: A flat frame is a generated no-signal screen only if frames a moment apart hardly differ: a live
#: but black picture still changes by its sensor noise (gray levels of mean absolute difference).
NO_SIGNAL_CHANGE_MAX = 0.5
#: Largest median brightness step (gray levels) between neighbouring cells of the covered region
#: for it to be read as a cover: an out-of-focus occluder steps by about 1 or less (its faint
#: gradient and the sensor's noise), a replaced view by 3 and more (tuning seeds 1-3: occluders
#: 0.1-1.2, replaced views read as covered 3.1-9.1; gravel re-aimed at the smooth moon, 1.5, stays
#: ambiguous).
COVER_RELIEF_MAX = 2.0
#: Scene checks need this share of the reference's texture judged, and moved this share visible.
JUDGED_MIN, VISIBLE_MIN = 0.2, 0.25
#: An exposure fault bends what is left of the texture (clipping, crushing), so telling a new scene
#: from the old one partly covered needs more of it in view.
VISIBLE_MIN_EXPOSED = 0.45
#: Mean absolute difference of two frames with independent noise of sigma s is 2 s / sqrt(pi).
TEMPORAL_NOISE_GAIN = 2.0 / math.sqrt(math.pi)
#: The order findings are listed in; the first one found is the primary finding. The stream
#: carrying no picture comes first, then a view that shows the wrong thing or nothing, then
#: exposure and focus, then the warnings.
PRIMARY_ORDER = (K.NO_SIGNAL, K.FROZEN, K.OCCLUDED, K.MOVED, K.TOO_DARK, K.OVEREXPOSED, K.BLURRED,
                 K.NOISY, K.COLOUR_CAST)


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
            if name in RETIRED:
                problems.append(f"{path}.{name}: {RETIRED[name]}")
            elif spec is None:
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
    """Every image fault this frame shows, primary first (PRIMARY_ORDER), each with its evidence.

    No fault hides another: each check runs unless the frame cannot support its measure (a flat
    frame has no picture to judge; an exposure fault or noise drowns the edges blur is judged on;
    an occluder's colour and soft edge are not the camera's). What could not be judged is listed
    in the primary finding's `details["not_judged"]`; `details["primary"]` marks the primary one.
    """
    limits = dict(default_thresholds(profile))
    limits.update(thresholds or {})
    found: list[Finding] = []
    not_judged: dict[str, str] = {}

    def add(kind: K, measured: float, limit: str, reason: str, **details: Any) -> None:
        found.append(Finding(kind, subject, reason, channel=channel, measured=round(measured, 4),
                             threshold=limits[limit], details={"threshold_name": limit, "profile": profile,
                                                               **details}))

    def skip(kinds: tuple[K, ...], why: str) -> None:
        for kind in kinds:
            not_judged.setdefault(str(kind), why)

    m = metrics
    if m.std <= limits["no_signal_std_max"] and (frozen_score is None or frozen_score <= NO_SIGNAL_CHANGE_MAX):
        if m.over_fraction > 0.5:
            add(K.OVEREXPOSED, m.over_fraction, "bright_fraction_max",
                N_("the whole frame is blown out to white ({fraction:.0%} of the pixels)", fraction=m.over_fraction))
        else:
            add(K.NO_SIGNAL, m.std, "no_signal_std_max",
                N_("frame is one flat colour (mean {mean:.0f}, std {std:.2f}): no video signal", mean=m.mean, std=m.std))
        skip(tuple(k for k in PRIMARY_ORDER if k not in (K.NO_SIGNAL, K.OVEREXPOSED)), "the frame is one flat colour")
        return _ranked(found, not_judged)
    _check_exposure(m, limits, add)
    frozen = frozen_score is not None and frozen_score <= limits["frozen_diff_max"]
    if frozen:
        add(K.FROZEN, frozen_score, "frozen_diff_max",
            N_("consecutive frames differ by {score:.3f} per pixel: the stream is not updating", score=frozen_score))
    if frozen:
        skip((K.NOISY,), "a frozen frame's noise is not the sensor's now")
    else:
        _check_noise(m, limits, frozen_score, add)
    view_lost = False
    exposure_fault = any(f.kind in (K.TOO_DARK, K.OVEREXPOSED) for f in found)
    if scene is None:
        skip((K.OCCLUDED, K.MOVED), "no reference frame")
    else:
        view_lost = _check_scene(scene, limits, add, skip, VISIBLE_MIN_EXPOSED if exposure_fault else VISIBLE_MIN)
    kinds = {f.kind for f in found}
    if kinds & {K.TOO_DARK, K.OVEREXPOSED}:
        skip((K.BLURRED, K.COLOUR_CAST), "the exposure fault distorts edges and colour")
    elif K.NOISY in kinds:
        skip((K.BLURRED,), "noise drowns the edges")
    if K.OCCLUDED in kinds:
        skip((K.BLURRED, K.COLOUR_CAST), "the occluder's soft edge and colour are not the scene's")
    if str(K.BLURRED) not in not_judged:
        _check_blur(m, limits, None if view_lost else scene, add)
    if m.monochrome or profile == "ir":
        skip((K.COLOUR_CAST,), "monochrome picture" if m.monochrome else "IR pictures are often tinted")
    if str(K.COLOUR_CAST) not in not_judged:
        # A panned camera still shows part of its reference view: its balance is judged there.
        panned = any(f.kind is K.MOVED and f.details.get("mode") == "shifted" for f in found)
        _check_cast(m, limits, None if view_lost else scene, add, skip,
                    scene.aligned_colour_shift if panned and scene is not None else None)
    return _ranked(found, not_judged)


def _ranked(found: list[Finding], not_judged: dict[str, str]) -> list[Finding]:
    """The findings in PRIMARY_ORDER, the first marked primary and carrying what was not judged."""
    found.sort(key=lambda f: PRIMARY_ORDER.index(f.kind))
    for index, finding in enumerate(found):
        finding.details["primary"] = index == 0
        if index == 0 and not_judged:
            finding.details["not_judged"] = dict(not_judged)
    return found


def primary(findings: list[Finding]) -> Finding | None:
    """The primary image finding of a list check_frame made (or several merged with combine)."""
    return next((f for f in findings if f.details.get("primary")), findings[0] if findings else None)


def combine(first: list[Finding], more: list[Finding]) -> list[Finding]:
    """`first` with the findings of `more` whose kind it lacks (a recorded clip's, say), ranked again
    by PRIMARY_ORDER; what `first` could not judge stays listed unless `more` judged it."""
    seen = {f.kind for f in first}
    lead = primary(first)
    not_judged = dict(lead.details.get("not_judged", {})) if lead is not None else {}
    merged = [attrs.evolve(f, details={k: v for k, v in f.details.items() if k not in ("not_judged", "primary")})
              for f in [*first, *(f for f in more if f.kind not in seen)]]
    judged = {str(f.kind) for f in merged}
    return _ranked(merged, {k: v for k, v in not_judged.items() if k not in judged})


def _check_exposure(m: Metrics, limits: Mapping[str, float], add: Any) -> None:
    if m.mean < limits["dark_mean_min"]:
        add(K.TOO_DARK, m.mean, "dark_mean_min", N_("mean luminance {mean:.1f} is below {limit:g}", mean=m.mean, limit=limits["dark_mean_min"]))
    elif m.under_fraction > limits["dark_fraction_max"]:
        add(K.TOO_DARK, m.under_fraction, "dark_fraction_max",
            N_("{fraction:.0%} of the pixels are near black", fraction=m.under_fraction))
    if m.mean > limits["bright_mean_max"]:
        add(K.OVEREXPOSED, m.mean, "bright_mean_max",
            N_("mean luminance {mean:.1f} is above {limit:g}", mean=m.mean, limit=limits["bright_mean_max"]))
    elif m.over_fraction > limits["bright_fraction_max"]:
        add(K.OVEREXPOSED, m.over_fraction, "bright_fraction_max",
            N_("{fraction:.0%} of the pixels are blown out to white", fraction=m.over_fraction))


def _check_noise(m: Metrics, limits: Mapping[str, float], change: float | None, add: Any) -> None:
    """Noisy when the frame's own noise estimate says so and, if frames a moment apart are known,
    so does their difference: fine texture (grass, gravel) fools the first, motion the second."""
    if m.noise <= limits["noise_max"]:
        return
    temporal = None if change is None else change / TEMPORAL_NOISE_GAIN
    if temporal is not None and temporal <= limits["noise_max"]:
        return
    reason = (N_("noise sigma {noise:.1f} in the frame is above {limit:g}", noise=m.noise, limit=limits["noise_max"])
              if temporal is None else
              N_("noise sigma {noise:.1f} in the frame and {temporal:.1f} between frames is above {limit:g}",
                 noise=m.noise, temporal=temporal, limit=limits["noise_max"]))
    add(K.NOISY, m.noise, "noise_max", reason,
        temporal_sigma=None if temporal is None else round(temporal, 4))


def _check_blur(m: Metrics, limits: Mapping[str, float], scene: SceneComparison | None, add: Any) -> None:
    """Against the reference's edges when the view still is the reference's, else on its own; on
    the direction that lost the most either way, as motion blur leaves the edges along it sharp."""
    weakest = m.weakest_sharpness
    if scene is not None and scene.direction_ratio is not None:
        if scene.direction_ratio < limits["direction_ratio_min"]:
            add(K.BLURRED, scene.direction_ratio, "direction_ratio_min",
                N_("edges are {ratio:.0%} as sharp as in the reference: out of focus, a dirty lens or motion",
                   ratio=scene.direction_ratio),
                edge_sharpness=_rounded(m.edge_sharpness), weakest_sharpness=_rounded(weakest))
    elif weakest is not None:
        if weakest < limits["weakest_sharpness_min"]:
            add(K.BLURRED, weakest, "weakest_sharpness_min",
                N_("edge sharpness {sharpness:.2f} is below {limit:g}: out of focus, a dirty lens or motion",
                   sharpness=weakest, limit=limits["weakest_sharpness_min"]),
                direction_sharpness=[round(v, 4) for v in m.direction_sharpness or ()])
    elif m.detail < limits["detail_min"]:
        add(K.BLURRED, m.detail, "detail_min",
            N_("detail {detail:.1f} is below {limit:g} and no edge is left to judge: out of focus or a dirty lens",
               detail=m.detail, limit=limits["detail_min"]), sharpness=round(m.sharpness, 4))


def _check_cast(m: Metrics, limits: Mapping[str, float], scene: SceneComparison | None, add: Any,
                skip: Any, aligned_shift: float | None = None) -> None:
    """Against the reference's edge colours when the view still is the reference's, else the light's
    colour as grey-edge and white-patch agree on it (metrics.illuminant_cast)."""
    means = [round(v, 2) for v in m.channel_means or ()]
    if aligned_shift is not None:
        if aligned_shift > limits["cast_shift_max"]:
            add(K.COLOUR_CAST, aligned_shift, "cast_shift_max",
                N_("colour balance drifted from the reference by {shift:.2f}", shift=aligned_shift),
                channel_means=means, compared="the part of the view both frames show")
    elif scene is not None and scene.colour_shift is not None:
        if scene.colour_shift > limits["cast_shift_max"]:
            add(K.COLOUR_CAST, scene.colour_shift, "cast_shift_max",
                N_("colour balance drifted from the reference by {shift:.2f}", shift=scene.colour_shift), channel_means=means)
    elif m.illuminant_cast is None:
        skip((K.COLOUR_CAST,), "too little unclipped detail to judge colour")
    elif m.illuminant_cast > limits["cast_edge_max"]:
        add(K.COLOUR_CAST, m.illuminant_cast, "cast_edge_max",
            N_("edges and highlights are tinted alike: the light's channels differ by {cast:.2f} (log)",
               cast=m.illuminant_cast),
            channel_means=means, grey_edge_cast=_rounded(m.grey_edge_cast))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _check_scene(scene: SceneComparison, limits: Mapping[str, float], add: Any, skip: Any,
                 visible_min: float) -> bool:
    """Occluded, then moved; returns whether the view is lost (the reference no longer applies)."""
    if scene.judged_fraction < JUDGED_MIN:
        skip((K.OCCLUDED, K.MOVED), "too little of the reference's texture is visible to compare")
        return True
    # A blurred view loses its texture everywhere, which reads as cover: then only cells whose
    # brightness moved too count, as something at the lens moves it and blur does not.
    blurred = scene.sharpness_ratio is not None and scene.sharpness_ratio < limits["sharpness_ratio_min"]
    covered = scene.occluded_moved_fraction if blurred else scene.occluded_fraction
    matches = scene.scene_match >= limits["scene_match_min"]
    # What is left to compare, as a share of the reference's texture: clipping and cover both take.
    # Cells only count as lost to a cover when the cover is one even surface: a new view whose
    # texture is merely fainter than the reference's (grass for gravel) reads as flat against it
    # but keeps its structure from cell to cell, and is then a view to compare, not a cover.
    flat_cover = scene.cover_relief <= COVER_RELIEF_MAX
    few_visible = scene.visible_fraction * scene.judged_fraction < visible_min and flat_cover
    occluded = covered > limits["occluded_fraction_max"] and (matches or few_visible)
    if occluded:
        add(K.OCCLUDED, covered, "occluded_fraction_max",
            N_("{fraction:.0%} of the textured view is covered by one flat region: something blocks the lens",
               fraction=covered), flat_fraction=round(scene.flat_fraction, 4),
            scene_match=round(scene.scene_match, 4))
    if occluded and few_visible:
        # What the cover leaves is too little to measure a pan or a turn on: undoing a turn of
        # a few cells' worth of scene "restores" a match by chance (the turn search tries 26).
        skip((K.MOVED,), "too little of the view is visible to compare")
        return True
    # Occluders fool phase correlation into large shifts; a real pan is one that undoing restores.
    shifted = (scene.shift_response >= SHIFT_RESPONSE_MIN and scene.shift > limits["moved_shift_max"]
               and scene.aligned_match >= limits["scene_match_min"]
               and scene.aligned_match > scene.scene_match + ALIGNMENT_GAIN_MIN)
    if shifted:
        add(K.MOVED, scene.shift, "moved_shift_max",
            N_("view shifted by {shift:.1%} of the frame since commissioning", shift=scene.shift),
            shift_x=round(scene.shift_x, 4), shift_y=round(scene.shift_y, 4), mode="shifted")
        return True
    turned = (abs(scene.rotation) >= TURN_MIN_DEGREES and scene.turned_match >= limits["scene_match_min"]
              and scene.turned_match > scene.scene_match + ALIGNMENT_GAIN_MIN)
    if turned:
        add(K.MOVED, abs(scene.rotation), "scene_match_min",
            N_("view turned by {rotation:+.0f} degrees since commissioning ({match:.0%} of it matches as it is, "
               "{turned:.0%} once turned back)", rotation=scene.rotation, match=scene.scene_match,
               turned=scene.turned_match), mode="turned",
            scene_match=round(scene.scene_match, 4))
        return True
    if few_visible:
        skip((K.MOVED,), "too little of the view is visible to compare")
        return occluded
    if not matches:
        add(K.MOVED, scene.scene_match, "scene_match_min",
            N_("only {match:.0%} of the visible view matches the reference: camera turned or scene replaced",
               match=scene.scene_match),
            hash_distance=round(scene.hash_distance, 4), mode="replaced")
        return True
    # Once a cover is found, its soft edge's cells are no evidence of a new view.
    changed = scene.changed_clear_fraction if occluded else scene.changed_fraction
    if changed > limits["scene_changed_max"]:
        add(K.MOVED, changed, "scene_changed_max",
            N_("{fraction:.0%} of the textured view shows something else than the reference: "
               "camera re-aimed at a similar scene", fraction=changed), hash_distance=round(scene.hash_distance, 4), mode="replaced",
            scene_match=round(scene.scene_match, 4))
        return True
    return occluded

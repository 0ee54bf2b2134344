"""Image checks: the threshold table, site overrides, every fault reported, and the primary one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from watchkeeper.analysis.imagechecks import (
    PRIMARY_ORDER, PROFILES, THRESHOLDS, check_frame, combine, default_thresholds, primary, thresholds_for,
    validate_threshold_names,
)
from watchkeeper.analysis.metrics import AnalysisError, analyze_frame, frozen_score
from watchkeeper.analysis.scene import compare_to_reference
from watchkeeper.core.findings import FindingKind as K
from watchkeeper.core.findings import Severity
from watchkeeper.testing.degrade import blow_out, brighten, cast, exposure_to_mean, noise, occlude
from watchkeeper.testing.frames_dataset import COLOUR_PHOTOS, capture, shipped_photo, synthetic_scene, view_of


def live(view: np.ndarray, seed: int, sigma: float = 2.0) -> np.ndarray:
    """A snapshot of `view` with sensor noise of its own (two snapshots never match exactly)."""
    noisy = view.astype(np.float32) + np.random.default_rng(seed).normal(0, sigma, view.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def judge(frames: tuple[np.ndarray, np.ndarray], reference: np.ndarray | None = None, **kwargs):
    metrics = analyze_frame(frames[-1])
    scene = None if reference is None else compare_to_reference(metrics, analyze_frame(reference))
    return check_frame(metrics, subject="cam", scene=scene, frozen_score=frozen_score(*frames), **kwargs)


def kinds(findings) -> list[K]:
    return [f.kind for f in findings]


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return synthetic_scene(5)


@pytest.fixture(scope="module")
def scene(base) -> np.ndarray:
    return view_of(base)


@pytest.fixture(scope="module")
def reference(scene) -> np.ndarray:
    return live(scene, 100)


def test_every_profile_has_every_threshold() -> None:
    for profile in PROFILES:
        assert set(default_thresholds(profile)) == set(THRESHOLDS)
    assert default_thresholds("night")["dark_mean_min"] < default_thresholds("day")["dark_mean_min"]


def test_site_overrides_merge_over_defaults_for_their_profile_only() -> None:
    merged = thresholds_for("night", {"night": {"noise_max": 14}, "day": {"noise_max": 3}})
    assert merged["noise_max"] == 14.0
    assert merged["weakest_sharpness_min"] == THRESHOLDS["weakest_sharpness_min"].night


def test_unknown_threshold_names_are_refused_naming_the_key() -> None:
    problems = validate_threshold_names({"day": {"weakest_sharpnes_min": 5, "noise_max": "high"},
                                         "dusk": {"noise_max": 3}, "ir": {"moved_shift_max": 2}})
    assert "policies.thresholds.day.weakest_sharpnes_min: unknown threshold; did you mean weakest_sharpness_min?" in problems
    assert any(p.startswith("policies.thresholds.day.noise_max: must be a finite number") for p in problems)
    assert any(p.startswith("policies.thresholds.dusk: unknown profile") for p in problems)
    assert any(p.startswith("policies.thresholds.ir.moved_shift_max: 2 is out of range") for p in problems)
    with pytest.raises(ValueError, match="weakest_sharpnes_min"):
        thresholds_for("day", {"day": {"weakest_sharpnes_min": 5}})
    with pytest.raises(ValueError, match="unknown camera profile"):
        thresholds_for("dusk")
    assert validate_threshold_names({"day": {"noise_max": 9}}) == []


def test_retired_thresholds_say_what_replaced_them() -> None:
    # A site's old sharpness_min of 20 would mean nothing on the new measure: refuse it, say why.
    [problem] = validate_threshold_names({"day": {"sharpness_min": 20}})
    assert problem.startswith("policies.thresholds.day.sharpness_min: retired") and "weakest_sharpness_min" in problem
    # edge_sharpness_min bounded the isotropic measure, which motion blur fools; its values do not carry over.
    [problem] = validate_threshold_names({"day": {"edge_sharpness_min": 0.9}})
    assert problem.startswith("policies.thresholds.day.edge_sharpness_min: retired") and "weakest_sharpness_min" in problem
    [problem] = validate_threshold_names({"night": {"cast_max": 1.5}})
    assert "cast_edge_max" in problem


def test_clean_scene_has_no_finding(scene, reference) -> None:
    assert judge((live(scene, 1), live(scene, 2)), reference) == []
    assert judge((live(scene, 1), live(scene, 2))) == []


def test_finding_carries_measure_threshold_reason_and_primary(scene) -> None:
    dark = (scene * 0.1).astype(np.uint8)
    [finding] = check_frame(analyze_frame(dark), subject="cam7", channel=2)
    assert finding.kind is K.TOO_DARK and finding.severity is Severity.FAULT
    assert finding.subject == "cam7" and finding.channel == 2
    assert finding.measured < finding.threshold == THRESHOLDS["dark_mean_min"].day
    assert "below" in finding.reason and finding.details["threshold_name"] == "dark_mean_min"
    assert finding.details["primary"] is True
    # Blur and colour cannot be read through the exposure fault: said so, not silently skipped.
    assert set(finding.details["not_judged"]) >= {"blurred", "colour_cast", "occluded", "moved"}


def test_site_threshold_changes_the_verdict(scene) -> None:
    noisy = [np.clip(scene + np.random.default_rng(s).normal(0, 12, scene.shape), 0, 255).astype(np.uint8)
             for s in (1, 2)]
    assert kinds(judge(tuple(noisy))) == [K.NOISY]
    assert judge(tuple(noisy), thresholds=thresholds_for("day", {"day": {"noise_max": 30}})) == []


def test_no_signal_stands_alone_and_says_what_it_hides() -> None:
    blue = np.full((120, 160, 3), (200, 20, 10), np.uint8)
    [finding] = check_frame(analyze_frame(blue), subject="c", frozen_score=0.0)
    assert finding.kind is K.NO_SIGNAL and finding.details["primary"]
    assert set(finding.details["not_judged"]) == {str(k) for k in PRIMARY_ORDER} - {"no_signal", "overexposed"}


def test_a_live_black_picture_is_too_dark_not_no_signal(scene) -> None:
    # Flat enough to pass for a no-signal screen, but its frames change by sensor noise: a live camera.
    frames = tuple(live((scene * 0.03).astype(np.uint8), seed, sigma=1.2) for seed in (1, 2))
    assert analyze_frame(frames[1]).std <= THRESHOLDS["no_signal_std_max"].day
    assert kinds(judge(frames)) == [K.TOO_DARK]
    assert kinds(check_frame(analyze_frame(frames[1]), subject="c", frozen_score=0.0)) == [K.NO_SIGNAL]


def test_monochrome_ir_is_not_a_colour_cast(scene) -> None:
    gray = scene[..., 1]
    mono_bgr = np.repeat(gray[..., None], 3, axis=2)
    tinted = np.clip(mono_bgr * np.array([1.3, 0.8, 1.3]), 0, 255).astype(np.uint8)
    assert analyze_frame(mono_bgr).monochrome and analyze_frame(gray).monochrome
    for profile in ("day", "ir"):
        assert check_frame(analyze_frame(mono_bgr), subject="c", profile=profile) == []
    # A purple-tinted IR picture is what many IR cameras send: the ir profile never calls it a cast.
    assert check_frame(analyze_frame(tinted), subject="c", profile="ir") == []


def test_cast_against_reference_and_exposure_is_not_a_cast(scene, reference) -> None:
    rng = np.random.default_rng(0)
    warm = cast(scene, 0.35, rng)
    findings = judge((live(warm, 1), live(warm, 2)), reference)
    assert kinds(findings) == [K.COLOUR_CAST] and findings[0].details["threshold_name"] == "cast_shift_max"
    # A brighter or dimmer picture keeps its balance: gain and offset move every channel alike.
    dimmer = exposure_to_mean(scene, 70, rng)
    assert judge((live(dimmer, 1), live(dimmer, 2)), reference) == []


@pytest.mark.parametrize(("package", "name"), COLOUR_PHOTOS, ids=lambda v: Path(v).stem)
def test_no_reference_cast_is_calibrated_on_natural_photos(package, name) -> None:
    photo = view_of(cv2.imread(str(shipped_photo(package, name)), cv2.IMREAD_COLOR))
    rng = np.random.default_rng(3)
    # Honest photographs, brown coffee and orange cat included, raise nothing without a reference.
    assert judge((capture(photo, rng), capture(photo, rng))) == []
    # A strong white-balance fault is seen without one (weak ones need the reference: docs/analysis.md).
    tinted = cast(photo, 0.7, np.random.default_rng(1))
    assert K.COLOUR_CAST in kinds(judge((capture(tinted, rng), capture(tinted, rng))))


def test_saturated_shapes_are_not_a_cast_without_reference() -> None:
    # Scenes of saturated shapes over a neutral grating: where one colour carries most of the edges,
    # grey-edge alone read a cast on a clean picture (synthetic scene 6: 0.255 against 0.25). A
    # cast moves the highlights as it moves the edges; the shapes' colour moves only the edges.
    rng = np.random.default_rng(5)
    missed = 0
    for seed in range(1, 16):
        view = view_of(synthetic_scene(seed))
        assert judge((capture(view, rng), capture(view, rng))) == [], f"synthetic scene {seed}"
        for direction in range(3):
            tinted = cast(view, 0.5, np.random.default_rng(10 * seed + direction))
            missed += K.COLOUR_CAST not in kinds(judge((capture(tinted, rng), capture(tinted, rng))))
    # A strong cast is still seen on them, whichever way it turns (bar a cast that happens to cancel
    # a scene's own colour: those need the reference).
    assert missed <= 2


@pytest.mark.parametrize("seed", [0, 4, 6])
def test_a_lifted_dusk_view_is_not_a_cast_without_reference(seed) -> None:
    # A brighter exposure (a lift, then a gain) clips the white rocket, the dusk view's one neutral
    # surface: what is left of the edges is towers against the blue sky, which carry the sky's colour
    # (grey-edge alone read 0.30). The clipped rocket stays white in the highlights.
    rocket = view_of(cv2.imread(str(shipped_photo("skimage.data", "rocket.jpg")), cv2.IMREAD_COLOR))
    brighter = brighten(rocket, 0.02, np.random.default_rng(seed))
    rng = np.random.default_rng(9)
    assert judge((capture(brighter, rng), capture(brighter, rng))) == []


@pytest.mark.parametrize("pan", [(-0.05, -0.09), (0.05, -0.09)], ids=["left", "right"])
def test_a_panned_camera_keeps_its_balance(pan) -> None:
    # Panned up and aside, the dusk view shows more of its blue sky, which without a reference read
    # as a cast (0.27-0.38) beside moved. A pan keeps the white balance, and most of the view is
    # still the reference's once the shift is undone: the balance is judged there, a cast included.
    base = cv2.imread(str(shipped_photo("skimage.data", "rocket.jpg")), cv2.IMREAD_COLOR)
    rng = np.random.default_rng(4)
    reference = capture(view_of(base), rng)
    panned = view_of(base, *pan)
    assert kinds(judge((capture(panned, rng), capture(panned, rng)), reference)) == [K.MOVED]
    tinted = cast(panned, 0.35, np.random.default_rng(1))
    assert kinds(judge((capture(tinted, rng), capture(tinted, rng)), reference)) == [K.MOVED, K.COLOUR_CAST]


def test_frozen_needs_identical_frames(scene) -> None:
    frame = live(scene, 1)
    assert kinds(judge((frame, frame.copy()))) == [K.FROZEN]


def test_moved_and_darker_are_both_reported(base, reference) -> None:
    # The fault the issue found hidden: an exposure fault used to end the checks.
    moved = exposure_to_mean(view_of(base, dx=0.08), 20, np.random.default_rng(0))
    findings = judge((live(moved, 1), live(moved, 2)), reference)
    assert kinds(findings) == [K.MOVED, K.TOO_DARK]
    assert [f.details["primary"] for f in findings] == [True, False]
    assert "not_judged" not in findings[1].details


def test_occluded_and_overexposed_are_both_reported(scene, reference) -> None:
    rng = np.random.default_rng(4)
    covered = occlude(blow_out(scene, 0.35, rng), 0.4, rng)
    assert kinds(judge((live(covered, 1), live(covered, 2)), reference)) == [K.OCCLUDED, K.OVEREXPOSED]


@pytest.mark.parametrize("seed", range(4))
def test_partly_covered_lens_is_occluded_not_moved(scene, reference, seed) -> None:
    # Half the view behind something at the lens, the other half still the commissioned scene.
    covered = occlude(scene, 0.5, np.random.default_rng(seed))
    findings = judge((live(covered, 1), live(covered, 2)), reference)
    assert kinds(findings) == [K.OCCLUDED], [f.reason for f in findings]
    assert findings[0].measured > THRESHOLDS["occluded_fraction_max"].day


@pytest.mark.parametrize("angle", [-10, 6])
def test_turned_camera_is_moved(base, reference, angle) -> None:
    # A camera knocked round its axis: the centre still matches, so the cells alone are ambiguous.
    turned = view_of(base, angle=angle)
    [finding] = judge((live(turned, 1), live(turned, 2)), reference)
    assert finding.kind is K.MOVED and finding.details["mode"] == "turned"
    assert abs(finding.measured - abs(angle)) <= 2


@pytest.mark.parametrize("seed", [2, 3, 6, 7])
def test_a_new_view_with_the_same_layout_is_moved(seed) -> None:
    # The simulators' moved camera: same horizon, road lines and on-screen text, other objects. Most
    # cells still correlate; the objects' cells plainly do not.
    from watchkeeper.simulation.faults import ImageFault
    from watchkeeper.simulation.scenes import jpeg, render

    def snapshot(faults, tick):
        return cv2.imdecode(np.frombuffer(jpeg(render(seed, frozenset(faults), tick)), np.uint8), cv2.IMREAD_COLOR)

    reference = analyze_frame(snapshot((), 0))
    moved = analyze_frame(snapshot((ImageFault.MOVED,), 5))
    comparison = compare_to_reference(moved, reference)
    assert comparison.scene_match >= THRESHOLDS["scene_match_min"].day  # the layout alone would pass
    findings = check_frame(moved, subject="c", scene=comparison)
    assert kinds(findings) == [K.MOVED] and findings[0].details["threshold_name"] == "scene_changed_max"
    same = analyze_frame(snapshot((), 9))  # someone walked by and the clock moved on: not moved
    assert check_frame(same, subject="c", scene=compare_to_reference(same, reference)) == []


@pytest.mark.parametrize("seed", [1, 3, 8])
def test_a_defocused_view_is_blurred_not_occluded(seed) -> None:
    # Heavy blur flattens the texture of whole areas, as a cover would; it keeps their brightness.
    from watchkeeper.simulation.faults import ImageFault
    from watchkeeper.simulation.scenes import jpeg, render

    def snapshot(faults, tick):
        return cv2.imdecode(np.frombuffer(jpeg(render(seed, frozenset(faults), tick)), np.uint8), cv2.IMREAD_COLOR)

    reference = analyze_frame(snapshot((), 0))
    for fault, kind in ((ImageFault.BLUR, K.BLURRED), (ImageFault.OCCLUDED, K.OCCLUDED)):
        frame = analyze_frame(snapshot((fault,), 5))
        assert kinds(check_frame(frame, subject="c", scene=compare_to_reference(frame, reference))) == [kind]


def test_replaced_scene_is_moved_not_occluded(scene, reference) -> None:
    other = view_of(synthetic_scene(9))
    findings = judge((live(other, 1), live(other, 2)), reference)
    assert kinds(findings) == [K.MOVED] and findings[0].details["mode"] == "replaced"


@pytest.mark.parametrize("colour", [(40, 200, 40), (200, 60, 200)], ids=["green", "magenta"])
def test_a_small_coloured_object_is_no_colour_drift_on_a_plain_view(colour) -> None:
    # A lit sign or a passer-by's coat over 1.4 % of a dusk view: its strong edges used to outweigh
    # the plain sky's in the whole-frame sums and read as a white-balance drift. A drift moves every
    # region alike, so a cast over the same view is still found.
    rocket = view_of(cv2.imread(str(shipped_photo("skimage.data", "rocket.jpg")), cv2.IMREAD_COLOR))
    reference = live(rocket, 1)
    sign = rocket.copy()
    h, w = sign.shape[:2]
    cv2.rectangle(sign, (int(w * .70), int(h * .60)), (int(w * .82), int(h * .72)), colour, -1)
    assert judge((live(sign, 2), live(sign, 3)), reference) == []
    tinted = cast(sign, 0.3, np.random.default_rng(3))
    assert kinds(judge((live(tinted, 2), live(tinted, 3)), reference)) == [K.COLOUR_CAST]


def test_fine_texture_is_not_noise_when_the_frames_agree() -> None:
    grass = view_of(cv2.imread(str(shipped_photo("skimage.data", "grass.png")), cv2.IMREAD_GRAYSCALE))
    still = (live(grass, 1, sigma=1.5), live(grass, 2, sigma=1.5))
    # The frame alone reads the blades as noise; the two frames a moment apart say they are scenery.
    assert analyze_frame(still[1]).noise > THRESHOLDS["noise_max"].ir
    assert judge(still, profile="ir") == []
    rng = np.random.default_rng(5)
    grainy = tuple(noise(grass, 18.0, np.random.default_rng(6), rng) for _ in range(2))
    assert kinds(judge(grainy, profile="ir")) == [K.NOISY]


def test_combine_keeps_one_primary_in_the_documented_order(scene) -> None:
    live_findings = check_frame(analyze_frame((scene * 0.1).astype(np.uint8)), subject="c")
    clip = judge((live(view_of(synthetic_scene(9)), 1), live(view_of(synthetic_scene(9)), 2)), live(scene, 3))
    merged = combine(live_findings, clip + live_findings)
    assert kinds(merged) == [K.MOVED, K.TOO_DARK]
    assert [f.details["primary"] for f in merged] == [True, False]
    assert primary(merged).kind is K.MOVED and "moved" not in merged[0].details["not_judged"]
    assert combine([], []) == [] and primary([]) is None


def test_analysis_refuses_bad_input_clearly() -> None:
    for bad, message in [(np.zeros((0, 0, 3), np.uint8), "too small"), (np.zeros((1, 1), np.uint8), "too small"),
                         (np.zeros((20, 20), np.float64), "uint8"), ("not an image", "numpy array"),
                         (np.zeros((20, 20, 2), np.uint8), "shape")]:
        with pytest.raises(AnalysisError, match=message):
            analyze_frame(bad)


def test_docs_list_every_threshold_with_its_defaults() -> None:
    text = (Path(__file__).parents[2] / "docs" / "analysis.md").read_text()
    for name, spec in THRESHOLDS.items():
        assert f"| `{name}` | {spec.day:g} | {spec.night:g} | {spec.ir:g} |" in text, name
    assert " > ".join(f"`{k}`" for k in PRIMARY_ORDER) in text


def test_a_reference_stored_before_the_white_point_still_loads(scene) -> None:
    # Sites keep each reference's metrics in the store (baseline_metrics); those measured before
    # white_point and illuminant_cast existed lack them, and must still load for the workers.
    import json

    from watchkeeper.rules.inspection import reference_from, reference_payload

    metrics = analyze_frame(live(scene, 1))
    payload = json.loads(json.dumps(reference_payload(metrics)))
    assert reference_from(payload) == metrics
    for name in ("white_point", "edge_chroma", "illuminant_cast"):
        del payload["metrics"][name]
    old = reference_from(payload)
    assert old is not None and old.white_point is None and old.illuminant_cast is None
    assert compare_to_reference(metrics, old).colour_shift is not None

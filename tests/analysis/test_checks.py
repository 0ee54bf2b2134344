"""Image checks: the threshold table, site overrides, and the findings each rule produces."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.analysis.metrics import AnalysisError, analyze_frame, compare_to_reference, frozen_score
from watchkeeper.core.findings import FindingKind as K
from watchkeeper.core.findings import Severity
from watchkeeper.analysis.imagechecks import (
    PROFILES, THRESHOLDS, check_frame, default_thresholds, thresholds_for, validate_threshold_names,
)
from watchkeeper.testing.frames_dataset import synthetic_scene


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    rng = np.random.default_rng(3)
    base = synthetic_scene(5).astype(np.float32)
    return np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)


def test_every_profile_has_every_threshold() -> None:
    for profile in PROFILES:
        assert set(default_thresholds(profile)) == set(THRESHOLDS)
    assert default_thresholds("night")["dark_mean_min"] < default_thresholds("day")["dark_mean_min"]


def test_site_overrides_merge_over_defaults_for_their_profile_only() -> None:
    merged = thresholds_for("night", {"night": {"noise_max": 14}, "day": {"noise_max": 3}})
    assert merged["noise_max"] == 14.0
    assert merged["sharpness_min"] == THRESHOLDS["sharpness_min"].night


def test_unknown_threshold_names_are_refused_naming_the_key() -> None:
    problems = validate_threshold_names({"day": {"sharpnes_min": 5, "noise_max": "high"},
                                         "dusk": {"noise_max": 3}, "ir": {"moved_shift_max": 2}})
    assert "policies.thresholds.day.sharpnes_min: unknown threshold; did you mean sharpness_min?" in problems
    assert any(p.startswith("policies.thresholds.day.noise_max: must be a finite number") for p in problems)
    assert any(p.startswith("policies.thresholds.dusk: unknown profile") for p in problems)
    assert any(p.startswith("policies.thresholds.ir.moved_shift_max: 2 is out of range") for p in problems)
    with pytest.raises(ValueError, match="sharpnes_min"):
        thresholds_for("day", {"day": {"sharpnes_min": 5}})
    with pytest.raises(ValueError, match="unknown camera profile"):
        thresholds_for("dusk")
    assert validate_threshold_names({"day": {"noise_max": 9}}) == []


def test_clean_scene_has_no_finding(scene: np.ndarray) -> None:
    metrics = analyze_frame(scene)
    comparison = compare_to_reference(metrics, analyze_frame(scene))
    assert check_frame(metrics, subject="cam1", scene=comparison, frozen_score=2.0) == []


def test_finding_carries_measure_threshold_and_reason(scene: np.ndarray) -> None:
    dark = (scene * 0.1).astype(np.uint8)
    [finding] = check_frame(analyze_frame(dark), subject="cam7", channel=2)
    assert finding.kind is K.TOO_DARK and finding.severity is Severity.FAULT
    assert finding.subject == "cam7" and finding.channel == 2
    assert finding.measured < finding.threshold == THRESHOLDS["dark_mean_min"].day
    assert "below" in finding.reason and finding.details["threshold_name"] == "dark_mean_min"


def test_site_threshold_changes_the_verdict(scene: np.ndarray) -> None:
    noisy = np.clip(scene + np.random.default_rng(1).normal(0, 12, scene.shape), 0, 255).astype(np.uint8)
    metrics = analyze_frame(noisy)
    assert [f.kind for f in check_frame(metrics, subject="c")] == [K.NOISY]
    assert check_frame(metrics, subject="c", thresholds=thresholds_for("day", {"day": {"noise_max": 30}})) == []


def test_no_signal_stands_alone() -> None:
    blue = np.full((120, 160, 3), (200, 20, 10), np.uint8)
    findings = check_frame(analyze_frame(blue), subject="c", frozen_score=0.0)
    assert [f.kind for f in findings] == [K.NO_SIGNAL]


def test_monochrome_ir_is_not_a_colour_cast(scene: np.ndarray) -> None:
    gray = scene[..., 1]
    mono_bgr = np.repeat(gray[..., None], 3, axis=2)
    tinted = np.clip(mono_bgr * np.array([1.3, 0.8, 1.3]), 0, 255).astype(np.uint8)
    assert analyze_frame(mono_bgr).monochrome and analyze_frame(gray).monochrome
    for profile in ("day", "ir"):
        assert check_frame(analyze_frame(mono_bgr), subject="c", profile=profile) == []
    # A purple-tinted IR picture is what many IR cameras send: the ir profile never calls it a cast.
    assert check_frame(analyze_frame(tinted), subject="c", profile="ir") == []


def test_cast_against_reference(scene: np.ndarray) -> None:
    warm = np.clip(scene * np.array([0.7, 1.0, 1.3]), 0, 255).astype(np.uint8)
    metrics = analyze_frame(warm)
    findings = check_frame(metrics, subject="c", scene=compare_to_reference(metrics, analyze_frame(scene)))
    assert [f.kind for f in findings] == [K.COLOUR_CAST]
    assert findings[0].details["threshold_name"] == "cast_shift_max"


def test_frozen_needs_identical_frames(scene: np.ndarray) -> None:
    metrics = analyze_frame(scene)
    assert [f.kind for f in check_frame(metrics, subject="c", frozen_score=frozen_score(scene, scene))] == [K.FROZEN]


def test_analysis_refuses_bad_input_clearly() -> None:
    for bad, message in [(np.zeros((0, 0, 3), np.uint8), "too small"), (np.zeros((1, 1), np.uint8), "too small"),
                         (np.zeros((20, 20), np.float64), "uint8"), ("not an image", "numpy array"),
                         (np.zeros((20, 20, 2), np.uint8), "shape")]:
        with pytest.raises(AnalysisError, match=message):
            analyze_frame(bad)


def test_docs_list_every_threshold_with_its_defaults() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "analysis.md").read_text()
    for name, spec in THRESHOLDS.items():
        assert f"| `{name}` | {spec.day:g} | {spec.night:g} | {spec.ir:g} |" in text, name

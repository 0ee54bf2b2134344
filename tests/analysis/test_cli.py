"""`watchkeeper analyze` on real files: text and JSON reports, videos, and files it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli.analyze import SCHEMA_VERSION, analyze
from watchkeeper.testing.frames_dataset import synthetic_scene


def live(frame: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 2, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("frames")
    scene = synthetic_scene(4)
    paths = {name: root / f"{name}.png" for name in ("reference", "clean", "blurred", "tiny")}
    cv2.imwrite(str(paths["reference"]), live(scene, 1))
    cv2.imwrite(str(paths["clean"]), live(scene, 2))
    cv2.imwrite(str(paths["blurred"]), live(cv2.GaussianBlur(scene, (0, 0), 4), 3))
    cv2.imwrite(str(paths["tiny"]), np.zeros((1, 1, 3), np.uint8))
    whole = paths["clean"].read_bytes()
    paths["truncated"] = root / "truncated.png"
    paths["truncated"].write_bytes(whole[: len(whole) // 3])
    paths["empty"] = root / "empty.jpg"
    paths["empty"].write_bytes(b"")
    paths["text"] = root / "notes.png"
    paths["text"].write_text("this is not an image\n")
    for name, frozen in (("live", False), ("frozen", True)):
        paths[name] = root / f"{name}.avi"
        writer = cv2.VideoWriter(str(paths[name]), cv2.VideoWriter_fourcc(*"MJPG"), 10, scene.shape[1::-1])
        for index in range(25):
            # The frozen clip moves for its first second, then hangs.
            writer.write(live(scene, 9 if frozen and index >= 10 else index))
        writer.release()
    paths["broken-video"] = root / "broken.mp4"
    paths["broken-video"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    return paths


def run(*args: str):
    return CliRunner().invoke(analyze, [str(a) for a in args], catch_exceptions=False)


def test_clean_image_text_report(files) -> None:
    result = run(files["clean"], "--reference", files["reference"])
    assert result.exit_code == 0, result.output
    assert "findings: none" in result.output and "sharpness" in result.output


def test_json_report_schema(files) -> None:
    result = run(files["clean"], files["blurred"], "--reference", files["reference"], "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert set(report) == {"schema", "profile", "thresholds", "reference", "results"}
    assert report["schema"] == SCHEMA_VERSION and report["profile"] == "day"
    clean, blurred = report["results"]
    assert set(clean) == {"path", "type", "frames", "metrics", "scene", "frozen_score", "findings", "error"}
    assert set(clean["metrics"]) == {"width", "height", "channels", "mean", "std", "under_fraction",
                                     "over_fraction", "sharpness", "noise", "detail", "channel_means",
                                     "colour_cast", "monochrome", "edge_sharpness", "edge_gradients",
                                     "grey_edge_cast", "direction_sharpness", "white_point", "edge_chroma",
                                     "illuminant_cast"}
    assert set(clean["scene"]) == {"shift", "shift_x", "shift_y", "shift_response", "hash_distance",
                                   "occluded_fraction", "scene_match", "aligned_match", "colour_shift",
                                   "flat_fraction", "visible_fraction", "judged_fraction", "gain",
                                   "sharpness_ratio", "rotation", "turned_match",
                                   "changed_fraction", "occluded_moved_fraction", "cover_relief",
                                   "changed_clear_fraction", "direction_ratio", "aligned_colour_shift"}
    assert clean["findings"] == []
    [finding] = blurred["findings"]
    assert finding["kind"] == "blurred" and finding["severity"] == "fault" and finding["details"]["primary"]
    # Against the reference, blur is the edges' sharpness as a share of the reference's.
    assert finding["details"]["threshold_name"] == "direction_ratio_min"
    assert finding["threshold"] == report["thresholds"]["direction_ratio_min"]
    assert set(finding) >= {"kind", "severity", "subject", "reason", "measured", "threshold", "details", "clause"}


def test_threshold_override_and_profile(files) -> None:
    alone = json.loads(run(files["blurred"], "--profile", "night", "--json").output)["results"][0]
    assert [f["details"]["threshold_name"] for f in alone["findings"]] == ["weakest_sharpness_min"]
    result = run(files["blurred"], "--profile", "night", "--threshold", "weakest_sharpness_min=0", "--json")
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["profile"] == "night"
    assert report["thresholds"]["weakest_sharpness_min"] == 0
    bad = run(files["clean"], "--threshold", "weakest_sharpnes_min=3")
    assert bad.exit_code == 2 and "did you mean weakest_sharpness_min" in bad.output
    retired = run(files["clean"], "--threshold", "sharpness_min=3")
    assert retired.exit_code == 2 and "retired" in retired.output


def test_text_report_marks_the_primary_finding_and_what_was_not_judged(files, tmp_path) -> None:
    dark = tmp_path / "dark.png"
    cv2.imwrite(str(dark), (cv2.imread(str(files["clean"])) * 0.1).astype(np.uint8))
    result = run(dark, files["blurred"])
    assert result.exit_code == 1
    assert "not judged: blurred (the exposure fault distorts edges and colour)" in result.output


def test_video_frozen_across_sampled_frames(files) -> None:
    report = json.loads(run(files["live"], files["frozen"], "--spacing", "0", "--frames", "25", "--json").output)
    live_result, frozen_result = report["results"]
    assert live_result["type"] == "video" and live_result["frames"] == 25
    assert live_result["frozen_score"] > 0.5 and live_result["findings"] == []
    assert [f["kind"] for f in frozen_result["findings"]] == ["frozen"]


def test_video_sampled_a_second_apart(files) -> None:
    # 2.5 s at 10 fps: frames 0, 10 and 20; the frozen clip's last two are the same picture.
    report = json.loads(run(files["live"], files["frozen"], "--json").output)
    live_result, frozen_result = report["results"]
    assert live_result["frames"] == 3 and live_result["findings"] == []
    assert [f["kind"] for f in frozen_result["findings"]] == ["frozen"]
    short = json.loads(run(files["live"], "--spacing", "5", "--json").output)["results"][0]
    assert short["frames"] == 2  # shorter than one spacing: its first and last frames


@pytest.mark.parametrize(("name", "message"), [
    ("truncated", "not a readable image"), ("empty", "file is empty"), ("text", "not a readable image"),
    ("tiny", "too small"), ("broken-video", "not a readable video"),
])
def test_bad_files_are_reported_not_crashed(files, name, message) -> None:
    result = run(files[name], files["clean"], "--json")
    assert result.exit_code == 2
    bad, good = json.loads(result.output)["results"]
    assert message in bad["error"] and bad["metrics"] is None
    assert good["error"] is None


def test_missing_file_and_bad_reference(files, tmp_path) -> None:
    result = run(tmp_path / "nope.png")
    assert result.exit_code == 2 and "cannot read" in result.output
    result = run(files["clean"], "--reference", files["truncated"])
    assert result.exit_code == 2 and "--reference" in result.output

"""`watchkeeper analyze`: frame metrics and image-check findings for image and video files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from watchkeeper.analysis.imagechecks import PROFILES, THRESHOLDS, check_frame, thresholds_for
from watchkeeper.analysis.metrics import (
    AnalysisError, Metrics, analyze_frame, frozen_score, is_video, load_image, sample_video,
)
from watchkeeper.analysis.scene import compare_to_reference
from watchkeeper.core.i18n import _

#: Bumped only when a key of the --json output changes meaning or goes away (docs/analysis.md).
SCHEMA_VERSION = 3


def _parse_overrides(pairs: tuple[str, ...], profile: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        try:
            if not sep:
                raise ValueError
            values[name.strip()] = float(raw)
        except ValueError:
            raise click.BadParameter(f"{pair!r} is not NAME=NUMBER", param_hint="--threshold") from None
    try:
        return thresholds_for(profile, {profile: values})
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--threshold") from None


def _analyse_path(path: Path, reference: Metrics | None, profile: str, limits: dict[str, float],
                  frames: int, spacing: float) -> dict[str, Any]:
    result: dict[str, Any] = {"path": str(path), "type": "video" if is_video(path) else "image",
                              "frames": 0, "metrics": None, "scene": None, "frozen_score": None,
                              "findings": [], "error": None}
    try:
        if result["type"] == "video":
            sampled = list(sample_video(path, frames, spacing))
            scores = [frozen_score(a, b) for a, b in zip(sampled, sampled[1:])]
            # The smallest difference: samples a second apart that match mean the stream hung then,
            # even if it moved before (or the encoder coded its first frame differently).
            result["frozen_score"] = min(scores) if scores else None
        else:
            sampled = [load_image(path)]
        result["frames"] = len(sampled)
        metrics = analyze_frame(sampled[-1])
        scene = compare_to_reference(metrics, reference) if reference is not None else None
    except AnalysisError as error:
        result["error"] = str(error)
        return result
    findings = check_frame(metrics, subject=path.name, profile=profile, thresholds=limits,
                           scene=scene, frozen_score=result["frozen_score"])
    result["metrics"] = metrics.to_dict()
    result["scene"] = scene.to_dict() if scene is not None else None
    if result["frozen_score"] is not None:
        result["frozen_score"] = round(result["frozen_score"], 6)
    result["findings"] = [
        {key: value for key, value in finding.to_dict().items() if key != "observed_at"}
        for finding in findings
    ]
    return result


def _render_text(report: dict[str, Any]) -> str:
    lines = [f"profile: {report['profile']}"]
    if report["reference"]:
        lines.append(f"reference: {report['reference']['path']}")
    for result in report["results"]:
        lines.append("")
        lines.append(f"{result['path']} ({result['type']}, {result['frames']} frame(s))")
        if result["error"]:
            lines.append(f"  error: {result['error']}")
            continue
        for name, value in result["metrics"].items():
            lines.append(f"  {name:16s} {value}")
        for name, value in (result["scene"] or {}).items():
            lines.append(f"  {name:16s} {value}")
        if result["frozen_score"] is not None:
            lines.append(f"  {'frozen_score':16s} {result['frozen_score']}")
        if not result["findings"]:
            lines.append("  findings: none")
        for finding in result["findings"]:
            mark = _(" (primary)") if finding["details"].get("primary") and len(result["findings"]) > 1 else ""
            lines.append(f"  {finding['severity'].upper()} {finding['kind']}{mark}: {finding['reason']} "
                         f"[{finding['details']['threshold_name']}: measured {finding['measured']}, "
                         f"threshold {finding['threshold']}]")
            for kind, why in finding["details"].get("not_judged", {}).items():
                lines.append("  " + _("not judged: {kind} ({why})").format(kind=kind, why=why))
    return "\n".join(lines)


@click.command("analyze", help=_("Print metrics and findings for IMAGE or video files, as the daily image check would see them."))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path),
              help=_("The camera's reference frame from commissioning: enables moved, occluded and colour drift."))
@click.option("--profile", type=click.Choice(PROFILES), default="day", show_default=True,
              help=_("Camera profile whose thresholds apply."))
@click.option("--threshold", "overrides", multiple=True, metavar="NAME=VALUE",
              help=_("Override one threshold while tuning (repeatable). Names: {names}.").format(names=", ".join(THRESHOLDS)))
@click.option("--frames", type=click.IntRange(2, 1000), default=8, show_default=True,
              help=_("Frames sampled from each video for the frozen check."))
@click.option("--spacing", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              help=_("Seconds between sampled video frames (0: consecutive frames)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the stable JSON report (docs/analysis.md)."))
def analyze(paths: tuple[Path, ...], reference: Path | None, profile: str, overrides: tuple[str, ...],
            frames: int, spacing: float, as_json: bool) -> None:
    """Print metrics and findings for IMAGE or video files, as the daily image check would see them.

    Exit status: 0 no finding, 1 at least one finding, 2 a file could not be analysed.
    """
    limits = _parse_overrides(overrides, profile)
    reference_metrics = None
    report: dict[str, Any] = {"schema": SCHEMA_VERSION, "profile": profile, "thresholds": limits,
                              "reference": None, "results": []}
    if reference is not None:
        try:
            frame = next(iter(sample_video(reference, 2))) if is_video(reference) else load_image(reference)
            reference_metrics = analyze_frame(frame)
        except AnalysisError as error:
            raise click.BadParameter(str(error), param_hint="--reference") from None
        report["reference"] = {"path": str(reference), "metrics": reference_metrics.to_dict()}
    for path in paths:
        report["results"].append(_analyse_path(path, reference_metrics, profile, limits, frames, spacing))
    click.echo(json.dumps(report, indent=2) if as_json else _render_text(report))
    context = click.get_current_context()
    if any(result["error"] for result in report["results"]):
        context.exit(2)
    if any(result["findings"] for result in report["results"]):
        context.exit(1)

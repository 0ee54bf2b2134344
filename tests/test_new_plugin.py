"""`watchkeeper new-plugin`: the generated package installs, registers its platform and passes the kit as made."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli


def generate(tmp_path: Path, name: str) -> Path:
    result = CliRunner().invoke(make_cli(), ["new-plugin", name, "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return tmp_path / f"watchkeeper-{name.replace('_', '-')}"


@pytest.mark.slow
def test_generated_plugin_installs_and_passes_the_conformance_kit(tmp_path: Path) -> None:
    package = generate(tmp_path, "acme_cam")
    project = tomllib.loads((package / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["watchkeeper"] == {"acme_cam": "watchkeeper_acme_cam"}
    assert "watchkeeper[test]" in project["project"]["optional-dependencies"]["test"][0]
    assert (package / "docs" / "acme_cam.md").read_text().startswith("# Acme Cam (platform `acme_cam`)")

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(site))

    listed = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "plugins", "--json"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "acme_cam")
    assert row["version"] == "0.1.0" and row["hooks"] == ["register_catalogues", "register_platforms"]
    installed = site / "watchkeeper_acme_cam" / "locale" / "zh_CN" / "LC_MESSAGES"
    assert (installed / "watchkeeper_acme_cam.mo").is_file() and (installed / "watchkeeper_acme_cam.po").is_file()

    # src/ layout: the tests can import the plugin only from where pip installed it.
    kit = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], env=env,
                         capture_output=True, text=True, timeout=900, cwd=package)
    summary = kit.stdout.strip().splitlines()[-1] if kit.stdout.strip() else kit.stderr[-2000:]
    assert kit.returncode == 0, kit.stdout[-6000:] + kit.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed >= 40 and "failed" not in summary and "error" not in summary, summary


def test_bad_names_and_existing_folders_are_refused(tmp_path: Path) -> None:
    runner, cli = CliRunner(), make_cli()
    for name, message in (("Acme", "not a platform name"), ("a", "not a platform name"),
                          ("hikvision", "already installed")):
        result = runner.invoke(cli, ["new-plugin", name, "--directory", str(tmp_path)])
        assert result.exit_code == 2 and message in result.output, result.output
    generate(tmp_path, "acme")
    again = runner.invoke(cli, ["new-plugin", "acme", "--directory", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output

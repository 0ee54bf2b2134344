"""The host's layers import only downward: the import-linter contract in pyproject.toml is kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: import-linter's command, run by this interpreter (its console script may live elsewhere).
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"]


def test_layers_contract_is_kept() -> None:
    result = subprocess.run([*LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    """The contract is not vacuous: the same configuration names a deliberate upward import."""
    config = (ROOT / "pyproject.toml").read_text()
    package = tmp_path / "watchkeeper"
    layers = ["faces", "testing", "rules", "host", "site", "evidence", "analysis", "devices", "simulation", "core"]
    for layer in layers:
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "hookspecs.py").write_text("")
    (package / "core" / "models.py").write_text("from watchkeeper.faces import report\n")
    (package / "faces" / "report.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(config)
    result = subprocess.run([*LINT, "--no-cache"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1, result.stdout
    assert "watchkeeper.core.models -> watchkeeper.faces.report" in result.stdout

"""framework/ and plugins/ type-check under the mypy configuration in pyproject.toml (rules and drivers strictly)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_is_clean() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import typecheck
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    result = typecheck.run([])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_rules_and_drivers_must_be_annotated(tmp_path: Path) -> None:
    """The configuration is not vacuous: an unannotated rule or driver function fails the check."""
    for package in ("watchkeeper", "watchkeeper/rules", "watchkeeper/plugins", "watchkeeper/plugins/acme"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "watchkeeper/rules/loose.py").write_text("def tolerance(device):\n    return 30\n")
    (tmp_path / "watchkeeper/plugins/acme/driver.py").write_text(
        "async def snapshot(channel: int) -> bytes:\n    return channel\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                             "--no-incremental", "-p", "watchkeeper"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1, result.stdout
    assert "watchkeeper/rules/loose.py:1: error: Function is missing a type annotation" in result.stdout
    assert "watchkeeper/plugins/acme/driver.py:2: error: Incompatible return value type" in result.stdout


def test_the_kernel_stub_names_everything_the_compiled_kernel_offers() -> None:
    """framework/analysis/frames.pyi is how mypy sees the Cython kernel: a function added to frames.pyx and
    not to the stub would be unknown to every caller's type check."""
    import watchkeeper.analysis.frames as kernel

    stub = (ROOT / "framework" / "analysis" / "frames.pyi").read_text()
    public = [name for name in dir(kernel) if not name.startswith("_") and name != "np"
              and (callable(getattr(kernel, name)) or name.isupper())]
    missing = [name for name in public if f"def {name}(" not in stub and f"{name}:" not in stub]
    assert public and not missing, f"add to frames.pyi: {missing}"

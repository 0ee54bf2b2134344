"""Type-check framework/ and plugins/ as the package they install as: `python scripts/typecheck.py [mypy options]`.

The folders install as `watchkeeper` and `watchkeeper.plugins` through package-dir, which mypy cannot
follow, so the check runs on a tree of links laid out as the installed package (under the system's
temporary folder, kept between runs with mypy's cache). Paths in the output are the repository's.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_tree() -> Path:
    """`<tmp>/watchkeeper-typecheck-<repo>/watchkeeper/` → framework/'s entries and plugins/."""
    base = Path(tempfile.gettempdir()) / f"watchkeeper-typecheck-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]}"
    package = base / "src" / "watchkeeper"
    package.mkdir(parents=True, exist_ok=True)
    wanted = {child.name: child for child in (ROOT / "framework").iterdir() if child.name != "__pycache__"}
    wanted["plugins"] = ROOT / "plugins"
    for existing in package.iterdir():
        if existing.name not in wanted or existing.resolve() != wanted[existing.name]:
            existing.unlink()
    for name, target in wanted.items():
        link = package / name
        if not link.is_symlink():
            link.symlink_to(target)
    return base


def run(extra: list[str]) -> subprocess.CompletedProcess[str]:
    base = package_tree()
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
               "--cache-dir", str(base / "cache"), "-p", "watchkeeper", *extra]
    result = subprocess.run(command, cwd=base / "src", capture_output=True, text=True,
                            env=dict(os.environ, MYPYPATH=str(base / "src")))
    result.stdout = result.stdout.replace("watchkeeper/plugins/", "plugins/").replace("watchkeeper/", "framework/")
    return result


if __name__ == "__main__":
    outcome = run(sys.argv[1:])
    sys.stdout.write(outcome.stdout)
    sys.stderr.write(outcome.stderr)
    sys.exit(outcome.returncode)

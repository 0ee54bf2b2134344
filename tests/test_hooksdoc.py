"""docs/hooks.md is generated from the hook specs and must not go stale."""

from __future__ import annotations

import inspect
from pathlib import Path

from watchkeeper import hookspecs
from watchkeeper.host.hooksdoc import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def test_hooks_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/hooks.md is stale: run `python -m watchkeeper.host.hooksdoc > docs/hooks.md`")


def test_every_hook_is_documented_with_its_style() -> None:
    text = DOC.read_text(encoding="utf-8")
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "watchkeeper_spec")]
    assert len(specs) >= 13
    for name in specs:
        function = getattr(hookspecs, name)
        assert f"## `{name}`" in text
        assert "Style:" in function.__doc__ and ":param" in function.__doc__, f"{name} lacks style or params"

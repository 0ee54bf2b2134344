"""Renders docs/hooks.md from framework/hookspecs.py: `python -m watchkeeper.host.hooksdoc > docs/hooks.md`."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

from watchkeeper import PROJECT_NAME, hookspecs


def _specs() -> list[tuple[str, Callable[..., Any], dict[str, Any]]]:
    marker = f"{PROJECT_NAME}_spec"
    found: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        options = getattr(function, marker, None)
        if options is not None:
            found.append((name, function, options))
    # Source order, so the page reads registries, decisions, events as the module does.
    return sorted(found, key=lambda item: item[1].__code__.co_firstlineno)


def render() -> str:
    lines = [
        "# Hooks",
        "",
        "<!-- Generated from framework/hookspecs.py by `python -m watchkeeper.host.hooksdoc`; do not edit. -->",
        "",
        inspect.cleandoc(hookspecs.__doc__ or ""),
        "",
        "Implement a hook in a plugin module:",
        "",
        "```python",
        "from watchkeeper import hookimpl",
        "",
        "@hookimpl",
        "def clock_tolerance(device, site):",
        "    return 10.0 if device.startswith(\"vault-\") else None",
        "```",
        "",
    ]
    for name, function, options in _specs():
        signature = str(inspect.signature(function)).replace("'", "")
        style = "decision (firstresult)" if options.get("firstresult") else "collected"
        lines += [f"## `{name}`", "", "```python", f"def {name}{signature}", "```", "",
                  f"*Calling style:* {style}", "", inspect.cleandoc(function.__doc__ or ""), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

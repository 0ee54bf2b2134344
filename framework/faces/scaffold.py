"""`watchkeeper new-plugin NAME`: an installable vendor-plugin package that passes the conformance kit as made.

The package is rendered from `faces/plugin_template/`: a driver on the shared driver HTTP client, a
simulator on `watchkeeper.simulation`, the kit's tests, the entry point and a docs page.
"""

from __future__ import annotations

import string
from pathlib import Path

from watchkeeper import __version__
from watchkeeper.core.i18n import N_
from watchkeeper.devices.drivers import PLATFORM_NAME

TEMPLATE = Path(__file__).with_name("plugin_template")
SUFFIX = ".tmpl"


class ScaffoldError(Exception):
    """The name is not a platform name, or the package's folder already exists."""


def names_for(name: str) -> dict[str, str]:
    """Everything the template spells with the platform name: `acme_cam` → package, class, title."""
    if not PLATFORM_NAME.match(name):
        raise ScaffoldError(N_("{name!r} is not a platform name: 2-31 lowercase letters, digits or _, "
                               "starting with a letter", name=name))
    words = [word for word in name.split("_") if word]
    return {
        "name": name,
        "package": f"watchkeeper_{name}",
        "distribution": f"watchkeeper-{name.replace('_', '-')}",
        "title": " ".join(word.capitalize() for word in words),
        "cls": "".join(word.capitalize() for word in words),
        "upper": name.upper(),
        "watchkeeper_version": __version__,
    }


def _target(relative: Path, names: dict[str, str]) -> Path:
    parts = [names["package"] if part == "PACKAGE" else part for part in relative.parts]
    path = Path(*parts)
    if path.name.startswith("PACKAGE."):  # the package's own gettext domain: locale/.../PACKAGE.po
        path = path.with_name(names["package"] + path.name.removeprefix("PACKAGE"))
    if path.name == f"PLATFORM.md{SUFFIX}":
        path = path.with_name(f"{names['name']}.md{SUFFIX}")
    return path.with_name(path.name.removesuffix(SUFFIX))


def render_plugin(name: str, destination: Path) -> Path:
    """Write the package `watchkeeper-<name>/` under destination; returns its folder."""
    names = names_for(name)
    root = Path(destination) / names["distribution"]
    if root.exists():
        raise ScaffoldError(N_("{root} already exists; choose another name or folder", root=str(root)))
    for source in sorted(TEMPLATE.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(TEMPLATE)
        target = root / _target(relative, names)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.name.endswith(SUFFIX):
            target.write_text(string.Template(source.read_text(encoding="utf-8")).substitute(names), encoding="utf-8")
        else:
            target.write_bytes(source.read_bytes())
    return root

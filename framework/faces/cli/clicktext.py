"""click's own texts (Usage:, Options:, its errors) in the reader's language, through our catalogue.

click translates with the stdlib's `gettext` in the global "messages" domain, which follows LANGUAGE/
LANG and not WATCHKEEPER_LANG, and it binds `_`/`ngettext` into each of its modules at import. So we
rebind those names in click's modules to our translation function: one catalogue, one language
switch. `scripts/i18n.py` extracts click's msgids from the installed click (CLICK_MODULES), so a
click upgrade that adds a text makes `tests/test_i18n.py` ask for its translation.
"""

from __future__ import annotations

import importlib

import click

from watchkeeper.core.i18n import _

#: click's modules that call gettext (click 8.x).
CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui", "utils",
                 "shell_completion")


def _ngettext(singular: str, plural: str, count: int) -> str:
    # Chinese has one form; the catalogue holds both msgids (babel extracts them as a pair).
    return _(singular if count == 1 else plural)


class HelpFormatter(click.HelpFormatter):
    """click's formatter with its one untranslatable piece, the colon after a heading, translated."""

    def write_heading(self, heading: str) -> None:
        self.write(" " * self.current_indent + _("{heading}:").format(heading=heading) + "\n")


def install() -> None:
    """Route click's gettext calls through watchkeeper's catalogue (idempotent)."""
    click.Context.formatter_class = HelpFormatter
    for name in CLICK_MODULES:
        try:
            module = importlib.import_module(f"click.{name}")
        except ImportError:  # a click without this module has no texts in it
            continue
        if hasattr(module, "_"):
            module._ = _  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = _ngettext  # type: ignore[attr-defined]

"""Keep the translation catalogs current: `python scripts/i18n.py` extracts, merges and compiles.

Strings come from `_("...")` in framework/ and plugins/ and `t("...")` in the report template, plus the
clause titles and statuses the report translates at render time.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "framework" / "locale"
LANGUAGES = ("zh_CN",)
TEMPLATE_CALL = re.compile(r"""\bt\("((?:[^"\\]|\\.)*)"\)""")


def click_messages() -> set[str]:
    """click's own texts (watchkeeper.faces.cli.clicktext routes them through our catalogue)."""
    import click

    sys.path.insert(0, str(ROOT))
    from watchkeeper.faces.cli.clicktext import CLICK_MODULES

    found: set[str] = set()
    folder = Path(click.__file__).parent
    for name in CLICK_MODULES:
        if (folder / f"{name}.py").exists():
            for entry in extract_from_file("python", folder / f"{name}.py",
                                           keywords={"_": None, "ngettext": (1, 2)}):
                found |= {entry[1]} if isinstance(entry[1], str) else set(entry[1])
    # click translates one text through a variable: `_(extra["required"])`.
    return found | {"required"}


def messages() -> set[str]:
    found = set()
    for folder in ("framework", "plugins"):
        found |= {entry[2] for entry in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"_": None, "N_": None}) if isinstance(entry[2], str)}
    found |= click_messages()
    for template in (ROOT / "framework" / "faces" / "templates").rglob("*.html"):
        found |= set(TEMPLATE_CALL.findall(template.read_text(encoding="utf-8")))
    sys.path.insert(0, str(ROOT))
    from watchkeeper.faces.console.actions import ACTIONS
    from watchkeeper.faces.console.pages import VOCABULARY
    from watchkeeper.faces.report import CLAUSE_TITLES, PERIODS

    return (found | set(CLAUSE_TITLES.values()) | set(PERIODS) | {a.summary for a in ACTIONS} | set(VOCABULARY)
            | {"met", "not met", "no evidence", "not due", "ok", "warning", "fault"})


def update(language: str) -> tuple[int, int]:
    """Merge new strings into the language's .po (keeping translations) and compile the .mo."""
    folder = LOCALE / language / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    po_path = folder / "watchkeeper.po"
    old = read_po(po_path.open("rb")) if po_path.exists() else Catalog(locale=language)
    catalog = Catalog(locale=language, project="watchkeeper", charset="utf-8")
    for message in sorted(messages()):
        existing = old.get(message)
        catalog.add(message, existing.string if existing else "")
    with po_path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, sort_output=True)
    with (folder / "watchkeeper.mo").open("wb") as handle:
        write_mo(handle, catalog)
    missing = sum(1 for message in catalog if message.id and not message.string)
    return len(catalog), missing


def update_plugin_template(language: str) -> tuple[int, int]:
    """The catalogue `watchkeeper new-plugin` writes into a new package: the template's messages that
    watchkeeper's catalogue does not translate, kept in the template (domain PACKAGE, renamed when rendered)."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from watchkeeper.faces.scaffold import TEMPLATE, render_plugin
    from watchkeeper.testing.catalogues import update_catalogue

    with tempfile.TemporaryDirectory() as folder:
        package = render_plugin("example", Path(folder)) / "src" / "watchkeeper_example"
        total, missing = update_catalogue(package, "PACKAGE", TEMPLATE / "src" / "PACKAGE" / "locale", language)
    return total, len(missing)


if __name__ == "__main__":
    for language in LANGUAGES:
        total, missing = update(language)
        print(f"{language}: {total} messages, {missing} untranslated")
        total, missing = update_plugin_template(language)
        print(f"{language} (plugin template): {total} messages of its own, {missing} untranslated")

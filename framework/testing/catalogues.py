"""A plugin's own translations: extract its messages, keep its catalogue current, find what is untranslated.

A vendor plugin writes every reason and label with `_()` / `N_()` (docs/vendor-plugins.md,
"Translating your plugin"). What watchkeeper's own catalogue translates needs nothing more; the rest
goes in the plugin's catalogue, `<package>/locale/<language>/LC_MESSAGES/<package>.po`, compiled to the
`.mo` that the plugin registers through the `register_catalogues` hook. Uses babel (watchkeeper's
`test` extra, which the conformance kit needs anyway).
"""

from __future__ import annotations

import gettext
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from watchkeeper.core.i18n import DOMAIN, LOCALE_DIR

#: The languages watchkeeper speaks besides English; a plugin's catalogue covers the same.
LANGUAGES = ("zh_CN",)
#: The date written into every compiled catalogue, so compiling unchanged messages changes no file.
_STAMP = datetime(2026, 1, 1, tzinfo=timezone.utc)


def package_messages(source: Path) -> set[str]:
    """Every `_("...")` and `N_("...")` message in the Python files under `source`."""
    return {entry[2] for entry in extract_from_dir(source, method_map=[("**.py", "python")],
                                                     keywords={"_": None, "N_": None})
            if isinstance(entry[2], str)}


def watchkeeper_translates(message: str, language: str) -> bool:
    """Whether watchkeeper's own catalogue has `message` in `language` (looked up before any plugin's)."""
    own = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
    return own.gettext(message) != message


def catalogue_path(locale_dir: Path, domain: str, language: str) -> Path:
    return Path(locale_dir) / language / "LC_MESSAGES" / f"{domain}.po"


def update_catalogue(source: Path, domain: str, locale_dir: Path, language: str = "zh_CN") -> tuple[int, list[str]]:
    """Merge the messages under `source` that watchkeeper does not translate into the plugin's `.po`
    (keeping its translations, dropping messages no longer used) and compile the `.mo`.
    Returns (messages in the catalogue, those still untranslated)."""
    po_path = catalogue_path(locale_dir, domain, language)
    po_path.parent.mkdir(parents=True, exist_ok=True)
    old = read_po(po_path.open("rb")) if po_path.exists() else Catalog(locale=language)
    catalog = Catalog(locale=language, project=domain, charset="utf-8", creation_date=_STAMP, revision_date=_STAMP)
    for message in sorted(package_messages(source)):
        if not watchkeeper_translates(message, language):
            existing = old.get(message)
            catalog.add(message, existing.string if existing else "")
    with po_path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=True, sort_output=True)
    with po_path.with_suffix(".mo").open("wb") as handle:
        write_mo(handle, catalog)
    missing = [str(message.id) for message in catalog if message.id and not message.string]
    return sum(1 for message in catalog if message.id), missing


def untranslated(source: Path, domain: str, locale_dir: Path, language: str = "zh_CN") -> list[str]:
    """Messages under `source` that neither watchkeeper's catalogue nor the plugin's compiled one
    translates into `language`: what a reader of that language would get in English."""
    own = gettext.translation(domain, locale_dir, languages=[language], fallback=True)
    return sorted(message for message in package_messages(source)
                  if not watchkeeper_translates(message, language) and own.gettext(message) == message)

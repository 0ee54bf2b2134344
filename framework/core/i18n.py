"""One translation function for every user-facing string: English first, Simplified Chinese next."""

from __future__ import annotations

import gettext
import os
from functools import lru_cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent.parent / "locale"
DOMAIN = "watchkeeper"


@lru_cache(maxsize=8)
def _translation(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def current_language() -> str:
    """WATCHKEEPER_LANG wins over the usual LANGUAGE/LC_ALL/LANG; default English."""
    for variable in ("WATCHKEEPER_LANG", "LANGUAGE", "LC_ALL", "LANG"):
        value = os.environ.get(variable)
        if value:
            return value.split(":")[0].split(".")[0]
    return "en"


def _(message: str) -> str:
    """Translate a message into the current language (marks it for extraction too)."""
    return _translation(current_language()).gettext(message)

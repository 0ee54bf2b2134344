"""One translation function for every user-facing string: English first, Simplified Chinese next."""

from __future__ import annotations

import gettext
import os
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent.parent / "locale"
DOMAIN = "watchkeeper"
#: A language chosen for the work in hand (a web request's person), over the process's environment.
_chosen: ContextVar[str | None] = ContextVar("watchkeeper_language", default=None)


def choose_language(language: str | None) -> None:
    """Use `language` for this context only (an asyncio task, e.g. one web request); None: the environment's."""
    _chosen.set(language)


@lru_cache(maxsize=8)
def _translation(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def current_language() -> str:
    """A language chosen for this context, else WATCHKEEPER_LANG over the usual LANGUAGE/LC_ALL/LANG; default English."""
    if _chosen.get():
        return str(_chosen.get())
    for variable in ("WATCHKEEPER_LANG", "LANGUAGE", "LC_ALL", "LANG"):
        value = os.environ.get(variable)
        if value:
            return value.split(":")[0].split(".")[0]
    return "en"


def _(message: str) -> str:
    """Translate a message into the current language (marks it for extraction too)."""
    return _translation(current_language()).gettext(message)

"""One translation function for every user-facing string: English first, Simplified Chinese next."""

from __future__ import annotations

import gettext
import json
import os
from contextvars import ContextVar
from datetime import date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALE_DIR = Path(__file__).parent.parent / "locale"
DOMAIN = "watchkeeper"
#: A language chosen for the work in hand (a web request's person), over the process's environment.
_chosen: ContextVar[str | None] = ContextVar("watchkeeper_language", default=None)


def choose_language(language: str | None) -> None:
    """Use `language` for this context only (an asyncio task, e.g. one web request); None: the environment's."""
    _chosen.set(language)


#: Other catalogues (a plugin's own gettext domain and locale folder), consulted after watchkeeper's.
_catalogues: list[tuple[str, Path]] = []


def add_catalogue(domain: str, locale_dir: Path) -> None:
    """Look messages up in `domain`'s catalogue under `locale_dir` (`<dir>/zh_CN/LC_MESSAGES/<domain>.mo`)
    too, after watchkeeper's own: a plugin's reasons in its readers' language, while watchkeeper's
    terms (docs/glossary.md) stay the ones a plugin cannot override."""
    entry = (domain, Path(locale_dir))
    if entry not in _catalogues:
        _catalogues.append(entry)
        _translation.cache_clear()


def remove_catalogue(domain: str, locale_dir: Path) -> None:
    """Stop consulting a catalogue added with `add_catalogue` (a plugin manager closed, a test's own)."""
    entry = (domain, Path(locale_dir))
    if entry in _catalogues:
        _catalogues.remove(entry)
        _translation.cache_clear()


@lru_cache(maxsize=8)
def _translation(language: str) -> gettext.NullTranslations:
    found = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
    for domain, folder in _catalogues:
        found.add_fallback(gettext.translation(domain, folder, languages=[language], fallback=True))
    return found


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


class Text(str):
    """A message kept as msgid + params: as a str it is the English text (what the store keeps as
    evidence); `localize` renders it in the reader's language, whenever that reader comes along."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Text:
        text = super().__new__(cls, msgid.format(**{k: str(v) if isinstance(v, Text) else v
                                                    for k, v in params.items()}))
        text.msgid, text.params = msgid, params
        return text

    def to_json(self) -> dict[str, Any]:
        """The stored form: {"msgid": ..., "params": {...}}, nested Texts kept as such."""
        return {"msgid": self.msgid, "params": {k: v.to_json() if isinstance(v, Text) else v
                                                for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Text:
        params = {k: cls.from_json(v) if isinstance(v, dict) and "msgid" in v else v
                  for k, v in (data.get("params") or {}).items()}
        return cls(data["msgid"], **params)


def N_(msgid: str, /, **params: Any) -> Text:
    """Mark a message for translation without translating it now: a finding's reason is written in
    English and with its msgid and params, and read later in whatever language the reader uses."""
    return Text(msgid, **params)


def localize(value: Any) -> str:
    """A Text in the current language (params too); a plain string through the catalogue, if it is there."""
    if isinstance(value, Text):
        params = {k: localize(v) if isinstance(v, Text) else v for k, v in value.params.items()}
        try:
            return _(value.msgid).format(**params)
        except (KeyError, IndexError, ValueError):  # a translation with a broken placeholder: English, not a crash
            return str(value)
    return _(value) if isinstance(value, str) and value else str(value if value is not None else "")


def error_text(error: BaseException) -> str:
    """What an exception says, for a reason: the Text it was raised with (msgid and values, so the reader
    gets it in their language), else its English str. Put it in a reason as a value, not into an f-string."""
    first = error.args[0] if len(error.args) == 1 else None
    return first if isinstance(first, Text) else str(error)


def stored_text(text: str | None, stored: dict[str, Any] | str | None) -> str:
    """A stored message in the current language: `stored` is the msgid+params JSON kept next to the
    English `text` (rows written before it existed have none and show `text` through the catalogue)."""
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            stored = None
    if isinstance(stored, dict) and isinstance(stored.get("msgid"), str):
        try:
            return localize(Text.from_json(stored))
        except (KeyError, IndexError, ValueError, TypeError):
            pass
    return localize(text or "")


def chinese() -> bool:
    return current_language().startswith("zh")


_WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def format_date(value: date | datetime, weekday: bool = False) -> str:
    """A date as a reader of the current language writes it: 2026年11月30日 (星期一) or 2026-11-30 (Mon)."""
    day = value.date() if isinstance(value, datetime) else value
    if chinese():
        text = f"{day.year}年{day.month}月{day.day}日"
        return f"{text} {_WEEKDAYS_ZH[day.weekday()]}" if weekday else text
    return day.strftime("%a %Y-%m-%d") if weekday else day.isoformat()


def format_datetime(value: datetime | str | None, zone: tzinfo | None = None, weekday: bool = False) -> str:
    """A moment in the site's zone, to the minute: 2026年11月30日 14:05 or 2026-11-30 14:05 ("" for none)."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if zone is not None:
        moment = moment.astimezone(zone)
    return f"{format_date(moment, weekday)} {moment:%H:%M}"


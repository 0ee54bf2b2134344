"""The report shows each clause's wording as what it is: the project's statement of the clause (条款表述),
never a quotation of the regulation, whose own text was not found (docs/clauses.md)."""

from __future__ import annotations

import html
import re

import pytest

from watchkeeper.core.i18n import choose_language
from watchkeeper.faces.report import build_report
from watchkeeper.faces.report_render import render_html
from watchkeeper.site.regulation import REGULATION_QUOTES


def visible(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<style\b.*?</style>", "", page, flags=re.S)))


@pytest.mark.parametrize(("language", "label", "note"), [
    ("zh_CN", "条款表述：", "不是引用"),
    ("en", "Clause wording: ", "not a quotation"),
])
def test_wording_is_labelled_as_ours_not_quoted(app, language: str, label: str, note: str) -> None:
    choose_language(language)
    try:
        text = visible(render_html(build_report(app, "day"), app.site.zone))
    finally:
        choose_language(None)
    for clause, wording in REGULATION_QUOTES.items():
        shown = [wording.zh] if language == "zh_CN" else [wording.en, wording.zh]
        for words in shown:
            assert f"{label}{words}" in text, (clause, words)
            assert f"“{words}”" not in text and f"\"{words}\"" not in text, (clause, "shown as a quotation")
    assert "原文" not in text and "original" not in text.lower()
    assert note in text

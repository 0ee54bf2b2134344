"""The Chinese catalogue follows docs/glossary.md, and docs/clauses.md quotes the regulation as the report does."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from watchkeeper.site.regulation import REGULATION_QUOTES

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "framework" / "locale" / "zh_CN" / "LC_MESSAGES" / "watchkeeper.po"
#: ASCII punctuation that a Chinese sentence writes full-width: next to a Chinese character it is a slip.
HALF_WIDTH_NEXT_TO_HAN = re.compile(r"[\u4e00-\u9fff][,;:?!()]|[,;:?!(][\u4e00-\u9fff]|[\u4e00-\u9fff]\.(?:\s|$)"
                                    r'|[\u4e00-\u9fff]"|"[\u4e00-\u9fff]')


def forbidden_terms() -> dict[str, str]:
    """{term not to use: the term to use instead}, from the glossary's table."""
    terms = {}
    for line in (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("English", "") or set(cells[0]) <= {"-"}:
            continue
        for term in filter(None, (t.strip() for t in cells[2].split("、"))):
            terms[term] = cells[1]
    return terms


def test_glossary_has_the_regulation_terms() -> None:
    text = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    for term in ("监控室", "回放检查", "交接班", "调阅", "值班员", "值班日志", "录像", "保存期限", "北京时间",
                 "来访人员", "审批", "故障", "问题", "严重程度", "条款"):
        assert f"| {term} |" in text, term
    assert forbidden_terms()["巡检"] == "回放检查" and forbidden_terms()["机房"] == "监控室"


def test_catalogue_uses_no_term_the_glossary_forbids() -> None:
    terms = forbidden_terms()
    wrong = [(m.id, term, terms[term]) for m in read_po(CATALOG.open("rb")) if m.id and isinstance(m.string, str)
             for term in terms if term in m.string]
    assert not wrong, "\n".join(f"{msgid!r}: {term} → {use}" for msgid, term, use in wrong)


def test_catalogue_writes_full_width_punctuation() -> None:
    wrong = [(m.id, m.string) for m in read_po(CATALOG.open("rb")) if m.id and isinstance(m.string, str)
             and HALF_WIDTH_NEXT_TO_HAN.search(m.string)]
    assert not wrong, "\n".join(f"{msgid!r} → {string!r}" for msgid, string in wrong)


def test_clauses_doc_states_each_clause_as_the_report_does() -> None:
    text = (ROOT / "docs" / "clauses.md").read_text(encoding="utf-8")
    assert sorted(REGULATION_QUOTES, key=lambda c: int(c[1:])) == [f"R{n}" for n in range(1, 11)]
    for clause, quote in REGULATION_QUOTES.items():
        section = text.split(f"## {clause} ")[1].split("\n## ")[0]
        assert f"*条款表述：* {quote.zh}" in section, clause
        assert f"*Wording:* {quote.en}" in section.replace("\n", " "), clause

"""Printable registers (登记表): each form is printed through headless Chromium and read back from the PDF.

The store is filled through the site's own actions (visitor registration and approval, a retrieval
request and its approval, a handover, checklist ticks); inspection runs are written as the inspection
rule writes them (the rule needs cameras). The text pypdf extracts must hold the form's title, its
column headers, its signature lines, the data and the journal head the form was made from.
"""

from __future__ import annotations

import json
import re
import functools
import subprocess
import textwrap
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from fontTools.ttLib import TTCollection
from pypdf import PdfReader

from watchkeeper.faces import pdf
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.forms import FORM_KINDS, PeriodError, journal_head, parse_period, registers
from watchkeeper.faces.forms_render import write_form
from watchkeeper.host import open_site
from watchkeeper.rules import duty as duty_rule
from watchkeeper.rules import maintenance as maintenance_rule
from watchkeeper.rules.door_service import Access
from watchkeeper.rules.footage import Footage
from tests.logins import proven

pytestmark = pytest.mark.timeout(600)
CHROMIUM = pdf.find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (.ci/apt-packages installs it)")

SITE = """\
[site]
name = "东门大厦"
time_zone = "Asia/Shanghai"

[[cameras]]
id = "gate"
location = "东门"
purpose = "出入人员"
zone = "perimeter"
platform = "hikvision"
host = "127.0.0.1"
port = 1

[[people]]
id = "li"
name = "李伟"
roles = ["operator"]
trained_on = 2025-03-01

[[people]]
id = "wang"
name = "王芳"
roles = ["operator"]
trained_on = 2025-03-01

[[people]]
id = "zhang"
name = "张敏"
roles = ["supervisor"]

[[duty]]
shift = "08:00"
operators = ["li", "wang"]

[[duty]]
shift = "20:00"
operators = ["li", "wang"]
"""


@functools.lru_cache(maxsize=1)
def radicals() -> dict[int, int]:
    """{radical code point: ideograph} for the glyphs Noto Sans CJK SC shares between a radical and an
    ideograph: Chromium's PDF names such a glyph by its lowest code point (门 comes back as ⻔ U+2ED4)."""
    path = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC"], capture_output=True, text=True).stdout
    if not path.endswith((".ttc", ".otc")):
        return {}
    font = next(f for f in TTCollection(path, lazy=True).fonts if f["name"].getDebugName(1) == "Noto Sans CJK SC")
    glyphs: dict[str, list[int]] = {}
    for point, glyph in font.getBestCmap().items():
        glyphs.setdefault(glyph, []).append(point)
    return {point: unified[0] for points in glyphs.values()
            if (unified := [p for p in points if 0x3400 <= p <= 0x9FFF])
            for point in points if 0x2E80 <= point <= 0x2FDF}


def flat(text: str) -> str:
    """Text without whitespace, NFKC-normalised and radicals mapped back: letter-spaced titles and wrapped
    cells read as written, and the radicals (⼈ U+2F08, ⻔ U+2ED4) and ligatures (ﬁ) the PDF's text layer
    gives back compare equal to the characters that were printed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text.translate(radicals())))


def pdf_text(path: Path) -> str:
    return flat("".join(page.extract_text() or "" for page in PdfReader(path).pages))


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")


@pytest.fixture
def filled(tmp_path: Path):
    """A site whose store holds one of everything a register lists, all of it today."""
    (tmp_path / "site.toml").write_text(textwrap.dedent(SITE), encoding="utf-8")
    app = open_site(tmp_path / "site.toml")
    now = datetime.now(timezone.utc)
    access = Access(app)
    visitor = access.register_visitor("li", "王小明", "消防检查站", "年度消防检查", "zhang", now - timedelta(hours=1),
                                      now + timedelta(hours=2), "V-7", "")
    access.decide_visitor("zhang", visitor, approve=True)
    footage = Footage(app)
    request = footage.request("li", "gate", now - timedelta(hours=5), now - timedelta(hours=4), "车辆剐蹭", "案-2026-118")
    footage.decide("zhang", request, approve=True, note="同意调阅")
    handover = duty_rule.hand_over(app, "li", "wang", "东门摄像机画面偏暗")
    duty_rule.accept(app, "wang", handover, "已知悉")
    maintenance_rule.tick(app, "li", "wipe", "桌面已擦拭")
    app.store.db["inspection_runs"].insert({"started_at": now.isoformat(), "finished_at": now.isoformat(),
                                            "actor": "li", "cameras": 1, "ok": 0, "warning": 0, "fault": 1,
                                            "signed_by": "li", "signed_at": now.isoformat(), "note": "画面偏暗"})
    app.journal.append("operation", "li", "note", {"text": "交接班时东门画面偏暗"})
    yield app
    app.close()


#: For each form: data from the store it must print (besides title, headers and signature lines).
DATA = {"visitors": ["王小明", "消防检查站", "年度消防检查", "V-7" if False else "已批准"],
        "retrievals": ["车辆剐蹭", "案-2026-118", "同意调阅", "已批准"],
        "inspections": ["画面偏暗"], "handovers": ["东门摄像机画面偏暗", "已知悉"],
        "journal": ["交接班时东门画面偏暗", "已接班"], "room-care": ["桌面已擦拭", "每天擦拭桌面、操作台和屏幕（小擦）"]}


@needs_chromium
@pytest.mark.parametrize("kind", FORM_KINDS)
def test_each_form_prints_its_fields_signature_lines_data_and_journal_head(
        filled, chinese, tmp_path: Path, kind: str) -> None:
    register = registers()[kind]
    seq, digest = journal_head(filled)
    record = write_form(filled, register, parse_period("day", filled.site.zone), False, tmp_path / f"{kind}.pdf",
                        actor="li")
    text = pdf_text(tmp_path / f"{kind}.pdf")
    assert flat(register.title) in text
    for column in register.columns:
        assert flat(column.header) in text, column.header
    for label in register.signatures:
        assert flat(label) in text, label
    for value in DATA[kind]:
        assert flat(value) in text, value
    assert "东门大厦" in text
    assert f"第{seq}条" in text and digest[:32] in text  # the head, and how to find it
    assert "watchkeeperjournalheads--all" in text
    assert record["journal_head"] == {"seq": seq, "hash": digest}


@needs_chromium
def test_the_printing_is_journaled_with_the_pdfs_hash(filled, tmp_path: Path) -> None:
    import hashlib

    out = tmp_path / "visitors.pdf"
    seq, _digest = journal_head(filled)
    write_form(filled, registers()["visitors"], parse_period("day", filled.site.zone), False, out, actor="wang")
    entry = filled.store.conn.execute("SELECT seq, subject, body, actor FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    body = json.loads(entry[2])
    assert entry[0] == seq + 1 and entry[1] == "forms" and entry[3] == "wang"  # who printed it
    assert body["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert body["journal_head"]["seq"] == seq and body["form"] == "visitors"


@needs_chromium
@pytest.mark.parametrize("kind", ["visitors", "room-care"])
def test_a_blank_form_has_its_headers_and_signature_lines_and_no_data(filled, chinese, tmp_path: Path,
                                                                      kind: str) -> None:
    register = registers()[kind]
    write_form(filled, register, None, True, tmp_path / "blank.pdf", actor="li")
    text = pdf_text(tmp_path / "blank.pdf")
    assert flat(register.title) in text
    assert all(flat(label) in text for label in register.signatures)
    assert all(flat(column.header) in text for column in register.columns)
    assert not any(flat(value) in text for value in DATA[kind])
    assert len(PdfReader(tmp_path / "blank.pdf").pages) == 1


@needs_chromium
def test_the_forms_command_writes_the_pdf(filled, tmp_path: Path) -> None:
    filled.close()
    out = tmp_path / "handovers.pdf"
    result = CliRunner().invoke(make_cli(config=tmp_path / "site.toml"),
                                proven(["--config", str(tmp_path / "site.toml"), "forms", "handovers", "--period",
                                        "week", "--out", str(out), "--actor", "wang"]))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF") and "handovers.pdf" in result.output
    reopened = open_site(tmp_path / "site.toml")
    try:
        actor, subject = reopened.store.conn.execute("SELECT actor, subject FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        reopened.close()
    assert (actor, subject) == ("wang", "forms")  # the proven person who printed it, not the appliance


def test_printing_a_form_needs_a_proven_person(filled, tmp_path: Path) -> None:
    filled.close()
    out = tmp_path / "visitors.pdf"
    result = CliRunner().invoke(make_cli(config=tmp_path / "site.toml"),
                                ["--config", str(tmp_path / "site.toml"), "forms", "visitors", "--blank",
                                 "--out", str(out), "--actor", "wang"])
    assert result.exit_code != 0 and "must prove who they are" in result.output
    assert not out.exists()


def test_without_chromium_the_command_says_so_and_exits_3(filled, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    filled.close()
    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    result = CliRunner().invoke(make_cli(config=tmp_path / "site.toml"),
                                proven(["--config", str(tmp_path / "site.toml"), "forms", "visitors", "--blank",
                                        "--out", str(tmp_path / "x.pdf"), "--actor", "li"]))
    assert result.exit_code == 3 and "needs Chromium" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "x.pdf").exists()


def test_a_failing_chromium_is_an_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "find_chromium", lambda: "/bin/false")
    with pytest.raises(pdf.PdfError, match="failed to print"):
        pdf.html_to_pdf("<p>x</p>", tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize("text, first, last", [
    ("2026-11-28", "2026-11-28", "2026-11-28"), ("2026-11", "2026-11-01", "2026-11-30"),
    ("2026-02", "2026-02-01", "2026-02-28"), ("2026-11-01..2026-11-07", "2026-11-01", "2026-11-07")])
def test_periods_are_whole_site_days(text: str, first: str, last: str) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    period = parse_period(text, zone)
    assert period.start.astimezone(zone).isoformat().startswith(f"{first}T00:00")
    assert (period.end - timedelta(days=1)).astimezone(zone).date().isoformat() == last


@pytest.mark.parametrize("text", ["yesterday", "2026-13", "2026-11-07..2026-11-01", "2026-11-31"])
def test_a_bad_period_says_what_is_accepted(text: str) -> None:
    from zoneinfo import ZoneInfo

    with pytest.raises(PeriodError, match="2026-11-01..2026-11-30"):
        parse_period(text, ZoneInfo("Asia/Shanghai"))

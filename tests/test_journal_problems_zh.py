"""What is wrong with the journal is evidence in English and read in the reader's language: `journal
verify`, a refused append and the journal_tampered finding say it in Chinese under zh_CN."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.evidence.findingstore import reason_of
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.cli.common import os_account
from watchkeeper.host import open_site
from tests.test_journal_integrity import fill, truncate


def test_a_truncated_journal_is_named_in_chinese(site_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_file.write_text(site_file.read_text().replace('id = "li"\n', f'id = "li"\nos_user = "{os_account()}"\n'))
    fill(site_file)
    truncate(site_file, 9)
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    cli = make_cli(config=site_file)
    checked = CliRunner().invoke(cli, ["--config", str(site_file), "journal", "verify"])
    assert checked.exit_code == 1 and "第 10..12 条记录已被删除" in checked.output, checked.output
    assert "were deleted" not in checked.output
    added = CliRunner().invoke(cli, ["--config", str(site_file), "journal", "add", "--kind", "maintenance",
                                     "--text", "cover-up", "--actor", "li"])
    assert added.exit_code == 1 and "已被删除" in added.output and "deleted" not in added.output, added.output
    app = open_site(site_file)
    (finding,) = [row for row in app.store.db["findings"].rows_where("kind = 'journal_tampered'")]
    assert "were deleted" in finding["reason"]  # the evidence as written
    assert "已被删除" in reason_of(finding)
    assert json.loads(finding["details"])["reason_msg"]["msgid"].startswith("entries {first}..{last}")
    app.close()


async def test_journal_pages_read_bodies_in_the_readers_language(site_file: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's and the dashboard's journal pages show a body as labelled text, not its JSON."""
    from watchkeeper.faces.bodies import describe
    from tests.logins import logged_in

    app = open_site(site_file)
    app.journal.append("retrieval", "zhang", "request-7", {"decision": "approved", "note": "case checked"})
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    expected = describe({"decision": "approved", "note": "case checked"})
    assert "approved" not in expected and "case checked" in expected  # the label and value are Chinese
    async with logged_in(app, "li") as client:
        for path in ("/console/journal", "/journal"):
            page = await (await client.get(path, headers={"Accept-Language": "zh-CN"})).text()
            assert expected in html.unescape(page), path  # the labelled text, which the JSON never contains
    app.close()

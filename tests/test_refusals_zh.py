"""A refusal is journaled in English (the evidence) and read in the reader's language: the CLI and the
console say why in Chinese under zh_CN, whichever rule refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.core.i18n import localize
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.site.app import Refused
from tests.logins import proven


def refusal(app, actor: str, action: str) -> Refused:
    with pytest.raises(Refused) as raised:
        app.require(actor, action, "run-1")
    return raised.value


def test_a_policy_refusal_is_journaled_in_english_and_read_in_chinese(site_file: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_site(site_file)
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    roles = refusal(app, "li", "footage.approve")
    stranger = refusal(app, "nobody", "inspect.run")
    untrained = refusal(app, "new-op", "inspect.run")
    # The evidence stays as written, whatever the reader's language.
    assert str(roles.reason) == ("li may not footage.approve: 'li' has none of the roles allowed to "
                                 "footage.approve: supervisor (watchkeeper.rules.policy)")
    body = json.loads([entry for entry in app.journal.entries() if entry["actor"] == "li"][-1]["body"])
    assert body["reason"] == "'li' has none of the roles allowed to footage.approve: supervisor"
    assert localize(roles.reason) == ("li 无权执行 footage.approve：“li”没有可执行 footage.approve 的角色"
                                      "（允许的角色：supervisor）（watchkeeper.rules.policy）")
    assert "不是本站点的人员" in localize(stranger.reason)
    assert "值班员" in localize(untrained.reason) and "培训" in localize(untrained.reason)
    app.close()


def test_a_rule_refusal_reaches_the_cli_in_chinese(site_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    result = CliRunner().invoke(make_cli(config=site_file), proven(
        ["--config", str(site_file), "journal", "add", "--actor", "li", "--kind", "retrieval", "--subject", "x",
         "--text", "a note of a kind people do not write"]))
    assert result.exit_code == 1, result.output
    assert "由 watchkeeper 自动写入" in result.output and "written by" not in result.output

"""Journal bodies as a person reads them: reasons kept with their msgid (`reason_msg`) are read in the
reader's language, known keys and values through faces/bodies.py's table; old entries read as stored.

Also the report's charts, whose labels are drawn into the image (a scan of the HTML cannot see them)."""

from __future__ import annotations

import json
import textwrap
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.evidence.journal import encode_body
from watchkeeper.faces import charts
from watchkeeper.faces.bodies import BODY_KEYS, describe
from watchkeeper.host import open_site
from watchkeeper.rules import duty as duty_rule
from watchkeeper.rules.door_service import Access
from watchkeeper.site.app import Refused

SITE = """\
[site]
name = "x"
time_zone = "Asia/Shanghai"

[[people]]
id = "li"
name = "李伟"
roles = ["operator"]
trained_on = 2025-03-01

[[people]]
id = "zhang"
name = "张敏"
roles = ["supervisor"]

[[people]]
id = "wang"
name = "王芳"
roles = ["maintenance"]

[[duty]]
shift = "08:00"
operators = ["li"]

[[duty]]
shift = "20:00"
operators = ["li"]
"""


@pytest.fixture
def app(tmp_path: Path):
    (tmp_path / "site.toml").write_text(textwrap.dedent(SITE), encoding="utf-8")
    opened = open_site(tmp_path / "site.toml")
    yield opened
    opened.close()


def last_body(app) -> dict:
    return json.loads(app.store.conn.execute("SELECT body FROM journal ORDER BY seq DESC LIMIT 1").fetchone()[0])


def test_a_text_written_with_n_keeps_its_msgid_next_to_the_english(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.loads(encode_body({"refused": "x", "reason": N_("wrong password for '{id}'", id="li"),
                                   "findings": [{"reason": N_("no reason given")}]}))
    assert body["reason"] == "wrong password for 'li'"  # the English text stays the evidence
    assert body["reason_msg"] == {"msgid": "wrong password for '{id}'", "params": {"id": "li"}}
    assert body["findings"][0]["reason_msg"]["msgid"] == "no reason given"
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    assert "li" in describe(body) and "wrong" not in describe(body)


def test_a_refusal_is_journaled_with_its_msgid_and_read_in_the_readers_language(app, monkeypatch) -> None:
    with pytest.raises(Refused) as refused:
        duty_rule.set_roster(app, "zhang", datetime.now(app.site.zone).date(), "08:00", ["wang"])
    body = last_body(app)
    assert body["reason"] == "wang is neither an operator nor a supervisor" == str(refused.value)
    assert body["reason_msg"] == {"msgid": "{name} is neither an operator nor a supervisor",
                                  "params": {"name": "wang"}}
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    shown = describe(body)
    assert "wang" in shown and "neither" not in shown, shown


def test_an_access_decision_keeps_its_reason_msg_in_the_journal(app, monkeypatch) -> None:
    Access(app).log_event("room", None, None, None, "manual_open", True, N_("opened by {actor}", actor="li"), True,
                          person="li")
    body = last_body(app)
    assert body["reason"] == "opened by li" and body["reason_msg"]["msgid"] == "opened by {actor}"
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    shown = describe(body)
    assert "opened" not in shown and "manual" not in shown and "actuated" not in shown, shown


def test_a_checks_findings_are_journaled_with_their_reason_msg(monkeypatch) -> None:
    finding = Finding(FindingKind.CLOCK_OFFSET, "gate", N_("clock {offset:.1f} s ahead of {reference}",
                                                           offset=44.06, reference="ntp:x"), measured=44.06)
    body = json.loads(encode_body({"check": "clock", "findings": [finding.to_dict()]}))
    assert body["findings"][0]["reason"] == "clock 44.1 s ahead of ntp:x"
    assert body["findings"][0]["reason_msg"]["msgid"] == "clock {offset:.1f} s ahead of {reference}"
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    shown = describe(body)
    assert "gate" in shown and "44.1" in shown and "ahead" not in shown and "clock" not in shown, shown


def test_an_old_entry_without_reason_msg_reads_as_stored(monkeypatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    old = {"refused": "view", "reason": "storage: something only the old code said (HTTP 500)"}
    assert "storage: something only the old code said (HTTP 500)" in describe(old)
    # a stored reason that is itself a msgid is translated through the catalogue
    assert "no reason given" not in describe({"reason": "no reason given"})


def test_every_label_and_value_of_the_table_is_translated(monkeypatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    from watchkeeper.faces.bodies import label

    for key, entry in BODY_KEYS.items():
        assert label(entry.label) != str(entry.label).rpartition("|")[2] or key in ("clause",), key
        for value, text in entry.values.items():
            assert label(text) != str(text).rpartition("|")[2], (key, value)


def test_an_unknown_key_is_shown_as_written() -> None:
    assert describe({"my_plugin_key": "x"}) == "my_plugin_key: x"


def test_the_charts_labels_are_in_the_readers_language_and_drawable(monkeypatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    drawn = []
    real = charts._data_uri

    def keep(figure):
        drawn.append([text for axes in figure.axes for text in (axes.get_title(), axes.get_ylabel())])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
            return real(figure)

    monkeypatch.setattr(charts, "_data_uri", keep)
    zone = datetime.now().astimezone().tzinfo
    now = datetime.now(timezone.utc)
    assert charts.clock_chart([{"device": "gate", "time_utc": now.isoformat(), "offset_seconds": 3.0}], 30, zone)
    assert charts.coverage_chart(["gate"], [{"camera": "gate", "day": now.date().isoformat()}],
                                 [{"camera": "gate", "start_utc": (now - timedelta(hours=2)).isoformat(),
                                   "end_utc": (now - timedelta(hours=1)).isoformat()}],
                                 now - timedelta(days=1), now, zone)
    assert drawn[0] == ["各设备时钟偏差", "偏差（s）"] and drawn[1][0] == "录像覆盖（红色：缺失）"

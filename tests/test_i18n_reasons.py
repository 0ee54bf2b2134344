"""Reasons are stored as English text plus msgid+params and read in the reader's language; dates
and click's own texts follow the language too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from watchkeeper.core.findings import Finding, FindingKind, kind_title, severity_name
from watchkeeper.core.i18n import N_, Text, format_date, format_datetime, localize
from watchkeeper.evidence.findingstore import FindingStore, reason_of
from watchkeeper.evidence.store import Store


def test_a_reason_written_in_english_is_read_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "en")
    store = Store(tmp_path / "s.db")
    findings = FindingStore(store)
    reason = N_("clock {offset:.1f} s ahead of {reference}", offset=44.25, reference="ntp:pool")
    findings.record(Finding(FindingKind.CLOCK_OFFSET, "gate", reason))
    (row,) = findings.open_findings()
    # The evidence keeps the English text as it was written; the msgid and params sit beside it.
    assert row["reason"] == "clock 44.2 s ahead of ntp:pool"
    assert json.loads(row["details"])["reason_msg"] == {"msgid": "clock {offset:.1f} s ahead of {reference}",
                                                        "params": {"offset": 44.25, "reference": "ntp:pool"}}
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    assert reason_of(row) == "时钟比 ntp:pool 快 44.2 s"
    assert (kind_title(row["kind"]), severity_name(row["severity"])) == ("时钟偏离标准时间", "故障")
    # Seen again with new figures: the stored message follows, as the English text does.
    findings.record(Finding(FindingKind.CLOCK_OFFSET, "gate", N_("clock {offset:.1f} s behind {reference}",
                                                                  offset=3.0, reference="ntp:pool")))
    (row,) = findings.open_findings()
    assert row["reason"] == "clock 3.0 s behind ntp:pool" and reason_of(row) == "时钟比 ntp:pool 慢 3.0 s"
    store.close()


def test_nested_messages_and_old_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    text = N_("disk {disk} is {status} ({detail})", disk="hdd1", status=N_("unformatted"), detail=N_("no detail"))
    assert str(text) == "disk hdd1 is unformatted (no detail)"
    assert localize(Text.from_json(json.loads(json.dumps(text.to_json())))) == "硬盘 hdd1：未格式化（无详情）"
    # A row stored before reasons carried their msgid: shown through the catalogue if it is one, else as is.
    assert reason_of({"reason": "reader does not answer polls", "details": "{}"}) == "读卡器不响应轮询"
    assert reason_of({"reason": "clock 9.0 s behind x", "details": None}) == "clock 9.0 s behind x"


def test_dates_follow_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    moment = datetime(2026, 11, 30, 6, 5, tzinfo=timezone.utc)
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    assert format_date(date(2026, 11, 30), weekday=True) == "2026年11月30日 星期一"
    assert format_datetime(moment, ZoneInfo("Asia/Shanghai")) == "2026年11月30日 14:05"
    monkeypatch.setenv("WATCHKEEPER_LANG", "en")
    assert format_datetime(moment.isoformat(), ZoneInfo("Asia/Shanghai")) == "2026-11-30 14:05"


def test_clicks_own_texts_are_chinese() -> None:
    # A process of its own: click builds its --help option once per command and keeps it.
    def run(*args: str, language: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", *args], capture_output=True, text=True,
                              env={**os.environ, "WATCHKEEPER_LANG": language}, timeout=120)

    shown = run("door", "--help", language="zh_CN").stdout
    assert shown.startswith("用法：") and "选项：" in shown and "显示本帮助并退出。" in shown and "命令：" in shown
    wrong = run("demo", "--cameras", "-1", language="zh_CN")
    assert wrong.returncode == 2 and "错误：" in wrong.stderr and "不在范围" in wrong.stderr, wrong.stderr
    assert "Usage" not in shown + wrong.stderr and "Error" not in wrong.stderr
    assert run("door", "--help", language="en").stdout.startswith("Usage:")


def test_a_reason_crosses_to_the_appliance_with_its_msgid(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker sends findings as JSON; the appliance records them with the reason's msgid intact."""
    from watchkeeper.rules.workers import dumps, finding_from, loads

    sent = Finding(FindingKind.TOO_DARK, "stairs", N_("mean luminance {mean:.1f} is below {limit:g}", mean=9.5, limit=35))
    received = finding_from(loads(dumps(sent.to_dict())))
    assert isinstance(received.reason, Text) and str(received.reason) == "mean luminance 9.5 is below 35"
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    assert localize(received.reason) == "平均亮度 9.5 低于 35"

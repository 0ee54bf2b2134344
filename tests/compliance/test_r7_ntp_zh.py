"""R7: an NTP server that gives no time is told in our own words, in the reader's language (no answer,
a broken reply, a name that does not resolve); ntplib's and the system's English stay the evidence."""

from __future__ import annotations

import html
import json
import re

import watchkeeper.rules.clock as clock_rule
from watchkeeper.core.i18n import choose_language
from watchkeeper.faces.bodies import describe
from watchkeeper.faces.report import build_report
from watchkeeper.faces.report_render import render_html
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.ntp import SntpServer

UNRESOLVABLE = "ntp.nosuch.invalid"


def visible(page: str) -> str:
    """What a reader sees: tags (and the English detail kept in a cell's title) dropped."""
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style\b.*?</style>", " ", page, flags=re.S)))


async def test_ntp_failures_read_in_chinese_with_the_english_detail_kept(cameras, monkeypatch) -> None:
    monkeypatch.setattr(clock_rule, "NTP_TIMEOUT", 0.3)
    with SntpServer() as silent, SntpServer() as broken:
        silent.silent, broken.garbled = True, True
        app, _devices = await cameras(1, f'ntp_servers = ["{silent.address}", "{broken.address}", '
                                         f'"{UNRESOLVABLE}"]\n')
        await run_check(app, collect_checks(app.pm)["clock"])
    # the evidence: ntplib's and the resolver's own words, and our reason next to them
    rows = {row["server"]: row for row in app.store.db["reference_readings"].rows}
    assert "No response received" in rows[silent.address]["error"]
    assert "Invalid NTP packet" in rows[broken.address]["error"]
    assert rows[UNRESOLVABLE]["error"].startswith("gaierror")
    assert rows[silent.address]["reason"] == "no answer within 0.3 s"
    body = json.loads(list(app.journal.entries("clock"))[-1]["body"])
    assert "No response received" in body["servers"][silent.address]["detail"]

    choose_language("zh_CN")
    try:
        line = describe(body)
        page = visible(render_html(build_report(app, "day"), app.site.zone))
    finally:
        choose_language(None)
    for shown in (line, page):
        assert "0.3 秒内无应答" in shown and "回复不是有效的 NTP 应答" in shown, shown
        assert f"无法解析域名 {UNRESOLVABLE}" in shown, shown
        assert "主机时钟（没有 NTP 服务器应答）" in shown, shown
        assert not re.search(r"No response|Invalid NTP|gaierror|Name or service|host clock", shown), shown

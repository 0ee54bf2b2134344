"""Tables the CLI prints line up in Chinese too: columns are padded by terminal columns (a Chinese
character takes two), through one helper, `core.textwidth`, not by counting characters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.core.textwidth import cut, fit, ljust, rjust, width
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


def cells(line: str) -> list[str]:
    """A line as the terminal shows it: one cell per column, "" filling the second half of a wide character."""
    out: list[str] = []
    for char in line:
        out += [char] + [""] * (width(char) - 1)
    return out


def test_width_counts_terminal_columns() -> None:
    assert width("监控室") == 6 and width("door") == 4 and width("（值班）") == 8
    assert width("e\u0301") == 1  # a combining accent takes no column
    assert ljust("监控室", 8) == "监控室  " and rjust("运行", 6) == "  运行" and rjust(12, 4) == "  12"
    assert ljust("监控室门禁", 4) == "监控室门禁"  # padding never cuts
    assert cut("监控室门禁", 5, "…") == "监控…" and width(cut("监控室门禁", 5, "…")) == 5
    assert cut("监控室", 5) == "监控"  # a wide character is not split in half
    assert fit("a监控", 4) == "a监 " and width(fit("监", 3)) == 3


def test_journal_show_lines_up_in_chinese(site_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_site(site_file)
    app.journal.append("maintenance", "li", "监控室门", {"text": "擦拭镜头，清理机柜灰尘"})
    app.journal.append("operation", "zhang", "site", {"text": "交接班"})
    app.journal.append("inspection", "li", "大门摄像机", {"text": "回放检查正常"})
    app.close()
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    shown = CliRunner().invoke(make_cli(config=site_file), ["--config", str(site_file), "journal", "show"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    ruler = next(line for line in lines if line.startswith("-") or line.lstrip().startswith("--"))
    # the gaps between the ruler's runs of dashes are where every row must have spaces
    gaps = [i for i, cell in enumerate(cells(ruler)) if cell == " "]
    assert len(gaps) >= 2 * 5 and re.search(r"[\u4e00-\u9fff]", shown.output), shown.output
    for line in lines:
        row = cells(line)
        assert all(row[i] == " " for i in gaps if i < len(row)), f"misaligned:\n{ruler}\n{line}"


DOOR_SITE = """\
[site]
name = "门禁"
time_zone = "Asia/Shanghai"
store = "state/watchkeeper.db"
journal_key = "state/journal.key"
[[doors]]
id = "room"
platform = "osdp"
host = "127.0.0.1"
port = {port}
scbk = "00112233445566778899aabbccddeeff"
"""


def test_door_status_labels_line_up_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.toml"
    site.write_text(DOOR_SITE.format(port=free_port()), encoding="utf-8")
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    shown = CliRunner().invoke(make_cli(config=site), ["--config", str(site), "door", "status", "room"])
    assert shown.exit_code == 1, shown.output  # an unreachable reader is a finding
    lines = [line for line in shown.output.splitlines() if "：" in line]
    assert len(lines) >= 4, shown.output
    columns = {width(line[:line.index("：")]) for line in lines}
    assert len(columns) == 1, shown.output


#: Python's own padding counts characters: f"{x:<12}", f"{x:>{n}}", str.ljust/rjust/center.
CHARACTER_PADDING = re.compile(r"\{[^{}\n]*:[^{}\n]?[<>^](?:\d+|\{)[^{}\n]*\}|\.(?:ljust|rjust|center)\((?![^)\n]*b\")")


def test_no_padding_by_character_count() -> None:
    """Every column the CLI pads goes through core.textwidth: a new table cannot misalign Chinese."""
    found = []
    for folder in ("framework/faces", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if CHARACTER_PADDING.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "pad with watchkeeper.core.textwidth (ljust/rjust/fit):\n" + "\n".join(found)

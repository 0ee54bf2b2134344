"""Every user-facing string is in the Chinese catalog, translated, and the compiled catalog is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "framework" / "locale" / "zh_CN" / "LC_MESSAGES"


def load_script():
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalog_has_every_message_translated() -> None:
    po = read_po((CATALOG / "watchkeeper.po").open("rb"))
    ids = {m.id for m in po if m.id}
    missing = load_script().messages() - ids
    assert not missing, f"run `python scripts/i18n.py`; new strings: {sorted(missing)[:5]}"
    assert not [m.id for m in po if m.id and not m.string], "untranslated strings in zh_CN"
    mo = read_mo((CATALOG / "watchkeeper.mo").open("rb"))
    assert {m.id: m.string for m in mo if m.id} == {m.id: m.string for m in po if m.id}, "stale .mo"


def test_cli_speaks_chinese(monkeypatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    result = CliRunner().invoke(make_cli(), ["--help"])
    assert "每天自动执行站点的录像管理制度" in result.output

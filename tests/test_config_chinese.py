"""A sector preset's config problems read in Chinese: an unknown preset, and a retention written
below the preset's floor (a warning: allowed, but said)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_chinese_output import ALLOWED, english_runs
from tests.test_presets import site_text, write
from watchkeeper.site.config import ConfigError, load_site
from watchkeeper.site.presets import PRESETS

#: What the config itself says: its keys, the presets' names and the camera's own words.
CONFIG_WORDS = ALLOWED | {word for name in PRESETS for word in name.split("-")} | {"casino", "Lobby", "Preset"}


def test_a_retention_below_the_presets_floor_is_warned_in_chinese(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    monkeypatch.setenv("WK_SIM_PASSWORD", "sim-Pass-2026")
    site = load_site(write(tmp_path, site_text('preset = "key-target"\nretention_days = 45\naccess_retention_days = 10\n')),
                     platforms=None)
    warnings = [w for w in site.warnings if "retention_days" in w]
    assert len(warnings) == 2 and all("低于" in w and "天" in w for w in warnings), site.warnings
    assert any("policies.retention_days = 45" in w and "90" in w for w in warnings), warnings
    assert not [run for w in warnings for run in english_runs(w, CONFIG_WORDS)], warnings


def test_an_unknown_preset_is_said_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    with pytest.raises(ConfigError) as caught:
        load_site(write(tmp_path, site_text('preset = "casino"\n')), platforms=None)
    line = next(line for line in caught.value.render().splitlines() if "policies.preset" in line)
    assert "未知预设" in line and all(name in line for name in PRESETS), line
    assert not english_runs(line.replace(str(tmp_path), ""), CONFIG_WORDS), line

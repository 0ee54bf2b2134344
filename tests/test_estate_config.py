"""`estate.toml` is documented where every config key is (docs/config.md), each number with its range, and the
loader, the ranges table (site.limits.ESTATE_NUMBER_RANGES) and the docs stay in step."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from watchkeeper.faces.estate.config import EstateConfig, load_estate
from watchkeeper.site import configcheck
from watchkeeper.site.config import ConfigError
from watchkeeper.site.identityconfig import IdentityConfig
from watchkeeper.site.limits import ESTATE_NUMBER_RANGES, NUMBER_RANGES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"
HEADING = "## The estate's config (`estate.toml`)"


def estate_section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    assert HEADING in text, f"docs/config.md has no section {HEADING}"
    return text.split(HEADING, 1)[1].split("\n## ", 1)[0]


def subsection(title: str) -> str:
    parts = estate_section().split(f"\n### `[{title}]`", 1)
    assert len(parts) == 2, f"docs/config.md's estate section has no ### `[{title}]`"
    return parts[1].split("\n### ", 1)[0]


def keys_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    """Every (table, key) the loader asks of an estate.toml: what it accepts, read from the loader itself."""
    asked: set[tuple[str, str]] = set()
    original = configcheck.Table.get

    def recording(self: configcheck.Table, key: str, *args: object, **kwargs: object) -> object:
        asked.add((self.path, key))
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(configcheck.Table, "get", recording)
    path = tmp_path / "estate.toml"
    path.write_text('[estate]\nname = "District"\n', encoding="utf-8")
    load_estate(path)
    return asked


def test_every_key_of_estate_toml_is_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = keys_read(tmp_path, monkeypatch)
    tables = {table for table, _key in asked if table}
    assert tables == {"estate", "identity", "tls"} and {("", t) for t in tables} <= asked
    for table, key in sorted(asked):
        if table:
            assert f"\n| `{key}` |" in subsection(table), f"docs/config.md does not document estate.toml's {table}.{key}"


def test_every_number_in_estate_toml_has_a_documented_range() -> None:
    numeric = {f"estate.{f.name}" for f in attrs.fields(EstateConfig) if f.type in ("int", "float", "int | None",
                                                                                    "float | None")}
    numeric |= {f"identity.{f.name}" for f in attrs.fields(IdentityConfig)}
    ranges = {**ESTATE_NUMBER_RANGES, **{k: v for k, v in NUMBER_RANGES.items() if k.startswith("identity.")}}
    assert numeric and numeric == set(ranges)
    rows = estate_section().split("\n### Numbers and their ranges", 1)[1].split("\n### ", 1)[0].splitlines()
    for key, limit in ranges.items():
        row = next((line for line in rows if line.startswith(f"| `{key}` |")), None)
        assert row is not None and limit.text() in row, f"docs/config.md's estate.toml ranges have no row for {key}"


@pytest.mark.parametrize(("text", "where", "reason"), [
    ("stale_minutes = 0", "estate.stale_minutes", "must be from 1 to 10080, not 0"),
    ("stale_minutes = 10081", "estate.stale_minutes", "must be from 1 to 10080"),
    ("port = 70000", "estate.port", "must be from 1 to 65535, not 70000"),
    ("port = 0", "estate.port", "must be from 1 to 65535"),
    ("stale_minutes = 30\n[identity]\nlockout_attempts = 0", "identity.lockout_attempts", "must be from 1 to 100"),
])
def test_a_number_out_of_its_range_names_the_key(tmp_path: Path, text: str, where: str, reason: str) -> None:
    path = tmp_path / "estate.toml"
    path.write_text(f'[estate]\nname = "District"\n{text}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_estate(path)
    assert [(p.path, p.reason) for p in caught.value.problems if p.path == where and reason in p.reason], \
        caught.value.render()


def test_estate_config_problems_read_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    monkeypatch.setenv("WK_URL", "mysql://x")
    path = tmp_path / "estate.toml"
    path.write_text('[estate]\nstale_minutes = 0\ndatabase_url = "env:WK_URL"\n[tls]\ncert = "missing.pem"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_estate(path)
    shown = caught.value.render()
    assert "estate.stale_minutes" in shown and "estate.database_url" in shown and "tls.cert" in shown
    for english in ("must be", "go together", "does not exist", "postgresql:// URL"):
        assert english not in shown, shown

"""Shared fixtures: a minimal valid site config in a temporary folder, and an opened App."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from watchkeeper.host import open_site
from watchkeeper.site.app import App

SITE = """\
[site]
name = "Test site"
time_zone = "Asia/Shanghai"
store = "data/watchkeeper.db"
journal_key = "keys/journal.key"

[policies]
clock_tolerance_seconds = 30
retention_days = 30

[[people]]
id = "li"
name = "Li Wei"
roles = ["operator"]
trained_on = 2025-03-01

[[people]]
id = "zhang"
name = "Zhang Min"
roles = ["supervisor"]

[[people]]
id = "new-op"
name = "New Operator"
roles = ["operator"]
"""


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent(SITE), encoding="utf-8")
    return path


@pytest.fixture
def app(site_file: Path):
    opened = open_site(site_file)
    yield opened
    opened.close()

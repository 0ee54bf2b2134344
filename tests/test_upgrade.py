"""Upgrades keep the evidence: a store written by release 0.1.0 opens, migrates forward and verifies."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from watchkeeper.host import open_site

FIXTURE = Path(__file__).parent / "fixtures" / "store-v0.1.0"


@pytest.fixture
def old_site(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(FIXTURE, target)
    return target / "site.toml"


def _tables(path: Path) -> dict[str, list[tuple]]:
    connection = sqlite3.connect(path)
    try:
        names = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {name: connection.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall() for name in names}
    finally:
        connection.close()


def test_a_0_1_0_store_upgrades_keeping_every_row_and_the_chain(old_site: Path) -> None:
    store = old_site.parent / "data" / "watchkeeper.db"
    before = _tables(store)
    assert before["journal"] and before["inspection_results"] and before["footage_exports"]
    app = open_site(old_site)
    try:
        verification = app.journal.verify()
        assert verification.ok, verification.problem
        assert verification.entries >= len(before["journal"])
    finally:
        app.close()
    after = _tables(store)
    for table, rows in before.items():
        assert table in after, f"table {table} was dropped by an upgrade"
        if table == "_sqlite_migrations":
            assert set(rows) <= set(after[table]), "a migration that ran was forgotten"
            continue
        assert len(after[table]) >= len(rows), f"{table} lost rows"
        # Old rows keep their values; new columns may follow them.
        for old, new in zip(rows, after[table]):
            assert new[: len(old)] == old, f"{table}: a row written by 0.1.0 changed"
    # The journal's old entries are untouched, byte for byte, and the chain goes on from them.
    assert after["journal"][: len(before["journal"])] == before["journal"]


def test_opening_an_upgraded_store_again_changes_nothing(old_site: Path) -> None:
    store = old_site.parent / "data" / "watchkeeper.db"
    open_site(old_site).close()
    once = _tables(store)
    open_site(old_site).close()
    assert _tables(store) == once

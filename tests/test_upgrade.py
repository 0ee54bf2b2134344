"""Upgrades keep the evidence: a store written by release 0.1.0 opens, migrates forward and verifies."""

from __future__ import annotations

import json
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


def test_a_0_1_0_journal_is_given_its_key_id_and_a_macd_anchor_at_its_first_append(old_site: Path) -> None:
    """A journal begun before key ids verifies as it is; its first append records the key id, and
    from then on the old unauthenticated anchor format is refused (it could be written by anyone)."""
    from click.testing import CliRunner

    from watchkeeper.faces.cli import make_cli

    anchor = old_site.parent / "secrets" / "journal.key.head"
    legacy = anchor.read_bytes()
    assert legacy.count(b" ") == 1  # "SEQ HASH": 0.1.0's anchor

    def verify() -> dict:
        result = CliRunner().invoke(make_cli(config=old_site), ["--config", str(old_site), "journal", "verify", "--json"])
        return json.loads(result.output)

    assert verify()["ok"]
    app = open_site(old_site)
    before = app.journal.verify().head_seq
    row = app.journal.append("operation", "li", "site", "after the upgrade")
    upgrade = json.loads(list(app.journal.entries())[before]["body"])
    app.close()
    assert upgrade == {"event": "journal_upgraded", "key_id": app.journal.key_id} and row["seq"] == before + 2
    assert anchor.read_bytes() != legacy and verify()["ok"]
    anchor.write_text(f"{row['seq'] - 1} {list(open_site(old_site).journal.entries())[before]['hash']}\n")
    report = verify()
    assert report["status"] == "anchor_garbled" and "old unauthenticated format" in report["reason"]

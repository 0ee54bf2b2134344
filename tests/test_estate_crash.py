"""An estate action and its journal entry: a crash between the sites' store (SQLite or PostgreSQL) committing
the action and the journal (the estate's own SQLite file) committing its entry never leaves the action
unjournaled, and an entry is never journaled twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.logins import shared_fd
from tests.test_estate import backend, cli, enrol, estate_admin, estate_journal, free_port, postgres, write_estate
from watchkeeper.faces.estate.config import load_estate
from watchkeeper.faces.estate.store import open_store

VICTIM = Path(__file__).with_name("estate_crash_victim.py")
__all__ = ["backend", "postgres"]  # fixtures: each test runs on SQLite and on PostgreSQL


def crash(point: str, config: Path, *args: str) -> None:
    proof = estate_admin(config)
    killed = subprocess.run([sys.executable, str(VICTIM), point, *args, "--config", str(config), *proof],
                            pass_fds=(shared_fd(),), capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(VICTIM.parents[1])})
    assert killed.returncode == -9, killed.stderr


def flagged_site(config: Path) -> None:
    enrol(config, "s1")
    store = open_store(load_estate(config))
    try:
        store.backend.execute("UPDATE sites SET flag = 'rewritten chain', flag_status = 'rewritten' WHERE id = 's1'")
    finally:
        store.close()


def site_row(config: Path) -> dict:
    store = open_store(load_estate(config))
    try:
        return store.rows("SELECT flag, revoked_at FROM sites WHERE id = 's1'")[0]
    finally:
        store.close()


def held(config: Path) -> int:
    """Journal entries held in the sites' store, waiting to be journaled."""
    store = open_store(load_estate(config))
    try:
        return int(store.scalar("SELECT count(*) FROM journal_pending"))
    finally:
        store.close()


def actions(config: Path, action: str) -> list[dict]:
    return [e for e in estate_journal(config) if e["body"].get("estate") == action]


def test_a_crash_after_the_action_commits_is_journaled_at_the_next_open(tmp_path: Path, backend: bool) -> None:
    config = write_estate(tmp_path, free_port(), backend)
    flagged_site(config)
    crash("journal", config, "estate", "clear", "s1", "--reason", "restored from backup, ticket 9")
    assert site_row(config)["flag"] is None  # the action was committed when the process died
    assert actions(config, "clear_flag") == []  # and its entry had not reached the journal
    verified = cli("estate", "verify", "--config", config)  # the next open of the estate
    assert verified.exit_code == 0, verified.output
    entries = actions(config, "clear_flag")
    assert len(entries) == 1, entries
    body = entries[0]["body"]
    assert (entries[0]["actor"], entries[0]["subject"], body["reason"], body["proof"], body["journaled_late"]) == (
        "admin", "s1", "restored from backup, ticket 9", "password", True)
    assert body["done_at"] and held(config) == 0
    # Later opens find nothing more to journal.
    assert cli("estate", "verify", "--config", config).exit_code == 0
    assert len(actions(config, "clear_flag")) == 1


def test_a_crash_after_the_entry_is_journaled_journals_it_once(tmp_path: Path, backend: bool) -> None:
    config = write_estate(tmp_path, free_port(), backend)
    enrol(config, "s1")
    crash("drop", config, "estate", "revoke", "s1", "--reason", "site closed")
    assert site_row(config)["revoked_at"] and held(config) == 1
    assert len(actions(config, "revoke")) == 1
    assert cli("estate", "verify", "--config", config).exit_code == 0
    entries = actions(config, "revoke")
    assert len(entries) == 1 and "journaled_late" not in entries[0]["body"], entries
    assert held(config) == 0


def test_a_failed_action_holds_and_journals_nothing(tmp_path: Path, backend: bool) -> None:
    config = write_estate(tmp_path, free_port(), backend)
    result = cli("estate", "clear", "nowhere", "--reason", "x", "--config", config, *estate_admin(config))
    assert result.exit_code == 2 and "no enrolled site nowhere" in result.output, result.output
    assert actions(config, "clear_flag") == []
    assert held(config) == 0


def test_an_action_on_a_tampered_journal_is_refused_before_it_changes_anything(tmp_path: Path) -> None:
    import sqlite3

    config = write_estate(tmp_path, free_port())
    enrol(config, "s1")
    conn = sqlite3.connect(load_estate(config).journal_store)  # the newest entries deleted: the anchor disagrees
    conn.execute("DROP TRIGGER journal_no_delete")
    conn.execute("DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal)")
    conn.commit()
    conn.close()
    result = cli("estate", "revoke", "s1", "--reason", "x", "--config", config, *estate_admin(config))
    assert result.exit_code == 1 and "tampered" in result.output, result.output
    assert site_row(config)["revoked_at"] is None and held(config) == 0
    assert actions(config, "revoke") == []

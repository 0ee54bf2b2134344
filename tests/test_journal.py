"""The journal (R6): append-only, HMAC-chained, and every tampering named by its first bad seq."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.evidence.journal import GENESIS, Journal, link_hash, load_key
from watchkeeper.core.models import Secret


def fill(app, count: int = 10) -> None:
    app.journal.append_many(
        [("inspection", "li", f"cam-{i}", {"result": "ok", "index": i}, None) for i in range(count)]
    )


def raw_connection(app) -> sqlite3.Connection:
    """A second connection that drops the triggers, as an attacker with file access would."""
    conn = sqlite3.connect(app.store.path, isolation_level=None)
    conn.execute("DROP TRIGGER journal_no_update")
    conn.execute("DROP TRIGGER journal_no_delete")
    return conn


def test_append_and_verify(app) -> None:
    fill(app)
    result = app.journal.verify()
    # Entry 1 starts the journal with the key's id; entry 2 is the config snapshot App.open journals (R1).
    assert result.ok and result.entries == 12 and result.head_seq == 12
    first = next(app.journal.entries())
    assert first["seq"] == 1 and first["prev_hash"] == GENESIS and first["subject"] == "journal"
    config = next(app.journal.entries(kind="config"))
    assert config["seq"] == 2 and config["time_local"].endswith("+08:00")


def test_triggers_refuse_update_and_delete(app) -> None:
    fill(app, 2)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        app.store.conn.execute("UPDATE journal SET body = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        app.store.conn.execute("DELETE FROM journal WHERE seq = 2")


def _edit(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE journal SET body = '{"result":"fault"}' WHERE seq = 5""")


def _delete(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM journal WHERE seq = 5")


def _insert(conn: sqlite3.Connection) -> None:
    # Make room at 5 by shifting later entries up, then forge an entry there.
    conn.execute("UPDATE journal SET seq = seq + 1000 WHERE seq >= 5")
    conn.execute("UPDATE journal SET seq = seq - 999 WHERE seq >= 1000")
    prev = conn.execute("SELECT hash FROM journal WHERE seq = 4").fetchone()[0]
    conn.execute("INSERT INTO journal VALUES (5, '2026-01-01T00:00:00.000000+00:00', '2026-01-01T08:00:00+08:00',"
                 " 'inspection', 'li', 'cam-x', '{}', ?, ?)", [prev, "f" * 64])


def _reorder(conn: sqlite3.Connection) -> None:
    rows = {seq: rest for seq, *rest in conn.execute("SELECT * FROM journal WHERE seq IN (5, 6)")}
    conn.execute("DELETE FROM journal WHERE seq IN (5, 6)")
    conn.execute("INSERT INTO journal VALUES (5, ?, ?, ?, ?, ?, ?, ?, ?)", rows[6])
    conn.execute("INSERT INTO journal VALUES (6, ?, ?, ?, ?, ?, ?, ?, ?)", rows[5])


@pytest.mark.parametrize("tamper", [_edit, _delete, _insert, _reorder], ids=["edit", "delete", "insert", "reorder"])
def test_verify_names_first_bad_seq(app, site_file: Path, tamper) -> None:
    fill(app)
    conn = raw_connection(app)
    tamper(conn)
    conn.close()
    result = app.journal.verify()
    assert not result.ok and result.problem.seq == 5, result.problem
    cli = CliRunner().invoke(make_cli(config=site_file), ["--config", str(site_file), "journal", "verify", "--json"])
    assert cli.exit_code == 1
    assert json.loads(cli.output)["first_bad_seq"] == 5


def test_rewriting_the_chain_without_the_key_is_detected(app) -> None:
    fill(app, 4)
    conn = raw_connection(app)
    forged_key = bytes(32)
    prev = GENESIS
    for seq, time_utc, time_local, kind, actor, subject, body, _, _ in list(conn.execute("SELECT * FROM journal ORDER BY seq")):
        body = body.replace('"ok"', '"fault"')
        digest = link_hash(forged_key, seq, time_utc, time_local, kind, actor, subject, body, prev)
        conn.execute("UPDATE journal SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?", [body, prev, digest, seq])
        prev = digest
    conn.close()
    result = app.journal.verify()
    assert not result.ok and result.problem.seq == 1


def test_deleting_the_newest_entries_is_detected_by_the_anchor(app) -> None:
    fill(app)
    conn = raw_connection(app)
    conn.execute("DELETE FROM journal WHERE seq > 8")
    conn.close()
    result = app.journal.verify()
    assert not result.ok and result.problem.seq == 9 and "deleted" in result.problem.reason


def test_secrets_are_refused(app) -> None:
    with pytest.raises(TypeError, match="Secret"):
        app.journal.append("operation", "li", "nvr", {"password": Secret("hunter2")})
    assert app.journal.verify().ok


def test_unknown_kind_is_refused(app) -> None:
    with pytest.raises(ValueError, match="unknown journal kind"):
        app.journal.append("gossip", "li", "site", "hello")


def test_key_file_is_private(app) -> None:
    assert (app.site.journal_key.stat().st_mode & 0o777) == 0o600


def test_wrong_key_fails_verification(app, tmp_path: Path) -> None:
    fill(app, 3)
    other = tmp_path / "other.key"
    other.write_text("ab" * 32)
    result = Journal(app.store, load_key(other)).verify()
    assert not result.ok and result.problem.seq == 1


def test_cli_add_show_and_refusals(site_file: Path) -> None:
    runner = CliRunner()
    cli = make_cli(config=site_file)
    base = ["--config", str(site_file), "journal"]
    added = runner.invoke(cli, base + ["add", "--kind", "maintenance", "--text", "wiped desks", "--actor", "li"])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(cli, base + ["add", "--kind", "maintenance", "--text", "x", "--actor", "stranger"])
    assert refused.exit_code == 1 and "refused" in refused.output
    shown = runner.invoke(cli, base + ["show", "--kind", "maintenance"])
    assert "wiped desks" in shown.output and "li" in shown.output
    as_json = runner.invoke(cli, base + ["show", "--json", "--since", "2000-01-01"])
    kinds = [json.loads(line)["kind"] for line in as_json.output.splitlines()]
    assert kinds == ["operation", "config", "maintenance", "operation"]
    assert runner.invoke(cli, base + ["show", "--until", "2000-01-01"]).output == ""
    ok = runner.invoke(cli, base + ["verify"])
    assert ok.exit_code == 0 and "journal ok: 4 entries" in ok.output


def test_config_change_is_journaled_once(site_file: Path) -> None:
    from watchkeeper.host import open_site

    for _ in range(2):
        open_site(site_file).close()
    site_file.write_text(site_file.read_text().replace("Test site", "Renamed site"))
    app = open_site(site_file)
    snapshots = list(app.journal.entries(kind="config"))
    app.close()
    assert len(snapshots) == 2
    assert json.loads(snapshots[-1]["body"])["config"]["site"]["name"] == "Renamed site"


def test_append_returns_the_callers_entries_not_the_journals_own(tmp_path: Path) -> None:
    from watchkeeper.evidence.journal import anchor_path, create_key
    from watchkeeper.evidence.store import Store

    create_key(tmp_path / "k")
    journal = Journal(Store(tmp_path / "j.db"), load_key(tmp_path / "k"), anchor=anchor_path(tmp_path / "k"))
    row = journal.append("operation", "li", "site", "first")  # entry 1 is the journal's start
    assert (row["seq"], row["actor"]) == (2, "li")
    rows = journal.append_many([("operation", "li", "site", "a", None), ("operation", "li", "site", "b", None)])
    assert [r["seq"] for r in rows] == [3, 4]
    journal.store.close()


def test_rows_written_with_entries_commit_together_or_not_at_all(app) -> None:
    app.store.conn.execute("CREATE TABLE scratch (n INTEGER)")
    entries = app.store.conn.execute("SELECT count(*) FROM journal").fetchone()[0]

    def bad(conn):
        conn.execute("INSERT INTO scratch VALUES (1)")
        return [("no-such-kind", "li", "site", "x", None)]

    with pytest.raises(ValueError, match="unknown journal kind"):
        app.journal.append_with(bad)
    assert app.store.conn.execute("SELECT count(*) FROM scratch").fetchone()[0] == 0
    assert app.store.conn.execute("SELECT count(*) FROM journal").fetchone()[0] == entries

    def good(conn):
        n = conn.execute("INSERT INTO scratch VALUES (2)").lastrowid
        return [("operation", "li", "site", {"scratch": n}, None)]

    [row] = app.journal.append_with(good)
    assert json.loads(row["body"]) == {"scratch": 1} and row["actor"] == "li"
    assert app.store.conn.execute("SELECT n FROM scratch").fetchall() == [(2,)] and app.journal.verify().ok

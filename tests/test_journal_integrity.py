"""The journal's history cannot shrink unnoticed: each tampering is named by `journal verify` and by
the appliance's start (`run`), and `verify` itself changes nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.evidence.anchor import Anchor, Head, read_anchor, write_anchor
from watchkeeper.evidence.journal import GENESIS, JournalTampered, link_hash
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.cli.common import os_account
from watchkeeper.faces.service import Appliance
from watchkeeper.host import open_site
from tests.logins import proven


def paths(site_file: Path) -> tuple[Path, Path, Path]:
    folder = site_file.parent
    return folder / "data" / "watchkeeper.db", folder / "keys" / "journal.key", folder / "keys" / "journal.key.head"


def fill(site_file: Path, count: int = 10) -> None:
    app = open_site(site_file)
    app.journal.append_many([("inspection", "li", f"cam-{i}", {"result": "ok", "index": i}, None)
                             for i in range(count)])
    app.close()


def raw(store: Path) -> sqlite3.Connection:
    """A connection without the triggers, as an attacker with a shell on the appliance has."""
    conn = sqlite3.connect(store, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS journal_no_update")
    conn.execute("DROP TRIGGER IF EXISTS journal_no_delete")
    return conn


def truncate(site_file: Path, keep: int) -> None:
    conn = raw(paths(site_file)[0])
    conn.execute("DELETE FROM journal WHERE seq > ?", [keep])
    conn.close()


def cli(site_file: Path, *args: str):
    return CliRunner().invoke(make_cli(config=site_file), proven(["--config", str(site_file), *args]))


def verify(site_file: Path, *args: str) -> dict:
    result = cli(site_file, "journal", "verify", "--json", *args)
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.output)
    assert (result.exit_code == 0) == report["ok"]
    return report


def statuses(report: dict) -> list[str]:
    return [problem["status"] for problem in report["problems"]]


def start_appliance(site_file: Path, caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[dict]]:
    """What `run` does at start: open the site, start the appliance, stop it; its log and open findings."""
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        app = open_site(site_file)
        appliance = Appliance(app)

        async def cycle() -> None:
            await appliance.start()
            await appliance.stop()

        asyncio.run(cycle())
        findings = list(app.store.db["findings"].rows_where("kind = 'journal_tampered' AND closed_at IS NULL"))
        app.close()
    return [record.getMessage() for record in caplog.records], findings


def named_by_run(site_file: Path, caplog: pytest.LogCaptureFixture, status: str) -> None:
    messages, findings = start_appliance(site_file, caplog)
    assert any(message.startswith(f"journal {status}:") for message in messages), messages
    assert len(findings) == 1 and findings[0]["subject"] == "journal", findings


# --- the tamperings ---------------------------------------------------------------------------


def test_deleted_anchor(site_file: Path, caplog) -> None:
    fill(site_file)
    paths(site_file)[2].unlink()
    report = verify(site_file)
    assert statuses(report) == ["anchor_missing"] and "is missing" in report["reason"]
    named_by_run(site_file, caplog, "anchor_missing")
    # The start journaled an alarm and anchored the chain again: the history keeps saying so.
    assert statuses(verify(site_file)) == ["tampered"]


def test_garbled_anchor(site_file: Path, caplog) -> None:
    fill(site_file)
    anchor = paths(site_file)[2]
    anchor.write_text(anchor.read_text().replace('"seq": 12', '"seq": 11'))
    assert statuses(verify(site_file)) == ["anchor_garbled"]
    anchor.write_text("{not an anchor")
    report = verify(site_file)
    assert statuses(report) == ["anchor_garbled"] and "garbled" in report["reason"]
    anchor.write_text("12 " + "0" * 64 + "\n")  # the unauthenticated format of 0.1.0, written by hand
    report = verify(site_file)
    assert statuses(report) == ["anchor_garbled"] and "old unauthenticated format" in report["reason"]
    named_by_run(site_file, caplog, "anchor_garbled")
    assert statuses(verify(site_file)) == ["tampered"]


def test_truncate_then_append(site_file: Path, caplog) -> None:
    # li is proven by the OS account running the test: giving a password would itself open the
    # site, and find the truncation before the command under test does.
    site_file.write_text(site_file.read_text().replace('id = "li"\n', f'id = "li"\nos_user = "{os_account()}"\n'))
    fill(site_file)
    truncate(site_file, 9)
    report = verify(site_file)
    assert statuses(report) == ["truncated"] and report["first_bad_seq"] == 10
    assert "entries 10..12 were deleted" in report["reason"]
    added = CliRunner().invoke(make_cli(config=site_file), ["--config", str(site_file), "journal", "add", "--kind",
                                                           "maintenance", "--text", "cover-up", "--actor", "li"])
    assert added.exit_code == 1 and "tampered" in added.output and "entries 10..12 were deleted" in added.output
    report = verify(site_file)
    assert statuses(report) == ["tampered"] and report["first_bad_seq"] == 10
    app = open_site(site_file)
    alarm = json.loads(list(app.journal.entries())[9]["body"])
    texts = [e["body"] for e in app.journal.entries(kind="maintenance")]
    kinds = [row["kind"] for row in app.store.db["findings"].rows_where("closed_at IS NULL")]
    app.close()
    assert alarm["alarm"] == "journal_tampered" and alarm["anchored"]["seq"] == 12 and alarm["tip"]["seq"] == 9
    assert texts == [] and kinds == ["journal_tampered"]  # the append was refused; the alarm took its place
    named_by_run(site_file, caplog, "tampered")


def test_truncate_then_delete_anchor(site_file: Path, caplog) -> None:
    fill(site_file)
    truncate(site_file, 8)
    paths(site_file)[2].unlink()
    assert statuses(verify(site_file)) == ["anchor_missing"]
    named_by_run(site_file, caplog, "anchor_missing")


def test_deleted_store(site_file: Path, caplog) -> None:
    fill(site_file)
    store = paths(site_file)[0]
    shutil.rmtree(store.parent)
    report = verify(site_file)
    assert statuses(report) == ["store_missing"] and "does not exist" in report["reason"]
    assert not store.parent.exists()  # verify never creates what it checks
    named_by_run(site_file, caplog, "tampered")
    report = verify(site_file)
    assert statuses(report) == ["tampered", "restarted"]
    assert "entries 1..12 were deleted" in report["reason"]


def test_deleted_store_and_anchor(site_file: Path, caplog) -> None:
    fill(site_file)
    store, _, anchor = paths(site_file)
    shutil.rmtree(store.parent)
    anchor.unlink()
    assert statuses(verify(site_file)) == ["store_missing"]
    named_by_run(site_file, caplog, "restarted")
    report = verify(site_file)
    assert statuses(report) == ["restarted"] and report["first_bad_seq"] == 1


def test_every_row_deleted(site_file: Path, caplog) -> None:
    fill(site_file)
    truncate(site_file, 0)
    assert statuses(verify(site_file)) == ["truncated"]
    named_by_run(site_file, caplog, "tampered")
    assert statuses(verify(site_file)) == ["tampered", "restarted"]


def test_older_anchor_put_back(site_file: Path, caplog) -> None:
    fill(site_file, 3)
    anchor = paths(site_file)[2]
    saved = anchor.read_bytes()
    fill(site_file, 3)
    anchor.write_bytes(saved)
    assert statuses(verify(site_file)) == ["anchor_older"]
    named_by_run(site_file, caplog, "anchor_older")


def rewrite_with_key(site_file: Path, keep: int) -> None:
    """The attacker who has the key: drop the newest entries, edit one, re-sign everything, re-anchor."""
    store, key_path, anchor = paths(site_file)
    key = bytes.fromhex(key_path.read_text().strip())
    conn = raw(store)
    conn.execute("DELETE FROM journal WHERE seq > ?", [keep])
    prev = GENESIS
    for seq, time_utc, time_local, kind, actor, subject, body, _, _ in list(conn.execute(
            "SELECT * FROM journal ORDER BY seq")):
        body = body.replace('"ok"', '"fault"')
        digest = link_hash(key, seq, time_utc, time_local, kind, actor, subject, body, prev)
        conn.execute("UPDATE journal SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?", [body, prev, digest, seq])
        prev = digest
    conn.close()
    write_anchor(anchor, key, Anchor(Head(keep, prev)))


def test_rewrite_with_the_key_is_caught_by_a_witness(site_file: Path, tmp_path: Path, caplog) -> None:
    witness = tmp_path / "witness" / "heads.jsonl"
    witness.parent.mkdir()
    site_file.write_text(site_file.read_text() + f'\n[witness]\nsyslog = "off"\nfile = "{witness}"\n')
    fill(site_file)
    saved = cli(site_file, "journal", "heads")
    assert saved.exit_code == 0
    (tmp_path / "saved.jsonl").write_text(saved.output)
    assert len(witness.read_text().splitlines()) == 2  # genesis and config, then the batch: a head per append
    rewrite_with_key(site_file, 9)
    copy = witness.read_bytes()
    witness.unlink()
    assert verify(site_file)["ok"]  # without a witness, a rewrite with the key is consistent
    report = verify(site_file, "--witness", str(tmp_path / "saved.jsonl"))
    assert statuses(report) == ["witness_mismatch"] and "the chain ends at 9: entries were deleted" in report["reason"]
    witness.write_bytes(copy)  # the site's own witness file (kept off the box) is checked by default
    report = verify(site_file)
    assert statuses(report) == ["witness_mismatch"] and f"{witness}:" in report["reason"]
    named_by_run(site_file, caplog, "witness_mismatch")


def test_rewrite_of_an_entry_with_the_key_is_caught_by_a_witness(site_file: Path, tmp_path: Path) -> None:
    fill(site_file)
    (tmp_path / "saved.jsonl").write_text(cli(site_file, "journal", "heads", "--all").output)
    rewrite_with_key(site_file, 12)
    report = verify(site_file, "--witness", str(tmp_path / "saved.jsonl"))
    assert statuses(report) == ["witness_mismatch"]
    assert "entry 3 differs from the head witnessed" in report["reason"] and "more witnessed heads" in report["reason"]


# --- verify changes nothing -------------------------------------------------------------------


def snapshot(site_file: Path) -> dict[str, bytes]:
    """Every file's content; SQLite's shared-memory index and empty files (a reader's WAL) aside."""
    folder = site_file.parent
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.stat().st_size and not p.name.endswith("-shm")}


def test_verify_changes_nothing(site_file: Path) -> None:
    fill(site_file)
    site_file.write_text(site_file.read_text().replace("Test site", "Renamed site"))
    before = snapshot(site_file)
    for args in (("verify",), ("verify", "--json"), ("heads",), ("heads", "--all")):
        assert cli(site_file, "journal", *args).exit_code == 0
    assert snapshot(site_file) == before
    app = open_site(site_file)  # an ordinary open journals the changed config; verify did not
    assert len(list(app.journal.entries(kind="config"))) == 2
    app.close()


def test_verify_needs_the_key_and_never_creates_one(site_file: Path) -> None:
    fill(site_file, 1)
    key = paths(site_file)[1]
    key.unlink()
    result = cli(site_file, "journal", "verify", "--json")
    assert result.exit_code == 1 and json.loads(result.output)["status"] == "key_missing" and not key.exists()


# --- the key id, appends under a lock, witnesses ----------------------------------------------


def test_first_entry_records_the_key_id_and_a_new_key(app) -> None:
    first = next(app.journal.entries())
    body = json.loads(first["body"])
    assert first["seq"] == 1 and first["actor"] == "watchkeeper" and first["subject"] == "journal"
    assert body == {"event": "journal_started", "key_id": app.journal.key_id, "key": "new"}
    assert app.journal.key_id not in app.site.journal_key.read_text()
    assert read_anchor(paths(app.site.source)[2], bytes.fromhex(app.site.journal_key.read_text().strip())).head.seq == 2


def test_another_key_is_named(site_file: Path) -> None:
    fill(site_file, 2)
    key = paths(site_file)[1]
    key.write_text("ab" * 32)
    report = verify(site_file)
    assert report["status"] == "wrong_key" and report["first_bad_seq"] == 1


def test_an_append_after_the_rows_were_deleted_in_process_is_refused(app) -> None:
    app.journal.append("operation", "li", "site", "one")
    conn = raw(app.store.path)
    conn.execute("DELETE FROM journal WHERE seq = 3")
    conn.close()
    with pytest.raises(JournalTampered, match="entries 3..3 were deleted"):
        app.journal.append("operation", "li", "site", "two")
    assert [row["kind"] for row in app.store.db["findings"].rows] == ["journal_tampered"]
    assert app.journal.append("operation", "li", "site", "three")["seq"] == 4  # after the alarm, on it goes


def test_witness_lines_from_syslog_and_bad_lines(site_file: Path, tmp_path: Path) -> None:
    fill(site_file, 1)
    head = cli(site_file, "journal", "heads").output.strip()
    syslog = tmp_path / "syslog"
    syslog.write_text(f"Nov 28 08:00:01 box watchkeeper: watchkeeper-journal-head {head}\n")
    assert verify(site_file, "--witness", str(syslog))["ok"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(head + "\n{\"seq\": 1, \"hash\": \"nothex\"}\n")
    result = cli(site_file, "journal", "verify", "--witness", str(bad))
    assert result.exit_code == 2 and f"{bad}:2: 'hash' must be 64 hex digits" in result.output
    other_site = tmp_path / "other.jsonl"  # heads of another site in the same syslog are not this one's
    other_site.write_text(json.dumps({"site": "Elsewhere", "seq": 99, "hash": "a" * 64}) + "\n")
    assert verify(site_file, "--witness", str(other_site))["ok"]


def test_heads_are_sent_to_a_remote_syslog(site_file: Path) -> None:
    import socket

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    site_file.write_text(site_file.read_text() + f'\n[witness]\nsyslog = "udp://127.0.0.1:{port}"\n')
    app = open_site(site_file)
    row = app.journal.append("operation", "li", "site", "hello")
    app.close()
    messages = [receiver.recv(4096).decode() for _ in range(2)]
    receiver.close()
    assert messages[-1].startswith("<14>watchkeeper: watchkeeper-journal-head {")
    witnessed = json.loads(messages[-1].split("watchkeeper-journal-head ", 1)[1].rstrip("\x00"))
    assert witnessed == {"site": "Test site", "seq": row["seq"], "hash": row["hash"], "time": row["time_utc"],
                         "key_id": app.journal.key_id}


def test_bad_syslog_address_is_a_config_error(site_file: Path) -> None:
    site_file.write_text(site_file.read_text() + '\n[witness]\nsyslog = "carrier-pigeon"\n')
    result = cli(site_file, "journal", "verify")
    assert result.exit_code == 2 and "witness.syslog" in result.output and "not a syslog address" in result.output


def test_run_names_a_deleted_store_on_its_console(site_file: Path) -> None:
    import signal
    import subprocess
    import sys

    fill(site_file)
    shutil.rmtree(paths(site_file)[0].parent)
    process = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "--config", str(site_file), "run",
                                "--no-web"], stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if "running for" in line:
                break
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    console = "".join(lines)
    assert "journal tampered: entry 2 records that the journal was tampered with: entries 1..12 were deleted" in console
    assert "journal restarted: entry 1 began a new journal under a key already in use" in console
    assert "Traceback" not in console


def test_a_store_that_is_not_a_database_is_named(site_file: Path) -> None:
    fill(site_file, 1)
    store = paths(site_file)[0]
    for leftover in store.parent.glob("watchkeeper.db-*"):
        leftover.unlink()
    store.write_bytes(b"not a database" * 100)
    result = cli(site_file, "journal", "verify", "--json")
    assert result.exit_code == 1 and json.loads(result.output)["status"] == "store_unreadable", result.output


def damage_newest_slot(anchor: Path) -> None:
    """What a power cut during the write after a commit leaves: the newer of the two slots torn."""
    from watchkeeper.evidence.anchor import SLOT

    raw = bytearray(anchor.read_bytes())
    generations = [json.loads(raw[i * SLOT:(i + 1) * SLOT])["gen"] for i in range(2)]
    newest = generations.index(max(generations))
    raw[newest * SLOT:newest * SLOT + 40] = b"\0" * 40
    anchor.write_bytes(bytes(raw))


def test_a_torn_anchor_slot_still_accepts_the_committed_chain(site_file: Path) -> None:
    fill(site_file)
    damage_newest_slot(paths(site_file)[2])
    assert verify(site_file)["ok"]
    app = open_site(site_file)  # the next append repairs it
    app.journal.append("operation", "li", "site", "after the power cut")
    app.close()
    assert verify(site_file)["ok"]


def test_damaging_the_newest_slot_does_not_hide_a_deleted_last_append(site_file: Path, caplog) -> None:
    fill(site_file)
    damage_newest_slot(paths(site_file)[2])  # falling back to the slot written before the last commit
    truncate(site_file, 2)  # and deleting what that commit added
    report = verify(site_file)
    assert statuses(report) == ["truncated"] and "entries 3..12 were deleted" in report["reason"]
    named_by_run(site_file, caplog, "truncated")

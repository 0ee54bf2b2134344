"""Backups (issue 19): consistent while the appliance writes, restore verified, tampering refused."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner

from watchkeeper.core.models import Secret
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.site.backup import BackupError, backups, prune, take_backup, verify_backup
from tests.logins import proven

PASS = Secret("correct horse battery staple")


@pytest.fixture
def admin_site(site_file: Path) -> Path:
    site_file.write_text(site_file.read_text() + '\n[[people]]\nid = "root"\nname = "Admin"\nroles = ["administrator"]\n')
    return site_file


def test_backup_while_another_process_writes_restores_and_verifies(admin_site: Path, tmp_path: Path) -> None:
    app = open_site(admin_site)
    writer = open_site(admin_site)  # the running appliance: its own connection, appending as it goes
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            writer.journal.append("operation", "watchkeeper", "inspection", {"text": "x" * 200})

    for index in range(300):
        app.journal.append("operation", "li", f"before-{index}", {"text": "y" * 500})
    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        made = take_backup(app, tmp_path / "backups", PASS, "root")
    finally:
        stop.set()
        thread.join()
    check = verify_backup(made, PASS)
    assert check.verification.ok and check.verification.entries >= 301
    assert check.manifest["counts"]["journal"] == check.verification.entries
    # The backup is journaled in the live store, after the copy's own head.
    seq, body = app.store.conn.execute("SELECT seq, body FROM journal WHERE actor = 'root'").fetchone()
    assert json.loads(body)["backup"] == made.name and seq > check.verification.head_seq
    writer.close()
    app.close()

    # Restore on a "bare machine": a new folder, the config restored from the backup too.
    bare = tmp_path / "bare" / "site.toml"
    result = CliRunner().invoke(make_cli(config=bare), ["--config", str(bare), "restore", str(made), "--actor", "root",
                                                          "--with-config"], env={"WATCHKEEPER_BACKUP_PASSPHRASE": PASS.reveal()})
    assert result.exit_code == 0, result.output
    restored = open_site(bare)
    try:
        assert restored.journal.verify().ok
        counts = {name: restored.store.conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                  for name in check.counts}
        assert counts["journal"] == check.counts["journal"] + 1  # plus the restore's own entry
        assert {k: v for k, v in counts.items() if k != "journal"} == {
            k: v for k, v in check.counts.items() if k != "journal"}
        entry = restored.store.conn.execute("SELECT actor, body FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
        assert entry[0] == "root" and json.loads(entry[1])["restored"] == made.name
    finally:
        restored.close()
    assert (bare.parent / "keys" / "journal.key").stat().st_mode & 0o077 == 0


def _backup(admin_site: Path, tmp_path: Path) -> Path:
    app = open_site(admin_site)
    try:
        for index in range(20):
            app.journal.append("operation", "li", f"entry-{index}", {"text": "z"})
        return take_backup(app, tmp_path / "backups", PASS, "root")
    finally:
        app.close()


def _rehash(backup: Path, name: str) -> None:
    """What a careful forger does: fix the manifest's hash for the file it changed."""
    from watchkeeper.site.backup import MANIFEST, _sha256

    manifest = json.loads((backup / MANIFEST).read_text())
    manifest["files"][name] = _sha256(backup / name)
    (backup / MANIFEST).write_text(json.dumps(manifest))


def test_tampered_backups_are_refused(admin_site: Path, tmp_path: Path) -> None:
    made = _backup(admin_site, tmp_path)
    store = made / "store.db"
    with pytest.raises(BackupError, match="wrong passphrase"):
        verify_backup(made, Secret("not it"))

    # An edited journal row behind the triggers' back, with the manifest's hash fixed up.
    connection = sqlite3.connect(store)
    connection.execute("DROP TRIGGER journal_no_update")
    connection.execute("UPDATE journal SET subject = 'forged' WHERE seq = 5")
    connection.commit()
    connection.close()
    with pytest.raises(BackupError, match="does not match its hash"):
        verify_backup(made, PASS)
    _rehash(made, "store.db")
    with pytest.raises(BackupError, match="journal does not verify: entry 5"):
        verify_backup(made, PASS)


def test_truncated_backup_journal_is_refused_by_its_anchor(admin_site: Path, tmp_path: Path) -> None:
    made = _backup(admin_site, tmp_path)
    connection = sqlite3.connect(made / "store.db")
    connection.execute("DROP TRIGGER journal_no_delete")
    connection.execute("DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal)")
    connection.commit()
    connection.close()
    _rehash(made, "store.db")
    with pytest.raises(BackupError, match="were deleted"):
        verify_backup(made, PASS)


def test_restore_refuses_the_wrong_person_and_an_existing_store(admin_site: Path, tmp_path: Path) -> None:
    made = _backup(admin_site, tmp_path)
    env = {"WATCHKEEPER_BACKUP_PASSPHRASE": PASS.reveal()}
    cli = make_cli(config=admin_site)
    result = CliRunner().invoke(cli, ["--config", str(admin_site), "restore", str(made), "--actor", "li"], env=env)
    assert result.exit_code == 1 and "refused" in result.output
    app = open_site(admin_site)
    try:
        refusal = app.store.conn.execute("SELECT actor, body FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
        body = json.loads(refusal[1])
        assert refusal[0] == "li" and body["refused"] == "backup.restore"
        assert body["plugin"] == "watchkeeper.rules.policy" and "backup.restore" in body["reason"]
    finally:
        app.close()
    result = CliRunner().invoke(cli, ["--config", str(admin_site), "restore", str(made), "--actor", "root"], env=env)
    assert result.exit_code == 1 and "--replace" in result.output
    result = CliRunner().invoke(cli, ["--config", str(admin_site), "restore", str(made), "--actor", "root",
                                      "--replace"], env=env)
    assert result.exit_code == 0, result.output
    kept = list((admin_site.parent / "data").glob("watchkeeper.db.replaced-*"))
    assert len(kept) == 1


def test_backup_cli_refuses_an_operator_and_prunes_to_keep(admin_site: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_BACKUP_PASSPHRASE", PASS.reveal())  # for giving the test passwords too
    folder = tmp_path / "nightly"
    admin_site.write_text(admin_site.read_text() + f'\n[backup]\nfolder = "{folder}"\nkeep = 2\n'
                          'passphrase = "env:WATCHKEEPER_BACKUP_PASSPHRASE"\n')
    env = {"WATCHKEEPER_BACKUP_PASSPHRASE": PASS.reveal()}
    cli = make_cli(config=admin_site)
    result = CliRunner().invoke(cli, proven(["--config", str(admin_site), "backup", "--actor", "li"]), env=env)
    assert result.exit_code == 1 and "refused" in result.output and not backups(folder)
    for _ in range(3):
        result = CliRunner().invoke(cli, proven(["--config", str(admin_site), "backup", "--actor", "root"]), env=env)
        assert result.exit_code == 0, result.output
    assert len(backups(folder)) == 2
    assert prune(folder, 1) and len(backups(folder)) == 1
    result = CliRunner().invoke(cli, proven(["backup", "verify", str(backups(folder)[0])]), env=env)
    assert result.exit_code == 0 and "backup ok" in result.output
    # The passphrase and the key never reach the journal or the backup's clear files.
    key = (admin_site.parent / "keys" / "journal.key").read_text().strip()
    for path in backups(folder)[0].iterdir():
        data = path.read_bytes()
        assert PASS.reveal().encode() not in data and key.encode() not in data


def _faketime() -> Path | None:
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    return found[0] if found else None


@pytest.mark.skipif(_faketime() is None, reason="libfaketime (Debian package faketime) is not installed")
def test_the_right_passphrase_opens_a_backup_on_a_machine_that_times_slow(admin_site: Path, tmp_path: Path) -> None:
    """rage picks the most work it will do by timing scrypt: on a busy machine it refused the right passphrase.

    libfaketime makes the opening process's clock run 1000 times fast, as a machine too busy to
    give a short timing its CPU looks to anything that times itself. Nothing here may depend on that.
    """
    made = _backup(admin_site, tmp_path)
    opener = ("import sys; from watchkeeper.site.backup import verify_backup; from watchkeeper.core.models import Secret;"
              "from pathlib import Path; print(verify_backup(Path(sys.argv[1]), Secret(sys.argv[2])).verification.ok)")
    env = {**os.environ, "LD_PRELOAD": str(_faketime()), "FAKETIME": "+0 x1000"}
    result = subprocess.run([sys.executable, "-c", opener, str(made), PASS.reveal()], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


def test_a_backup_asking_for_too_much_work_is_not_called_a_wrong_passphrase(admin_site: Path, tmp_path: Path) -> None:
    from watchkeeper.site.agefile import MAX_WORK_FACTOR

    made = _backup(admin_site, tmp_path)
    sealed = made / "sealed.age"
    header = sealed.read_bytes().split(b"\n")
    salt = header[1].split(b" ")[2]
    sealed.write_bytes(b"\n".join([header[0], b"-> scrypt " + salt + b" 40", *header[2:]]))
    _rehash(made, "sealed.age")
    with pytest.raises(BackupError) as refused:
        verify_backup(made, PASS)
    message = str(refused.value)
    assert "wrong passphrase" not in message and "work factor 40" in message and str(MAX_WORK_FACTOR) in message


def test_a_backup_sealed_by_rage_still_restores(admin_site: Path, tmp_path: Path) -> None:
    """Backups taken before the fixed work factor were sealed by pyrage at whatever it timed."""
    from watchkeeper.site.agefile import open_sealed

    made = _backup(admin_site, tmp_path)
    sealed = made / "sealed.age"
    sealed.write_bytes(pyrage.passphrase.encrypt(open_sealed(sealed.read_bytes(), PASS.reveal()), PASS.reveal()))
    _rehash(made, "sealed.age")
    bare = tmp_path / "bare" / "site.toml"
    result = CliRunner().invoke(make_cli(config=bare), ["--config", str(bare), "restore", str(made), "--actor", "root",
                                                          "--with-config"], env={"WATCHKEEPER_BACKUP_PASSPHRASE": PASS.reveal()})
    assert result.exit_code == 0, result.output


def _last_body(site: Path, actor: str) -> dict:
    app = open_site(site)
    try:
        return json.loads(app.store.conn.execute(
            "SELECT body FROM journal WHERE actor = ? ORDER BY seq DESC LIMIT 1", (actor,)).fetchone()[0])
    finally:
        app.close()


def test_the_restore_and_its_refusal_say_the_backup_passphrase_was_the_proof(admin_site: Path, tmp_path: Path) -> None:
    """On a bare machine no password can be checked: the passphrase that opened the backup is the proof."""
    made = _backup(admin_site, tmp_path)
    env = {"WATCHKEEPER_BACKUP_PASSPHRASE": PASS.reveal()}
    cli = make_cli(config=admin_site)
    result = CliRunner().invoke(cli, ["--config", str(admin_site), "restore", str(made), "--actor", "li"], env=env)
    assert result.exit_code == 1
    refusal = _last_body(admin_site, "li")
    result = CliRunner().invoke(cli, ["--config", str(admin_site), "restore", str(made), "--actor", "root",
                                      "--replace"], env=env)
    assert result.exit_code == 0, result.output
    restored = _last_body(admin_site, "root")
    assert refusal["refused"] == "backup.restore" and refusal["proof"] == "backup_passphrase"
    assert restored["restored"] == made.name and restored["proof"] == "backup_passphrase"
    from watchkeeper.evidence.journal import PROVEN

    assert PROVEN.get() is None  # not left behind for the next command run in this process

"""The appliance as a service (issue 19): a unit systemd accepts, readiness and watchdog, nightly backups."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.core.findings import FindingKind
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.service import Appliance
from watchkeeper.faces.systemd import unit_text
from watchkeeper.host import open_site
from watchkeeper.site.backup import backups, verify_backup
from watchkeeper.core.models import Secret

ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze missing: apt-get install systemd")


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ANALYZE or "", "verify", str(unit)], capture_output=True, text=True, timeout=60)


@needs_systemd
def test_installed_unit_passes_systemd_analyze(site_file: Path, tmp_path: Path) -> None:
    units = tmp_path / "units"
    result = CliRunner().invoke(make_cli(config=site_file), ["--config", str(site_file), "service", "install",
                                                            "--unit-dir", str(units)])
    assert result.exit_code == 0, result.output
    unit = units / "watchkeeper.service"
    text = unit.read_text()
    for hardening in ("ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure", "Type=notify",
                      "WatchdogSec=", "StateDirectory=watchkeeper", "User=watchkeeper"):
        assert hardening in text
    assert f"--config {site_file.resolve()} run" in text
    # The store and key folders the config names stay writable under ProtectSystem=strict.
    read_write = next(line for line in text.splitlines() if line.startswith("ReadWritePaths="))
    assert str((site_file.parent / "data").resolve()) in read_write
    assert str((site_file.parent / "keys").resolve()) in read_write
    checked = _verify(unit)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


@needs_systemd
def test_systemd_analyze_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: the same unit with one bad value does not verify."""
    unit = tmp_path / "watchkeeper.service"
    unit.write_text(unit_text(Path("/bin/true"), tmp_path / "site.toml").replace("Restart=on-failure",
                                                                                 "Restart=sometimes"))
    checked = _verify(unit)
    assert "restart specifier" in checked.stderr  # what the first test requires to be empty


def test_install_refuses_a_config_that_does_not_load(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text("[site]\nname = 1\n")
    result = CliRunner().invoke(make_cli(config=bad), ["--config", str(bad), "service", "install",
                                                      "--unit-dir", str(tmp_path / "units")])
    assert result.exit_code == 2 and "site.name" in result.output
    assert not (tmp_path / "units").exists()


def test_ready_watchdog_and_stopping_reach_systemd(site_file: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    app = open_site(site_file)

    async def run_briefly() -> None:
        appliance = Appliance(app)
        await appliance.start()
        await asyncio.sleep(0.5)
        await appliance.stop()

    try:
        asyncio.run(run_briefly())
    finally:
        app.close()
    received = []
    listener.settimeout(0.5)
    while True:
        try:
            received.append(listener.recv(4096).decode())
        except (TimeoutError, socket.timeout):
            break
    listener.close()
    assert received[0].startswith("READY=1")
    assert received.count("WATCHDOG=1") >= 2
    assert received[-1] == "STOPPING=1"


def test_nightly_backup_and_its_failure_finding(site_file: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "nightly"
    site_file.write_text(site_file.read_text() + f'\n[backup]\nfolder = "{folder}"\nkeep = 1\n'
                         'passphrase = "env:WK_TEST_BACKUP"\n')
    monkeypatch.setenv("WK_TEST_BACKUP", "a long enough passphrase")
    folder.write_text("a file where the backup folder should be")
    app = open_site(site_file)
    try:
        appliance = Appliance(app)
        asyncio.run(appliance.backup_now())
        failed = app.store.conn.execute(
            "SELECT reason FROM findings WHERE kind = ? AND closed_at IS NULL", [FindingKind.BACKUP_FAILED]).fetchone()
        assert failed is not None and "nightly backup failed" in failed[0]
        folder.unlink()
        asyncio.run(appliance.backup_now())
        asyncio.run(appliance.backup_now())
        assert app.store.conn.execute("SELECT count(*) FROM findings WHERE kind = ? AND closed_at IS NULL",
                                      [FindingKind.BACKUP_FAILED]).fetchone()[0] == 0
        kept = backups(folder)
        assert len(kept) == 1  # keep = 1
        assert verify_backup(kept[0], Secret("a long enough passphrase")).verification.ok
        entries = [json.loads(body) for (body,) in app.store.conn.execute(
            "SELECT body FROM journal WHERE actor = 'watchkeeper' AND kind = 'operation'")]
        entries = [entry for entry in entries if "manifest_sha256" in entry]
        assert len(entries) == 2 and entries[-1]["backup"] == kept[0].name
    finally:
        app.close()


async def test_each_check_logs_one_key_value_line(site_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    from watchkeeper.rules.runner import collect_checks, run_check

    app = open_site(site_file)
    try:
        with caplog.at_level("INFO", logger="watchkeeper.rules.runner"):
            result = await run_check(app, collect_checks(app.pm)["maintenance"])
    finally:
        app.close()
    lines = [record.getMessage() for record in caplog.records if record.name == "watchkeeper.rules.runner"]
    assert len(lines) == 1
    assert lines[0].startswith(f"check=maintenance clause=R4 actor=watchkeeper findings={len(result.findings)} ")
    assert "duration_seconds=" in lines[0]

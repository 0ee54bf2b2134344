"""The store and key failing: a clear message and exit code 3 from the CLI, a finding under `run`, nothing half-written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from watchkeeper import hookimpl
from watchkeeper.core.findings import FindingKind
from watchkeeper.evidence.journal import JournalKeyError, load_key
from watchkeeper.evidence.store import Store, StoreError
from watchkeeper.faces.service import Appliance
from watchkeeper.host import load_plugins, open_site
from watchkeeper.faces.cli.common import os_account

SITE = textwrap.dedent("""\
    [site]
    name = "Store failures"
    time_zone = "Asia/Shanghai"
    store = "{store}"
    journal_key = "{key}"
    [[people]]
    id = "li"
    name = "Li"
    roles = ["operator"]
    trained_on = 2025-01-01
    os_user = "{account}"
    """)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def site(tmp_path: Path, store: str = "data/wk.db", key: str = "keys/journal.key") -> Path:
    config = tmp_path / "site.toml"
    # li's commands are proven by the OS account running the tests: no password touches a store
    # these tests break on purpose.
    config.write_text(SITE.format(store=store, key=key, account=os_account()))
    return config


@pytest.mark.parametrize(("prepare", "store", "message"), [
    (lambda d: (d / "data").mkdir() or (d / "data" / "wk.db").write_bytes(os.urandom(5000)), "data/wk.db",
     "store {d}/data/wk.db: is not a watchkeeper database"),
    (lambda d: None, "/dev/null", "store /dev/null: is a device, not a database file"),
    (lambda d: (d / "data").mkdir(), "data", "store {d}/data: is a folder, not a database file"),
])
def test_an_unusable_store_is_named_with_exit_code_3(tmp_path: Path, prepare, store: str, message: str) -> None:
    prepare(tmp_path)
    result = cli(site(tmp_path, store=store), "journal", "show")
    assert result.returncode == 3, result.stderr
    assert message.format(d=tmp_path) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("prepare", "message"), [
    (lambda key: key.mkdir(parents=True), "is a folder, not a regular file"),
    (lambda key: key.parent.mkdir() or key.symlink_to("/dev/zero"), "is a device, FIFO or socket, not a regular file"),
    (lambda key: key.parent.mkdir() or key.write_text("0" * 5000), "is larger than 1 KiB"),
    (lambda key: key.parent.mkdir() or key.write_text("not hex at all"), "is not a hex key"),
])
def test_an_unusable_key_file_is_named_with_exit_code_3(tmp_path: Path, prepare, message: str) -> None:
    prepare(tmp_path / "keys" / "journal.key")
    result = cli(site(tmp_path), "journal", "show")
    assert result.returncode == 3 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    with pytest.raises(JournalKeyError, match=message):
        load_key(tmp_path / "keys" / "journal.key", create=True)


def test_store_open_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "garbage.db").write_bytes(b"SQLite format 2\x00" + os.urandom(4000))
    with pytest.raises(StoreError, match="garbage.db: is not a watchkeeper database"):
        Store(tmp_path / "garbage.db")


class Heard:
    """A plugin that hears findings as a notifier would."""

    def __init__(self) -> None:
        self.findings: list[tuple[str, bool]] = []

    @hookimpl
    def on_finding(self, finding, site, opened) -> None:
        self.findings.append((str(finding.kind), opened))


def fill_the_store(app) -> None:
    """SQLite's page limit at the file's size, then filler entries until it is full: every write
    after that fails with SQLITE_FULL, as on a full disk."""
    pages = app.store.conn.execute("PRAGMA page_count").fetchone()[0]
    app.store.conn.execute(f"PRAGMA max_page_count = {pages}")
    for size in (2000, 200, 20, 0):  # smaller and smaller, until not even an empty entry fits
        for _ in range(1000):
            try:
                app.journal.append("operation", "li", "filler", {"text": "x" * size})
            except sqlite3.OperationalError as error:
                assert "full" in str(error)
                break
        else:
            raise AssertionError("the store never filled")


async def test_a_full_store_under_run_is_a_finding_and_nothing_is_half_written(tmp_path: Path) -> None:
    pm = load_plugins(None)
    heard = Heard()
    pm.register(heard)
    app = open_site(site(tmp_path), pm)
    try:
        appliance = Appliance(app)
        fill_the_store(app)
        entries = app.store.conn.execute("SELECT count(*) FROM journal").fetchone()[0]
        with pytest.raises(sqlite3.OperationalError, match="full"):
            await appliance.run_check_named("maintenance")
        assert heard.findings == [("store_failed", True)]  # announced, though the store could not hold it
        assert app.store.conn.execute("SELECT count(*) FROM journal").fetchone()[0] == entries
        assert app.journal.verify().ok
        app.store.conn.execute("PRAGMA max_page_count = 1073741823")  # space again
        await appliance.run_check_named("maintenance")
        row = app.store.conn.execute("SELECT reason, closed_at FROM findings WHERE kind = 'store_failed'").fetchone()
        assert row is not None and "check maintenance: the disk is full" in row[0] and row[1] is not None
        assert heard.findings[-1] == ("store_failed", False) and app.journal.verify().ok
    finally:
        app.close()


def _unshare_available() -> bool:
    if os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _unshare_available(), reason="needs root and mount namespaces (unshare -m)")


def in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a private mount namespace: its mounts vanish with it."""
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHON=sys.executable))


@needs_mounts
def test_a_real_full_disk_is_exit_code_3_and_loses_nothing(tmp_path: Path) -> None:
    config = site(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    wk = f'"$PYTHON" -m watchkeeper.faces.cli --config {config}'
    # 4 MiB: a new store's first WAL holds every plugin's migrations (about 1 MiB); the filler takes the rest.
    result = in_namespace(f"""
        mount -t tmpfs -o size=4m tmpfs {data} || exit 90
        {wk} journal add --kind maintenance --actor li --text "before the disk filled" || exit 91
        dd if=/dev/zero of={data}/filler bs=4k 2>/dev/null
        {wk} journal add --kind maintenance --actor li --text "{'x' * 20000}"
        echo "exit=$?" >&2
        rm {data}/filler
        {wk} journal verify >&2 || exit 92
        {wk} journal show >&2
    """)
    assert "exit=3" in result.stderr, result.stderr[-3000:]
    assert "the disk is full" in result.stderr and "Traceback" not in result.stderr
    assert "before the disk filled" in result.stderr and "journal ok" in result.stderr


@needs_mounts
def test_a_read_only_store_is_exit_code_3(tmp_path: Path) -> None:
    config = site(tmp_path)
    assert cli(config, "journal", "add", "--kind", "maintenance", "--actor", "li", "--text", "written").returncode == 0
    data = tmp_path / "data"
    wk = f'"$PYTHON" -m watchkeeper.faces.cli --config {config}'
    result = in_namespace(f"""
        mount --bind {data} {data} && mount -o remount,bind,ro {data} || exit 90
        {wk} journal add --kind maintenance --actor li --text "refused"
        echo "exit=$?" >&2
    """)
    assert "exit=3" in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "read-only" in result.stderr or "cannot be opened" in result.stderr


def test_a_report_cut_short_by_the_disk_leaves_no_file(tmp_path: Path) -> None:
    """A file-size limit makes the write fail half-way, as a full disk would (EFBIG for ENOSPC)."""
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from zoneinfo import ZoneInfo
        from watchkeeper.faces.report_render import write_report
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        report = {{"period": {{"name": "day", "start": "2026-11-28T16:00:00+00:00"}}, "padding": "x" * 500_000}}
        try:
            write_report(report, ZoneInfo("Asia/Shanghai"), Path({str(tmp_path / "reports")!r}), ("json",))
        except OSError as error:
            print("failed:", error.strerror)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "failed: File too large" in result.stdout, result.stdout + result.stderr
    assert list((tmp_path / "reports").iterdir()) == []

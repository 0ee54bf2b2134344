"""`watchkeeper run` on a store whose disk fills or turns read-only (issue 19): it raises store_failed,
/healthz says failing while it lasts, the appliance goes on answering, nothing in the store is
corrupt (the journal verifies, PRAGMA integrity_check), and when space returns the finding is
recorded and closed.

Each test runs the appliance in a mount namespace of its own (`unshare -m`, root only) on a file
system made for it: a small tmpfs for the full disk; for the read-only store an ext4 image on a loop
device, turned read-only by the kernel as a failing disk turns it (errors=remount-ro after an error,
through ext4's trigger_fs_error). A plain `mount -o remount,ro` cannot be used: the kernel refuses
it (EBUSY) while the appliance has the store open for writing, which it always has.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SITE = textwrap.dedent("""\
    [site]
    name = "Store faults"
    time_zone = "Asia/Shanghai"
    store = "data/wk.db"
    journal_key = "keys/journal.key"
    [witness]
    syslog = "off"
    [[people]]
    id = "li"
    name = "Li"
    roles = ["operator"]
    trained_on = 2025-01-01
    """)

pytestmark = pytest.mark.timeout(300)


def _can(script: str) -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, timeout=60,
                          check=False).returncode == 0


needs_mounts = pytest.mark.skipif(not _can("mount -t tmpfs -o size=64k tmpfs /mnt"),
                                  reason="needs root, unshare and nsenter (a private mount namespace)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Appliance:
    """`watchkeeper run` inside a mount namespace that a shell keeps alive after run stops, so the
    store can still be read there (through nsenter) once the appliance is gone."""

    def __init__(self, tmp_path: Path, mount: str) -> None:
        self.config = tmp_path / "site.toml"
        self.config.write_text(SITE)
        self.data = tmp_path / "data"
        self.data.mkdir()
        self.port = _free_port()
        self.python = sys.executable
        run = (f'"{self.python}" -m watchkeeper.faces.cli --config {self.config} run '
               f'--listen 127.0.0.1:{self.port} --log-level INFO')
        # The shell holds the namespace; `run` is its child, its pid printed for the test to signal.
        self.shell = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"{mount} || exit 90\n{run} & echo $! ; wait $! ; echo exit=$? >&2 ; exec sleep 600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.run_pid = int(self.shell.stdout.readline())
        threading.Thread(target=self._read_log, daemon=True).start()
        self.wait_for(lambda: any("running for" in line for line in self.log), "the appliance to start")

    def _read_log(self) -> None:
        for line in self.shell.stderr:
            self.log.append(line)

    def wait_for(self, condition, what: str, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited in vain for {what}:\n{''.join(self.log[-40:])}")
            time.sleep(0.2)

    def inside(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the appliance's mount namespace (where its store is)."""
        result = subprocess.run(["nsenter", "-t", str(self.shell.pid), "-m", *command],
                                capture_output=True, text=True, timeout=120, check=False)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.inside(self.python, "-m", "watchkeeper.faces.cli", "--config", str(self.config), *args,
                           check=False)

    def sql(self, query: str) -> list:
        script = (f"import json, sqlite3; c = sqlite3.connect({str(self.data / 'wk.db')!r}); "
                  f"print(json.dumps(c.execute({query!r}).fetchall()))")
        return json.loads(self.inside(self.python, "-c", script).stdout)

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> str:
        os.kill(self.run_pid, signal.SIGTERM)
        self.wait_for(lambda: any(line.startswith("exit=") for line in self.log), "the appliance to stop")
        return next(line for line in self.log if line.startswith("exit=")).strip()

    def close(self) -> None:
        """End the appliance and the namespace's holder: its mounts (and a loop device) go with it."""
        for pid in (self.run_pid, self.shell.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.shell.wait(timeout=30)


def store_failed_log(appliance: Appliance) -> list[str]:
    return [line for line in appliance.log if "store failed" in line]


@needs_mounts
def test_a_full_disk_under_run_is_a_finding_healthz_fails_nothing_corrupts_and_it_recovers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    appliance = Appliance(tmp_path, f"mount -t tmpfs -o size=16m tmpfs {data}")
    try:
        assert appliance.health()[0] == 200, appliance.health()
        # Filled from inside the namespace, as any other process on the box would fill the disk.
        filled = appliance.inside("dd", "if=/dev/zero", f"of={data}/filler", "bs=64k", check=False)
        assert "No space left on device" in filled.stderr, filled.stderr
        appliance.wait_for(lambda: store_failed_log(appliance), "run to raise store_failed")
        assert "the disk is full" in store_failed_log(appliance)[0]
        status, body = appliance.health()  # still answering, and saying what is wrong
        assert status == 503 and body["status"] == "failing" and "the disk is full" in body["store"]["problem"], body
        refused = appliance.cli("journal", "add", "--kind", "maintenance", "--actor", "li", "--text", "x" * 100_000)
        assert refused.returncode == 3 and "the disk is full" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        verified = appliance.cli("journal", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert appliance.sql("PRAGMA integrity_check") == [["ok"]]

        appliance.inside("rm", f"{data}/filler")  # space returns
        appliance.wait_for(lambda: appliance.health()[0] == 200, "/healthz to say ok again")
        appliance.wait_for(lambda: appliance.sql(
            "SELECT count(*) FROM findings WHERE kind = 'store_failed' AND closed_at IS NOT NULL") == [[1]],
            "the store_failed finding to be recorded and closed")
        [[reason]] = appliance.sql("SELECT reason FROM findings WHERE kind = 'store_failed'")
        assert "the disk is full" in reason
        assert appliance.stop() == "exit=0"
        assert appliance.cli("journal", "verify").returncode == 0
        assert appliance.sql("PRAGMA integrity_check") == [["ok"]]
        assert "x" * 100_000 not in json.dumps(appliance.sql("SELECT body FROM journal"))
    finally:
        appliance.close()


needs_ext4 = pytest.mark.skipif(
    not _can("truncate -s 4M /tmp/wk-probe.img && mkfs.ext4 -q -F /tmp/wk-probe.img && mount -o loop /tmp/wk-probe.img "
             "/mnt && ls /sys/fs/ext4/$(basename $(findmnt -n -o SOURCE /mnt))/trigger_fs_error; "
             "r=$?; umount /mnt; rm -f /tmp/wk-probe.img; exit $r"),
    reason="needs root, loop devices, mkfs.ext4 and ext4's trigger_fs_error in /sys")


@needs_ext4
def test_a_store_turned_read_only_under_run_is_a_finding_and_nothing_corrupts(tmp_path: Path) -> None:
    data, image = tmp_path / "data", tmp_path / "store.img"
    subprocess.run(["truncate", "-s", "24M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    appliance = Appliance(tmp_path, f"mount -o loop,errors=remount-ro {image} {data}")
    try:
        assert appliance.health()[0] == 200, appliance.health()
        device = appliance.inside("findmnt", "-n", "-o", "SOURCE", str(data)).stdout.strip()
        Path(f"/sys/fs/ext4/{Path(device).name}/trigger_fs_error").write_text("1")  # the disk fails
        appliance.wait_for(lambda: store_failed_log(appliance), "run to raise store_failed")
        assert "read-only" in store_failed_log(appliance)[0]
        status, body = appliance.health()
        assert status == 503 and "read-only" in body["store"]["problem"], body
        refused = appliance.cli("journal", "add", "--kind", "maintenance", "--actor", "li", "--text", "refused")
        assert refused.returncode == 3 and "Traceback" not in refused.stderr, refused.stderr
        stopped = appliance.stop()  # its stop cannot be journaled: said, not a traceback
        assert stopped == "exit=3", "".join(appliance.log[-20:])
        # The disk is checked and mounted again, as its operator would: nothing committed was lost.
        appliance.inside("umount", str(data))
        appliance.inside("sh", "-c", f"e2fsck -fy {image} >/dev/null; test $? -le 1")
        appliance.inside("mount", "-o", "loop", str(image), str(data))
        assert appliance.sql("PRAGMA integrity_check") == [["ok"]]
        verified = appliance.cli("journal", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "refused" not in json.dumps(appliance.sql("SELECT body FROM journal"))
    finally:
        appliance.close()

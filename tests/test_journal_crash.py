"""A writer killed with SIGKILL at random moments never loses a committed entry, and the chain holds."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from watchkeeper.evidence.journal import Journal, anchor_path, create_key, load_key
from watchkeeper.evidence.store import Store

from tests.journal_writer import write

WRITER = Path(__file__).with_name("journal_writer.py")
KILLS = 50


def test_sigkill_loses_no_committed_entry(tmp_path: Path) -> None:
    store_path, key_path = tmp_path / "journal.db", tmp_path / "journal.key"
    create_key(key_path)
    rng = random.Random(20261128)
    committed = 0
    # Each victim is a process of its own, forked from a server that imported the journal once: a
    # fresh interpreter per kill spent most of this test importing (the concurrent test below still
    # starts journal_writer.py as a program).
    forks = multiprocessing.get_context("forkserver")
    forks.set_forkserver_preload(["tests.journal_writer"])
    for attempt in range(KILLS):
        batch = rng.choice([1, 1, 7, 50])
        lines, said = forks.Pipe(duplex=False)
        writer = forks.Process(target=write, args=(store_path, key_path, batch, said.send), daemon=True)
        writer.start()
        said.close()
        assert lines.poll(60) and lines.recv() == "ready"
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(10)
        assert writer.exitcode == -signal.SIGKILL
        seen = []
        with contextlib.suppress(EOFError):
            while True:
                seen.append(int(lines.recv()))
        lines.close()
        if seen:
            committed = max(committed, seen[-1])
        journal = Journal(Store(store_path), load_key(key_path), anchor=anchor_path(key_path))
        result = journal.verify()
        assert result.ok, f"kill {attempt}: {result.problem}"
        # Every entry the writer saw committed is there; some after it may be too (killed before saying so).
        assert result.head_seq >= committed, f"kill {attempt}: head {result.head_seq} < committed {committed}"
        journal.store.close()
    assert committed > KILLS, "the writer should have committed entries between kills"


def test_concurrent_writers_and_a_verifier_raise_no_false_alarm(tmp_path: Path) -> None:
    """Appends from two processes queue on the anchor's lock; a verify between them sees a consistent head."""
    store_path, key_path = tmp_path / "journal.db", tmp_path / "journal.key"
    create_key(key_path)
    Store(store_path).close()  # migrated once, before the writers race
    writers = [subprocess.Popen([sys.executable, str(WRITER), str(store_path), str(key_path), str(batch)],
                                stdout=subprocess.PIPE, text=True) for batch in (1, 7)]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    journal = Journal(Store(store_path), load_key(key_path), anchor=anchor_path(key_path))
    try:
        deadline, checks = time.monotonic() + 3, 0
        while time.monotonic() < deadline:
            result = journal.verify()
            assert result.ok, result.problems
            checks += 1
    finally:
        for writer in writers:
            writer.kill()
            writer.communicate(timeout=10)
    result = journal.verify()
    alarms = [e for e in journal.entries() if "alarm" in e["body"]]
    journal.store.close()
    assert result.ok and not alarms and checks > 3
    assert result.entries > 100, "both writers should have appended"

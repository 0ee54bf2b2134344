"""Appends journal entries until killed, saying each committed seq: the crash tests' victim.

Run as a script it prints to stdout; `write` is the same loop for a process forked from a server that
imported watchkeeper once (tests/test_journal_crash.py), saying its lines down a pipe.
"""

import sys
from collections.abc import Callable
from pathlib import Path

from watchkeeper.evidence.journal import Journal, anchor_path, load_key
from watchkeeper.evidence.store import Store


def write(store_path: Path, key_path: Path, batch: int, say: Callable[[str], None]) -> None:
    journal = Journal(Store(store_path), load_key(key_path), anchor=anchor_path(key_path))
    say("ready")
    while True:
        rows = journal.append_many([("operation", "writer", "crash-test", {"n": i}, None) for i in range(batch)])
        say(str(rows[-1]["seq"]))


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1,
          lambda line: print(line, flush=True))

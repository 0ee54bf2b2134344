"""Appends journal entries until killed, printing each committed seq: the crash test's victim."""

import sys
from pathlib import Path

from watchkeeper.evidence.journal import Journal, anchor_path, load_key
from watchkeeper.evidence.store import Store

store_path, key_path = Path(sys.argv[1]), Path(sys.argv[2])
journal = Journal(Store(store_path), load_key(key_path), anchor=anchor_path(key_path))
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1
print("ready", flush=True)
while True:
    rows = journal.append_many([("operation", "writer", "crash-test", {"n": i}, None) for i in range(batch)])
    print(rows[-1]["seq"], flush=True)

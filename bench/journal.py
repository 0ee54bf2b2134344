"""Journal append throughput, batched and single durable, against plain SQLite inserts in the same run.

Run: python bench/journal.py [--entries 100000] [--batch 1000] [--single 300] [--repeats 5]
Prints medians. Target: >= 20,000 entries/s batched. Also the cost of the head anchor (checked and
rewritten, fsynced, under the append lock, at every append): single appends with and without it.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from watchkeeper.evidence.journal import Journal, create_key, load_key
from watchkeeper.evidence.store import Store


def entries(count: int) -> list[tuple]:
    return [("inspection", "li", f"cam-{i % 64}", {"result": "ok", "index": i, "sharpness": 123.4}, None)
            for i in range(count)]


def journal_batched(folder: Path, count: int, batch: int) -> float:
    key = folder / "k"
    create_key(key)
    journal = Journal(Store(folder / "j.db"), load_key(key), "Asia/Shanghai", anchor=folder / "k.head")
    rows = entries(count)
    started = time.perf_counter()
    for offset in range(0, count, batch):
        journal.append_many(rows[offset:offset + batch])
    elapsed = time.perf_counter() - started
    assert journal.verify().ok
    journal.store.close()
    return count / elapsed


def journal_single(folder: Path, count: int, anchored: bool = True) -> float:
    name = "k1" if anchored else "k2"
    key = folder / name
    create_key(key)
    journal = Journal(Store(folder / f"{name}.db"), load_key(key), "Asia/Shanghai",
                      anchor=folder / f"{name}.head" if anchored else None)
    started = time.perf_counter()
    for kind, actor, subject, body, at in entries(count):
        journal.append(kind, actor, subject, body, at)
    elapsed = time.perf_counter() - started
    journal.store.close()
    return count / elapsed


def plain_sqlite(folder: Path, count: int, batch: int) -> float:
    """The anchor: the same rows through plain executemany, WAL + synchronous=FULL, no chain."""
    conn = sqlite3.connect(folder / "plain.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, time_utc, time_local, kind, actor, subject, body, prev_hash, hash)")
    rows = [(i, "2026-11-28T00:00:00.000000+00:00", "2026-11-28T08:00:00+08:00", "inspection", "li",
             f"cam-{i % 64}", '{"index":%d}' % i, "0" * 64, "0" * 64) for i in range(count)]
    started = time.perf_counter()
    for offset in range(0, count, batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?)", rows[offset:offset + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    batched, single, unanchored, plain = [], [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            plain.append(plain_sqlite(folder, args.entries, args.batch))
            batched.append(journal_batched(folder, args.entries, args.batch))
            single.append(journal_single(folder, args.single))
            unanchored.append(journal_single(folder, args.single, anchored=False))
    b, s, u, p = (statistics.median(v) for v in (batched, single, unanchored, plain))
    print(f"journal batched ({args.batch}/txn): {b:,.0f} entries/s (median of {args.repeats}); target >= 20,000")
    print(f"journal single durable append:  {s:,.0f} entries/s")
    print(f"  same without the head anchor: {u:,.0f} entries/s; ratio anchored / unanchored: {s / u:.2f}")
    print(f"plain SQLite inserts (anchor):  {p:,.0f} rows/s")
    print(f"ratio journal batched / plain SQLite: {b / p:.2f}")


if __name__ == "__main__":
    main()

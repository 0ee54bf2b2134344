"""What it costs to keep an estate action and its journal entry together across two databases.

Run: python bench/estate_act.py [--actions 20] [--rounds 7] [--postgres]

An estate action (enrol, revoke, clear a flag) changes the sites' store (SQLite, or PostgreSQL with
--postgres) and journals who, what and why in the estate's own SQLite journal. Measured is
`EstateApp.act` (the entry held in the store's `journal_pending` in the action's transaction, then
journaled and dropped, after a check that the journal is whole) against the anchor, the way the
estate acted before: the change run inside the journal's transaction, the entry appended after it,
with nothing to bridge a crash between the two commits. The two run interleaved, in a rotated order
each round, the same change (clearing a site's flag) on the same store; printed are the median
milliseconds per action of each and their ratio. Both commit durably (synchronous=FULL / fsync).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from watchkeeper.faces.estate.config import load_estate  # noqa: E402
from watchkeeper.faces.estate.people import EstateApp, open_estate_app  # noqa: E402
from watchkeeper.faces.estate.store import EstateStore, open_store  # noqa: E402


def anchor_act(app: EstateApp, store: EstateStore) -> None:
    """The estate's act before: the change inside the journal's transaction (two databases, two commits)."""
    def write(_conn: Any) -> list[tuple[str, str, str, dict[str, Any], None]]:
        store.clear_flag("s1")
        return [("operation", "bench", "s1", {"estate": "clear_flag", "reason": "bench"}, None)]

    app.journal.append_with(write)


def held_act(app: EstateApp, store: EstateStore) -> None:
    app.act("bench", "clear_flag", "s1", "bench", lambda: store.clear_flag("s1"))


@contextlib.contextmanager
def estate(folder: Path, url: str) -> Iterator[tuple[EstateApp, EstateStore]]:
    (folder / "estate.toml").write_text('[estate]\nname = "Bench"\nstore = "estate.db"\n'
                                        + ('database_url = "env:WK_BENCH_ESTATE_DATABASE"\n' if url else ""))
    config = load_estate(folder / "estate.toml")
    store = open_store(config)
    app = open_estate_app(config)
    try:
        app.attach(store)
        store.enrol("s1", "bench")
        yield app, store
    finally:
        app.close()
        store.close()


def measure(act: Callable[[EstateApp, EstateStore], None], app: EstateApp, store: EstateStore, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        act(app, store)
    return (time.perf_counter() - started) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="the sites' store in a throwaway PostgreSQL server")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = ""
        if args.postgres:
            import os

            from tests.estate_postgres import fresh_database, postgres_server

            server = stack.enter_context(postgres_server())
            if server is None:
                raise SystemExit("PostgreSQL is not installed (Debian: postgresql)")
            url = fresh_database(server, "estate_act_bench")
            os.environ["WK_BENCH_ESTATE_DATABASE"] = url
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wk-estate-act-")))
        app, store = stack.enter_context(estate(folder, url))
        configs: dict[str, Callable[[EstateApp, EstateStore], None]] = {"before (anchor)": anchor_act,
                                                                         "held entry": held_act}
        times: dict[str, list[float]] = {name: [] for name in configs}
        names = list(configs)
        for number in range(args.rounds):
            for name in names[number % 2:] + names[:number % 2]:
                times[name].append(measure(configs[name], app, store, args.actions))
    anchor = statistics.median(times["before (anchor)"])
    print(f"estate action ({'PostgreSQL' if args.postgres else 'SQLite'} store), {args.actions} actions x "
          f"{args.rounds} rounds, median ms per action:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:16} {median:7.2f} ms  ({median / anchor:.2f}x)")


if __name__ == "__main__":
    main()

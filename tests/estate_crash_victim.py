"""Runs one `watchkeeper estate` command and kills itself (SIGKILL) at a chosen point: the crash test's victim.

`python tests/estate_crash_victim.py POINT ARGS...`. POINT `journal`: once the action is committed in the
sites' store, before its journal entry is; `drop`: once the entry is journaled, before its held copy is
dropped. Nothing of the estate's own code is replaced: only the moment of death is chosen.
"""

import os
import signal
import sys

from watchkeeper.evidence.journal import Journal
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.estate.store import EstateStore

point, args = sys.argv[1], sys.argv[2:]
append_with = Journal.append_with


def die(*_args: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def append_then_die(self: Journal, write):  # type: ignore[no-untyped-def]
    entries = list(write(self.store.conn))  # the estate's entries (before the fix, the action ran in here)
    if any(isinstance(body, dict) and "estate" in body for _kind, _actor, _subject, body, _at in entries):
        die()
    return append_with(self, lambda _conn: entries)


if point == "journal":
    Journal.append_with = append_then_die  # type: ignore[method-assign]
elif point == "drop":
    EstateStore.drop_entry = die  # type: ignore[method-assign]
make_cli()(args, prog_name="watchkeeper")

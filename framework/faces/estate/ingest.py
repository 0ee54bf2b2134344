"""The estate's single writer: pushes parsed, checked and stored in a process of its own, many per commit.

Why a process: a push costs the estate about twice the CPU of reading it (the JSON, every item's
digest, the head's links, a dozen statements), and in one Python process that work and the event
loop's HTTP share one interpreter lock: the loop waited on the writer thread at every lock release
(a hash, a query, a send). In its own process the writer has its own lock (and core, when there is
one); the event loop only authenticates the site (one indexed lookup) and hands the body over
unread. The messages are small tuples of plain values: ("push", site, body bytes) and ("refusal",
address, site, reason).

Group commit: pushes that arrive while a batch is being written wait for the next one, so many sites
share each commit (fsync); each push is in a savepoint of the batch, so a bad one is undone alone.
A push is acknowledged only after its batch commits. A writer process that dies fails its batch
(503: the sites resend) and a new one is started for the next.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from watchkeeper.faces.estate.protocol import KINDS, canonical, text_digest
from watchkeeper.faces.estate.store import EstateStore

log = logging.getLogger(__name__)
#: Pushes committed together at most: one transaction (one fsync) makes them all durable.
BATCH_PUSHES = 200
#: What a push's caller gets: an HTTP status and the JSON body to answer with.
Answer = tuple[int, dict[str, Any]]
STORE_FAILED = "the estate could not store the push; send it again later"


class BadPush(ValueError):
    """A push body that is not a list of well-formed items."""


def check_items(data: Any) -> list[dict[str, Any]]:
    """The items of a push body, each one's digest checked against its body."""
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BadPush("the body must be {\"items\": [...]}")
    previous = None
    checked = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("seq"), int) or item.get("kind") not in KINDS:
            raise BadPush("each item needs an integer seq and a known kind")
        if previous is not None and item["seq"] != previous + 1:
            raise BadPush("items must be consecutive")
        text = canonical(item.get("body"))
        if item.get("digest") != text_digest(item["kind"], text):
            raise BadPush(f"item {item['seq']}: the digest does not match its body")
        previous = item["seq"]
        # A copy of the known fields only, with the canonical text the digest was checked against,
        # which the store keeps as is (not serialised a second time).
        checked.append({"seq": item["seq"], "kind": item["kind"], "digest": item["digest"], "body": item.get("body"),
                        "created_at": item.get("created_at"), "after_gap": item.get("after_gap"), "text": text})
    return checked


def push_part(store: EstateStore, site_id: str, items: list[dict[str, Any]]) -> Answer:
    """One push inside the batch's transaction: 409 when it starts past what the estate holds."""
    state = store.site_state(site_id)
    acked = int(state["acked"])
    if items and items[0]["seq"] > acked + 1 and not items[0].get("after_gap"):
        return 409, {"acked": acked, "error": "items missing before this push"}
    acked, problems = store.ingest_part(site_id, items, state)
    return 200, {"acked": acked, "flags": problems}


# --- in the writer process ---------------------------------------------------------------------

_STORE: list[EstateStore] = []


def _start(path: str, database_url: str) -> None:
    """The writer process's start: its own connection. Ctrl-C and SIGTERM are the server's to handle:
    it finishes the batch in hand and then ends this process; a server killed outright ends it too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True, name="estate-parent-watch").start()
    _STORE.append(EstateStore(Path(path), database_url))


def _end_with(parent: int) -> None:
    """Nothing tells a pool's process that the server died (SIGKILL, OOM): without this it would stay,
    holding the store open. A batch cut short here was never acknowledged: the sites resend it."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> bool:
    return bool(_STORE)


def write_batch(messages: list[tuple[Any, ...]]) -> list[Any]:
    """Parse and check each push (outside the transaction), then store them all in one."""
    store = _STORE[0]
    answers: list[Any] = [None] * len(messages)
    parts, where = [], []
    for index, message in enumerate(messages):
        if message[0] == "refusal":
            _tag, remote, site_id, reason = message
            parts.append(lambda writer, r=remote, s=site_id, why=reason: writer.refusal(r, s, why))
        else:
            _tag, site_id, body = message
            try:
                items = check_items(json.loads(body))
            except (ValueError, UnicodeDecodeError, RecursionError) as error:
                answers[index] = (400, {"error": str(error)})
                continue
            parts.append(lambda writer, s=site_id, i=items: push_part(writer, s, i))
        where.append(index)
    try:
        results = store.batch(parts)
    except Exception as error:  # the commit failed: every push in it is refused and resent later
        raise RuntimeError(f"a batch of {len(parts)} failed: {error}") from None
    for index, result in zip(where, results):
        if isinstance(result, Exception):
            log.error("estate store: a push failed: %s", result)
            answers[index] = (503, {"error": STORE_FAILED}) if messages[index][0] == "push" else False
        else:
            answers[index] = result
    return answers


# --- in the server -----------------------------------------------------------------------------

class Writer:
    """The server's side: queues messages, sends them to the writer process in batches, and hands each
    caller its answer once the batch has committed."""

    def __init__(self, path: Path, database_url: str = "") -> None:
        self.args = (str(path), database_url)
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self.task: asyncio.Task[None] | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # spawn: a fork of a process with an event loop and threads would inherit their locks.
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start, initargs=self.args)
        return self.pool

    async def start(self) -> None:
        """Start the writer process now (its store open), not at the first push."""
        await asyncio.get_running_loop().run_in_executor(self._pool(), _ready)

    async def run(self, message: tuple[Any, ...]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.pending.append((message, future))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._drain())
        # A client that hangs up does not undo its push: shielded, it is committed all the same.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending[:BATCH_PUSHES], self.pending[BATCH_PUSHES:]
            try:
                results: list[Any] = await loop.run_in_executor(self._pool(), write_batch,
                                                                [message for message, _future in batch])
            except BrokenProcessPool as error:
                log.error("estate writer process ended; a new one starts for the next pushes")
                self.pool = None
                results = [error] * len(batch)
            except Exception as error:  # the commit failed: every push in it is refused and resent later
                log.error("estate store: %s", error)
                results = [error] * len(batch)
            for (_message, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def close(self) -> None:
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        if self.pool is not None:
            await asyncio.to_thread(self.pool.shutdown, True)
            self.pool = None

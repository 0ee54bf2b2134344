"""The appliance's side of distributed work: tasks sent in windows, each result recorded once.

Retrieval intents and finished tasks are read from the run's event stream as workers announce them.
Redis holds at most `window` tasks of a run at a time (queued, running, or answered and not yet
recorded): a task's result is deleted once recorded, and the next task is sent in its place, so a
site of 10,000 cameras needs no more broker memory than one of `window`. Results are read when a
worker says its task is done (XREAD, blocking) rather than by polling every task's result key; a
sweep every SWEEP_SECONDS reads the window's keys in case a notice was lost with its worker.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs
from arq import create_pool
from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import deserialize_result
from redis.exceptions import RedisError

from watchkeeper.core.i18n import N_, Text
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS
from watchkeeper.evidence.journal import JournalTampered
from watchkeeper.rules import inspection, viewing
from watchkeeper.rules.workers import (DEVICE, INSPECT, IN_PROGRESS_EXTRA, dumps, events_key, finding_from, loads,
                                       redis_settings, task_id)
from watchkeeper.site.app import App
from watchkeeper.site.checks import CheckContext, CheckResult
from watchkeeper.site.config import Camera
from watchkeeper.site.distributed import Distributed

log = logging.getLogger(__name__)

#: How long one read of the event stream waits for news (milliseconds).
READ_BLOCK_MS = 1000
#: How often every task in the window has its result looked for, notice or not (seconds).
SWEEP_SECONDS = 5.0
#: Result keys read in one MGET.
BATCH = 500
#: The run's reader holds a lease on its event stream, renewed as it reads (at least every second): a
#: stream whose lease ran out was left by an appliance that died mid-run, and its unread intents are
#: recovered at the next start (`recover_intents`).
LEASE_SECONDS = 30


@attrs.frozen
class Task:
    """One task of a run: its id (run, subject, step), the camera or device, arq's function, its request."""

    id: str
    subject: str
    function: str
    request: dict[str, Any]


def result_of(data: dict[str, Any]) -> CheckResult:
    """A task's findings and scope as the CheckResult the in-process runner would have made."""
    return CheckResult(findings=[finding_from(f) for f in data["findings"]],
                       scope={(kind, subject, channel) for kind, subject, channel in data["scope"]})


async def run_tasks(app: App, run: str, tasks: list[Task], actor: str, run_id: int | None,
                    record: Callable[[Task, dict[str, Any]], None],
                    failed: Callable[[Task, str], dict[str, Any]]) -> None:
    """Send the tasks, `window` at a time, and record each one's result once (a task nobody could do
    as failed(task, why)); each retrieval a worker announces is written to the store as it comes."""
    section = app.site.distributed
    assert section is not None
    try:
        pool = await create_pool(redis_settings(section), job_serializer=dumps, job_deserializer=loads,
                                 default_queue_name=section.queue)
    except (OSError, RedisError) as error:  # no broker: every task says so, and the run is recorded
        log.error("%s: the broker %s does not answer (%s)", run, section.where, type(error).__name__)
        for task in tasks:
            record(task, failed(task, N_("not done: the task broker {where} does not answer ({error})",
                                         where=section.where, error=type(error).__name__)))
        return
    events = events_key(section.queue, run)
    try:
        await pool.set(lease_key(events), os.getpid(), ex=LEASE_SECONDS)
        await _recover_quietly(pool, app, section)  # what an earlier appliance of this site died before reading
        await _drive(pool, section, events, collections.deque(tasks), app, actor, run_id, record, failed)
    finally:
        try:
            await pool.delete(events, lease_key(events))
        except (OSError, RedisError):
            pass  # the stream expires by itself
        await pool.aclose()


async def _drive(pool: ArqRedis, section: Distributed, events: str, waiting: collections.deque[Task], app: App,
                 actor: str, run_id: int | None, record: Callable[[Task, dict[str, Any]], None],
                 failed: Callable[[Task, str], dict[str, Any]]) -> None:
    # A task lost with its worker is started again after task_seconds + IN_PROGRESS_EXTRA, then runs
    # for up to task_seconds: no result at all for longer than that means no worker is serving.
    stall = 2 * section.task_seconds + IN_PROGRESS_EXTRA + 30
    pending: dict[str, Task] = {}
    last, progressed, swept, leased = "0-0", time.monotonic(), time.monotonic(), time.monotonic()
    sent = 0
    while waiting or pending:
        if time.monotonic() - leased >= LEASE_SECONDS / 6:
            await pool.set(lease_key(events), os.getpid(), ex=LEASE_SECONDS)
            leased = time.monotonic()
        while waiting and len(pending) < section.window:
            task = waiting.popleft()
            await pool.enqueue_job(task.function, {**task.request, "events": events}, _job_id=task.id,
                                   _queue_name=section.queue)
            pending[task.id] = task
            sent += 1
        done: set[str] = set()
        for _stream, entries in await pool.xread({events: last}, count=1000, block=READ_BLOCK_MS) or []:
            for entry_id, fields in entries:
                last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                event = loads(fields[b"data"])
                if event["kind"] == "retrieval":
                    # The worker's intent, before its fetch: recorded whether or not its task finishes.
                    viewing.record_retrieval(app, event["device"], event["channel"], event["action"], actor,
                                             event["purpose"], run=run_id, attempt=event["try"],
                                             worker=event["worker"], announced=f"{events}#{last}")
                elif event["task"] in pending:
                    done.add(event["task"])
            await pool.xtrim(events, minid=last)  # read: the stream keeps only what is not yet read
        if time.monotonic() - swept >= SWEEP_SECONDS:
            done |= set(pending)
            swept = time.monotonic()
        if done and await _results(pool, sorted(done), pending, record, failed):
            progressed = time.monotonic()
        elif pending and time.monotonic() - progressed > stall:
            for task in [*pending.values(), *waiting]:
                # Taken off the queue, so a worker that comes up later does not work for nobody.
                await pool.zrem(section.queue, task.id)
                await pool.delete(job_key_prefix + task.id)
                record(task, failed(task, N_("no worker finished this task within {seconds} s (is `watchkeeper "
                                             "worker` running for this queue?)", seconds=format(stall, "g"))))
            pending.clear()
            waiting.clear()
    log.info("%d tasks sent to %s queue %s, at most %d at once", sent, section.where, section.queue, section.window)


async def _results(pool: ArqRedis, ids: list[str], pending: dict[str, Task],
                   record: Callable[[Task, dict[str, Any]], None],
                   failed: Callable[[Task, str], dict[str, Any]]) -> bool:
    """Record the results stored for these tasks, then delete them (recorded: Redis need not keep them)."""
    found = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        for job, value in zip(chunk, await pool.mget([result_key_prefix + j for j in chunk])):
            if value is None or job not in pending:
                continue
            task = pending.pop(job)
            outcome = deserialize_result(value, deserializer=loads)
            data = outcome.result if outcome.success and isinstance(outcome.result, dict) else failed(
                task, N_("the task failed on the workers: {error}", error=str(outcome.result)[:200]))
            record(task, data)
            found.append(result_key_prefix + job)
    if found:
        await pool.delete(*found)
    return bool(found)


def lease_key(events: str) -> str:
    """The key a run's reader holds while it reads the run's event stream."""
    return f"{events}:reader"


def _glob(text: str) -> str:
    """`text` matched literally in a SCAN pattern (a site or queue name may hold glob characters)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


async def recover_intents(app: App) -> int:
    """At start: the retrieval intents a dead appliance left unread in Redis, recorded and journaled.

    Returns how many were recorded; Redis not answering is logged and left for the next start."""
    section = app.site.distributed
    if section is None:
        return 0
    try:
        pool = await create_pool(redis_settings(section), job_serializer=dumps, job_deserializer=loads,
                                 default_queue_name=section.queue)
    except (OSError, RedisError) as error:
        log.warning("retrieval intents left in %s not recovered now: %s", section.where, type(error).__name__)
        return 0
    try:
        return await _recover_quietly(pool, app, section)
    finally:
        await pool.aclose()


async def _recover_quietly(pool: ArqRedis, app: App, section: Distributed) -> int:
    """`_recover`, whose failure is logged and never stops the start or the run that asked for it."""
    try:
        return await _recover(pool, app, section)
    except (OSError, RedisError, sqlite3.Error, JournalTampered) as error:  # left for the next start or run
        log.error("retrieval intents left in %s not recovered: %s: %s", section.where, type(error).__name__, error)
        return 0


async def _recover(pool: ArqRedis, app: App, section: Distributed) -> int:
    """Every event stream of this site's runs whose reader's lease ran out: its retrieval intents go to
    `device_retrievals` (each stream entry once) with one journal entry saying whose and why; the
    dead run's tasks not yet started are taken off the queue, so no worker fetches for nobody."""
    prefix = events_key(section.queue, f"{section.queue}:{app.site.name}:")
    recorded = 0
    async for key in pool.scan_iter(match=_glob(prefix) + "*", count=1000):
        stream = key.decode() if isinstance(key, bytes) else key
        if stream.endswith(":reader") or await pool.exists(lease_key(stream)):
            continue  # a lease, or a run whose reader is alive (another process of this site)
        run = stream[len(events_key(section.queue, "")):]
        found = re.search(r":run-(\d+)@", run)
        run_id = int(found.group(1)) if found else None
        rows = []
        for entry_id, fields in await pool.xrange(stream):
            entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            event = loads(fields[b"data"])
            if event.get("kind") != "retrieval":
                continue
            # When the worker announced it: its own time, else the stream entry's (Redis's clock).
            at = (datetime.fromisoformat(event["at"]) if event.get("at")
                  else datetime.fromtimestamp(int(entry.split("-")[0]) / 1000, timezone.utc))
            rows.append(viewing.retrieval_row(event["device"], event["channel"], event["action"], "watchkeeper",
                                              event["purpose"], run=run_id, attempt=event.get("try"),
                                              worker=event.get("worker"), at=at, announced=f"{stream}#{entry}"))
        recorded += _record_recovered(app, run, run_id, rows)
        queued = [member async for member, _score in pool.zscan_iter(section.queue, match=_glob(f"{run}:") + "*")]
        if queued:
            await pool.zrem(section.queue, *queued)
            await pool.delete(*(job_key_prefix + (m.decode() if isinstance(m, bytes) else m) for m in queued))
        await pool.delete(stream)  # after the commit: a crash before it only reads them again, recorded once
    return recorded


def _record_recovered(app: App, run: str, run_id: int | None, rows: list[dict[str, Any]]) -> int:
    """The rows not yet recorded, and the journal entry telling of them, in one transaction."""
    columns = list(rows[0]) if rows else []
    new: list[dict[str, Any]] = []

    def write(conn: Any) -> list[tuple[str, str, str, dict[str, Any], None]]:
        for row in rows:
            cursor = conn.execute(f"INSERT OR IGNORE INTO device_retrievals ({', '.join(columns)})"
                                  f" VALUES ({', '.join('?' * len(columns))})", [row[c] for c in columns])
            if cursor.rowcount:
                new.append(row)
        if not new:
            return []
        return [("retrieval", "watchkeeper", f"run-{run_id}" if run_id is not None else run, {
            "intents_recovered": [{k: row[k] for k in ("device", "channel", "action", "purpose", "worker",
                                                       "attempt", "at_utc")} for row in new],
            "reason": N_("announced by workers before their fetches and left unread in Redis by an appliance "
                         "that stopped mid-run: recorded as watchkeeper's attempted retrievals")}, None)]

    if rows:
        app.journal.append_with(write)
        if new:
            log.warning("%d retrieval intents of %s recovered from the broker", len(new), run)
    return len(new)


def failed_camera(camera: str, run: int, reason: str) -> dict[str, Any]:
    """A camera no worker could inspect: its check_failed finding and its row, as a task's result."""
    finding = Finding(FindingKind.CHECK_FAILED, camera, reason if isinstance(reason, Text) else reason[:300])
    row = {"run": run, "camera": camera, "channel": None, "frames": 0, "playback": "not tried"}
    inspection.finish_row(row, [finding])
    return {"findings": [finding.to_dict()], "scope": [[str(FindingKind.CHECK_FAILED), camera, None]], "row": row}


async def inspect_remotely(app: App, cameras: list[Camera], context: CheckContext, run_id: int, playback: bool,
                           record: Callable[[str, CheckResult, dict[str, Any]], None]) -> CheckResult:
    """Send each camera's inspection to the workers and record each result once, as it arrives."""
    section = app.site.distributed
    assert section is not None
    run = f"{section.queue}:{app.site.name}:run-{run_id}@{context.now.isoformat()}"
    reference = await inspection.references(app, cameras)
    tasks = [Task(task_id(run, camera.id, "inspection"), camera.id, INSPECT, {
        "site": app.site.name, "camera": camera.id, "run": run_id, "now": context.now.isoformat(),
        "actor": context.actor, "playback": playback, "reference": reference.get(camera.id)}) for camera in cameras]
    total = CheckResult()

    def recorded(task: Task, data: dict[str, Any]) -> None:
        result = result_of(data)
        total.merge(result)
        record(task.subject, result, data["row"])

    await run_tasks(app, run, tasks, context.actor, run_id, recorded,
                    lambda task, reason: failed_camera(task.subject, run_id, reason))
    return total


async def on_workers(app: App, kind: str, requests: dict[str, dict[str, Any]],
                     context: CheckContext) -> dict[str, dict[str, Any]]:
    """Each device's `kind` work (workers.DEVICE_WORK) done by the workers: its findings and scope (a
    device that failed is its finding, as per_device makes it), the data read, and the worker."""
    section = app.site.distributed
    assert section is not None
    run = f"{section.queue}:{app.site.name}:{kind}@{context.now.isoformat()}"
    tasks = [Task(task_id(run, device, kind), device, DEVICE, {
        "site": app.site.name, "kind": kind, "device": device, "now": context.now.isoformat(), **request})
        for device, request in requests.items()]
    answers: dict[str, dict[str, Any]] = {}

    def failed(task: Task, reason: str) -> dict[str, Any]:
        finding = Finding(FindingKind.CHECK_FAILED, task.subject, reason if isinstance(reason, Text) else reason[:300])
        return {"findings": [finding.to_dict()], "data": {}, "worker": None,
                "scope": [[str(kind), task.subject, None] for kind in (*DEVICE_FAILURE_KINDS, FindingKind.CHECK_FAILED)]}

    await run_tasks(app, run, tasks, context.actor, None, lambda task, data: answers.__setitem__(task.subject, data),
                    failed)
    return answers

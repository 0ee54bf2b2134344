"""Per-camera inspection on worker processes through arq (Redis): the task, the worker, the dispatch.

The appliance enqueues one task per camera, with an id made of the run and the camera, and stays
the one writer of the store: workers talk to devices with the same driver and rule plugins and send
back findings, scope and the result row, never touching the store. arq keeps a task in its queue
until a worker has stored the task's result, so a task whose worker was killed is started again
once its in-progress mark expires (task_seconds + 10 s); a task id already queued or answered is
not queued again, and the appliance records each task's result once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pluggy
from arq import Worker, create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import deserialize_result
from arq.worker import func
from redis.exceptions import RedisError

from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.devices.drivers import Platform
from watchkeeper.rules import inspection
from watchkeeper.site.app import App, DeviceReach
from watchkeeper.site.checks import CheckContext, CheckResult
from watchkeeper.site.config import Camera, Site
from watchkeeper.site.distributed import Distributed

log = logging.getLogger(__name__)

#: The task's name in the queue.
INSPECT = "inspect_camera"
#: How often the appliance looks for finished tasks' results.
POLL_SECONDS = 0.2
#: How long a task's result is kept in Redis: a re-sent task id within it is not run again.
KEEP_RESULT_SECONDS = 3600
#: arq keeps a started task marked in progress for its time limit plus this, then another worker
#: may start it again (so a worker lost mid-task costs that long, once).
IN_PROGRESS_EXTRA = 10


def dumps(value: Any) -> bytes:
    """JSON, not arq's default pickle: a worker never unpickles what someone wrote into Redis."""
    return json.dumps(value, default=str).encode()


def loads(data: bytes) -> Any:
    return json.loads(data)


def redis_settings(section: Distributed) -> RedisSettings:
    """How to reach the broker; the password comes from its secret, never from the url."""
    parts = urlsplit(section.url)
    return RedisSettings(host=parts.hostname or "127.0.0.1", port=parts.port or 6379,
                         database=int(parts.path.strip("/") or 0), password=section.password.reveal() or None,
                         ssl=parts.scheme == "rediss", conn_timeout=5, conn_retries=3)


def task_id(run: str, device: str, step: str) -> str:
    """A task's id: the same run, device and step is the same task, however often it is sent."""
    return f"{run}:{device}:{step}"


def finding_from(data: dict[str, Any]) -> Finding:
    fields = {key: value for key, value in data.items() if key != "clause"}
    fields["observed_at"] = datetime.fromisoformat(fields["observed_at"])
    return Finding(**fields)


@attrs.define
class WorkerSite(DeviceReach):
    """What a worker has of the site: its config, plugins and platforms; never its store."""

    site: Site
    pm: pluggy.PluginManager
    platforms: dict[str, Platform]


async def inspect_camera_task(ctx: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A worker's task: one camera's inspection, bounded by the task time limit; never raises (a
    failure is the camera's finding, so the result is always JSON the appliance can record)."""
    reach: WorkerSite = ctx["reach"]
    limit: float = ctx["task_seconds"]
    result = CheckResult()
    row: dict[str, Any] = {"run": request["run"], "camera": request["camera"], "channel": None, "frames": 0,
                           "playback": "not tried"}
    retrievals: inspection.Retrievals = []
    try:
        camera = reach.site.camera(request["camera"])
        if reach.site.name != request["site"]:
            raise KeyError(f"this worker serves site {reach.site.name!r}, not {request['site']!r}")
        async with asyncio.timeout(limit):
            result, row, retrievals = await inspection.inspect_camera(
                reach, camera, datetime.fromisoformat(request["now"]), request["actor"], request["run"],
                ctx["folder"], request["playback"], functools.partial(inspection.reference_from, request.get("reference")))
    except TimeoutError:
        result.evaluated([FindingKind.UNREACHABLE], request["camera"])
        result.findings.append(Finding(FindingKind.UNREACHABLE, request["camera"],
                                       f"the camera's inspection did not finish within {limit:g} s (task time limit)"))
        inspection.finish_row(row, result.findings)
    except KeyError as error:  # the worker's site.toml is not the appliance's
        result.evaluated([FindingKind.CHECK_FAILED], request["camera"])
        result.findings.append(Finding(FindingKind.CHECK_FAILED, request["camera"],
                                       f"the worker cannot inspect this camera: {error}"[:300]))
        inspection.finish_row(row, result.findings)
    return {"findings": [f.to_dict() for f in result.findings], "scope": sorted(result.scope, key=str),
            "row": row, "retrievals": retrievals, "worker": ctx["worker_name"], "try": ctx.get("job_try", 1)}


def worker_for(site: Site, pm: pluggy.PluginManager, platforms: dict[str, Platform],
               burst: bool = False) -> Worker:
    """An arq worker serving the site's queue with the inspection task."""
    section = site.distributed
    if section is None:
        raise ValueError("the site config has no [distributed] section")
    folder = Path(tempfile.mkdtemp(prefix="watchkeeper-worker-"))

    async def shutdown(ctx: dict[str, Any]) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    ctx = {"reach": WorkerSite(site, pm, platforms), "task_seconds": section.task_seconds, "folder": folder,
           "worker_name": f"{socket.gethostname()}:{os.getpid()}"}
    # arq's own limit is a backstop a little past the task's: the task ends itself with a finding first.
    function = func(inspect_camera_task, name=INSPECT, timeout=section.task_seconds + 5, max_tries=section.tries)
    return Worker(functions=[function], queue_name=section.queue, redis_settings=redis_settings(section),
                  max_jobs=section.worker_jobs, keep_result=KEEP_RESULT_SECONDS, job_serializer=dumps,
                  job_deserializer=loads, ctx=ctx, on_shutdown=shutdown, poll_delay=POLL_SECONDS, burst=burst,
                  handle_signals=not burst, max_burst_jobs=-1, log_results=False)


def _failed(camera: str, run: int, reason: str) -> dict[str, Any]:
    finding = Finding(FindingKind.CHECK_FAILED, camera, reason[:300])
    row = {"run": run, "camera": camera, "channel": None, "frames": 0, "playback": "not tried"}
    inspection.finish_row(row, [finding])
    return {"findings": [finding.to_dict()], "scope": [[str(FindingKind.CHECK_FAILED), camera, None]],
            "row": row, "retrievals": []}


async def inspect_remotely(app: App, cameras: list[Camera], context: CheckContext, run_id: int, playback: bool,
                           record: Callable[[str, CheckResult, dict[str, Any], inspection.Retrievals], None]
                           ) -> CheckResult:
    """Send each camera's inspection to the workers and record each result once, as it arrives."""
    section = app.site.distributed
    assert section is not None
    run = f"{section.queue}:{app.site.name}:run-{run_id}@{context.now.isoformat()}"
    total = CheckResult()
    try:
        pool = await create_pool(redis_settings(section), job_serializer=dumps, job_deserializer=loads,
                                 default_queue_name=section.queue)
    except (OSError, RedisError) as error:  # no broker: every camera says so, and the run is recorded
        log.error("inspection run %d: the broker %s does not answer (%s)", run_id, section.where,
                  type(error).__name__)
        for camera in cameras:
            _record(_failed(camera.id, run_id, f"not inspected: the task broker {section.where} does not answer "
                                               f"({type(error).__name__})"), camera.id, record, total)
        return total
    try:
        pending: dict[str, str] = {}
        reference = await inspection.references(app, cameras)
        for camera in cameras:
            job = task_id(run, camera.id, "inspection")
            request = {"site": app.site.name, "camera": camera.id, "run": run_id, "now": context.now.isoformat(),
                       "actor": context.actor, "playback": playback, "reference": reference.get(camera.id)}
            await pool.enqueue_job(INSPECT, request, _job_id=job, _queue_name=section.queue)
            pending[job] = camera.id
        log.info("inspection run %d: %d tasks sent to %s queue %s", run_id, len(pending), section.where,
                 section.queue)
        await _collect(pool, section, pending, run_id, record, total)
    finally:
        await pool.aclose()
    return total


async def _collect(pool: ArqRedis, section: Distributed, pending: dict[str, str], run_id: int,
                   record: Callable[[str, CheckResult, dict[str, Any], inspection.Retrievals], None],
                   total: CheckResult) -> None:
    """Results as they arrive; tasks nobody finishes for a whole stall window become findings."""
    # A task lost with its worker is started again after task_seconds + IN_PROGRESS_EXTRA, then runs
    # for up to task_seconds: no result at all for longer than that means no worker is serving.
    stall = 2 * section.task_seconds + IN_PROGRESS_EXTRA + 30
    progressed = time.monotonic()
    while pending:
        ids = list(pending)
        found = False
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for job, value in zip(chunk, await pool.mget([result_key_prefix + j for j in chunk])):
                if value is None:
                    continue
                camera = pending.pop(job)
                found = True
                outcome = deserialize_result(value, deserializer=loads)
                data = outcome.result if outcome.success and isinstance(outcome.result, dict) else _failed(
                    camera, run_id, f"the inspection task failed on the workers: {outcome.result}")
                _record(data, camera, record, total)
        if found:
            progressed = time.monotonic()
        elif time.monotonic() - progressed > stall:
            for job, camera in sorted(pending.items()):
                # Taken off the queue, so a worker that comes up later does not inspect for nobody.
                await pool.zrem(section.queue, job)
                await pool.delete(job_key_prefix + job)
                _record(_failed(camera, run_id, f"no worker finished this camera's inspection within {stall:g} s "
                                                "(is `watchkeeper worker` running for this queue?)"),
                        camera, record, total)
            pending.clear()
        else:
            await asyncio.sleep(POLL_SECONDS)


def _record(data: dict[str, Any], camera: str, record: Callable[[str, CheckResult, dict[str, Any],
                                                                  inspection.Retrievals], None],
            total: CheckResult) -> None:
    result = CheckResult(findings=[finding_from(f) for f in data["findings"]],
                         scope={(kind, subject, channel) for kind, subject, channel in data["scope"]})
    total.merge(result)
    record(camera, result, data["row"], [(r[0], r[1], r[2], r[3]) for r in data["retrievals"]])

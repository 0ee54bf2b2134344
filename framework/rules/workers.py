"""Per-camera and per-device work on worker processes through arq (Redis): the tasks and the worker.

The appliance (rules/dispatch.py) enqueues one task per camera or device, with an id made of the
run and the subject, and stays the one writer of the store: workers talk to devices with the same
driver and rule plugins and send back findings, scope and what they read, never touching the store.
arq keeps a task in its queue until a worker has stored the task's result, so a task whose worker
was killed is started again once its in-progress mark expires (task_seconds + 10 s). Besides the
result, a task announces on its run's event stream each retrieval it is about to make (before the
fetch: a worker killed after it leaves the recorder's log line explained) and, once arq has stored
its result, that it is done, so the appliance reads results as they come instead of polling.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import itertools
import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pluggy
from arq import Worker
from arq.connections import RedisSettings
from arq.worker import func
from redis.exceptions import RedisError

from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_, Text
from watchkeeper.core.models import Capability, Endpoint
from watchkeeper.devices.drivers import CameraDriver, Platform
from watchkeeper.rules import clock, inspection, retention
from watchkeeper.rules.runner import per_device
from watchkeeper.site.app import DeviceReach
from watchkeeper.site.checks import CheckResult
from watchkeeper.site.config import Site
from watchkeeper.site.distributed import Distributed

log = logging.getLogger(__name__)

#: The tasks' names in the queue: a camera's inspection, and one device's clock or recordings.
INSPECT = "inspect_camera"
DEVICE = "device_work"
#: How often an idle worker looks for tasks in the queue.
POLL_SECONDS = 0.2
#: How long a task's result is kept in Redis: a re-sent task id within it is not run again.
KEEP_RESULT_SECONDS = 3600
#: arq keeps a started task marked in progress for its time limit plus this, then another worker
#: may start it again (so a worker lost mid-task costs that long, once).
IN_PROGRESS_EXTRA = 10
#: A worker measures its own clock against the site's NTP reference at most this often (seconds)...
OWN_CLOCK_REUSE = 60.0
#: ...unless its clock stepped (set by someone or something) by more than this since.
OWN_CLOCK_STEP = 0.05


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


def events_key(queue: str, run: str) -> str:
    """The run's event stream: retrieval intents and finished tasks, as workers announce them."""
    return f"{queue}:events:{run}"


def task_id(run: str, device: str, step: str) -> str:
    """A task's id: the same run, device and step is the same task, however often it is sent."""
    return f"{run}:{device}:{step}"


def finding_from(data: dict[str, Any]) -> Finding:
    fields = {key: value for key, value in data.items() if key not in ("clause", "reason_msg")}
    fields["observed_at"] = datetime.fromisoformat(fields["observed_at"])
    if isinstance(data.get("reason_msg"), dict):
        fields["reason"] = Text.from_json(data["reason_msg"])
    return Finding(**fields)


@attrs.define
class WorkerSite(DeviceReach):
    """What a worker has of the site: its config, plugins and platforms; never its store."""

    site: Site
    pm: pluggy.PluginManager
    platforms: dict[str, Platform]


@attrs.define
class OwnClock:
    """The worker's own clock against the site's NTP reference: measured once a minute (or again after
    a step of the worker's clock), shared by its tasks. Sent with every clock read it made, so the
    appliance computes each device's offset against standard time and can refuse a worker's clock."""

    servers: tuple[str, ...]
    worker: str
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    measured: dict[str, Any] | None = None
    #: time.time() - time.monotonic() at the measurement: a change says the wall clock stepped.
    wall_minus_monotonic: float = 0.0
    at: float = -math.inf
    counter: itertools.count[int] = attrs.field(factory=itertools.count)

    async def reference(self) -> dict[str, Any]:
        """{"id", "asked": [one row per server asked, as clock.ask_servers]}."""
        async with self.lock:
            stepped = abs(time.time() - time.monotonic() - self.wall_minus_monotonic) > OWN_CLOCK_STEP
            if self.measured is None or stepped or time.monotonic() - self.at > OWN_CLOCK_REUSE:
                asked = await asyncio.to_thread(clock.ask_servers, self.servers)
                self.at, self.wall_minus_monotonic = time.monotonic(), time.time() - time.monotonic()
                self.measured = {"id": f"{self.worker}#{next(self.counter)}@{self.at:.3f}", "asked": asked}
            return self.measured


async def emit(ctx: dict[str, Any], kind: str, **fields: Any) -> None:
    """One event on the task's run stream (kept no longer than results, should its reader be gone)."""
    key = ctx.get("events")
    if not key:
        return
    # "at": when, on the worker's clock (checked against the site's reference), should the appliance
    # read it only later (recovered after the appliance died): the note's time is the fetch's, not the reading's.
    event = {"kind": kind, "task": ctx["job_id"], "try": ctx.get("job_try", 1), "worker": ctx["worker_name"],
             "at": datetime.now(timezone.utc).isoformat(), **fields}
    # One round trip, no MULTI/EXEC: should the worker die between the two, the appliance deletes
    # the stream at the run's end anyway.
    async with ctx["redis"].pipeline(transaction=False) as pipe:
        pipe.xadd(key, {"data": dumps(event)})
        pipe.expire(key, KEEP_RESULT_SECONDS)
        await pipe.execute()


async def announce_retrieval(ctx: dict[str, Any], device: str, channel: int | None, action: str, purpose: str) -> None:
    """A retrieval's intent, on the run's stream before the fetch; if it cannot be sent the task fails
    before fetching (that camera's check_failed), never fetches unannounced."""
    await emit(ctx, "retrieval", device=device, channel=channel, action=action, purpose=purpose)


async def task_ended(ctx: dict[str, Any]) -> None:
    """arq's after_job_end: the result is stored, so the appliance may read it now. A notice lost
    (worker killed just here) costs only time: the appliance also looks for results every few seconds."""
    try:
        await emit(ctx, "done")
    except (OSError, RedisError) as error:
        log.warning("task %s: its done notice was not sent (%s)", ctx.get("job_id"), type(error).__name__)


async def inspect_camera_task(ctx: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A worker's task: one camera's inspection, bounded by the task time limit; never raises (a
    failure is the camera's finding, so the result is always JSON the appliance can record)."""
    reach: WorkerSite = ctx["reach"]
    limit: float = ctx["task_seconds"]
    ctx["events"] = request.get("events")
    result = CheckResult()
    row: dict[str, Any] = {"run": request["run"], "camera": request["camera"], "channel": None, "frames": 0,
                           "playback": "not tried"}
    try:
        camera = reach.site.camera(request["camera"])
        if reach.site.name != request["site"]:
            raise KeyError(f"this worker serves site {reach.site.name!r}, not {request['site']!r}")
        async with asyncio.timeout(limit):
            result, row = await inspection.inspect_camera(
                reach, camera, datetime.fromisoformat(request["now"]), request["actor"], request["run"],
                ctx["folder"], request["playback"], functools.partial(inspection.reference_from, request.get("reference")),
                functools.partial(announce_retrieval, ctx))
    except TimeoutError:
        result.evaluated([FindingKind.UNREACHABLE], request["camera"])
        result.findings.append(timed_out(request["camera"], limit))
        inspection.finish_row(row, result.findings)
    except KeyError as error:  # the worker's site.toml is not the appliance's
        result.evaluated([FindingKind.CHECK_FAILED], request["camera"])
        result.findings.append(not_served(request["camera"], error))
        inspection.finish_row(row, result.findings)
    return {"findings": [f.to_dict() for f in result.findings], "scope": sorted(result.scope, key=str),
            "row": row, "worker": ctx["worker_name"], "try": ctx.get("job_try", 1)}


def timed_out(subject: str, limit: float) -> Finding:
    return Finding(FindingKind.UNREACHABLE, subject, N_("the device's task did not finish within {seconds} s (task "
                                                        "time limit)", seconds=format(limit, "g")))


def not_served(subject: str, error: KeyError) -> Finding:
    return Finding(FindingKind.CHECK_FAILED, subject, N_("the worker cannot check this device: {error}",
                                                         error=str(error)[:200]))


async def _read_clock(ctx: dict[str, Any], driver: CameraDriver,
                      request: dict[str, Any]) -> tuple[CheckResult, dict[str, Any]]:
    """The device's clock read against this worker's clock, with the worker's own clock against the
    site's reference: the appliance computes the device's offset from both (rules/clock.py)."""
    reference = await ctx["clock"].reference()
    reading = await driver.get_clock()
    return CheckResult(), {"reading": clock.reading_data(reading), "reference": reference,
                           "can_set": Capability.SET_CLOCK in driver.capabilities}


async def _search_recordings(ctx: dict[str, Any], driver: CameraDriver,
                             request: dict[str, Any]) -> tuple[CheckResult, dict[str, Any]]:
    """The recorder's disks and its cameras' recordings (R8), judged as rules/retention.py judges them."""
    reach: WorkerSite = ctx["reach"]
    return await retention.search_holder(
        driver, request["device"], [(c, ch, days) for c, ch, days in request["cameras"]],
        datetime.fromisoformat(request["now"]), request["threshold"], reach.site.zone)


#: What a device task does, by its request's "kind": the data it returns rides in the result's "data".
DEVICE_WORK: dict[str, Callable[[dict[str, Any], CameraDriver, dict[str, Any]],
                                 Awaitable[tuple[CheckResult, dict[str, Any]]]]] = {
    "clock": _read_clock, "retention": _search_recordings}


async def device_task(ctx: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A worker's task: one device's clock or recordings, through the same per_device as in the
    appliance (so a device's failure is the same finding); never raises."""
    reach: WorkerSite = ctx["reach"]
    limit: float = ctx["task_seconds"]
    ctx["events"] = request.get("events")
    device = request["device"]
    result, data = CheckResult(), dict[str, Any]()

    async def one(device_id: str, driver: CameraDriver, endpoint: Endpoint) -> CheckResult:
        found, read = await DEVICE_WORK[request["kind"]](ctx, driver, request)
        data.update(read)
        return found

    try:
        if reach.site.name != request["site"]:
            raise KeyError(f"this worker serves site {reach.site.name!r}, not {request['site']!r}")
        endpoint = dict(reach.devices())[device]
        async with asyncio.timeout(limit):
            result = await per_device([(device, endpoint)], one, reach)
    except TimeoutError:
        result.evaluated([FindingKind.UNREACHABLE], device)
        result.findings.append(timed_out(device, limit))
    except KeyError as error:
        result.evaluated([FindingKind.CHECK_FAILED], device)
        result.findings.append(not_served(device, error))
    return {"findings": [f.to_dict() for f in result.findings], "scope": sorted(result.scope, key=str),
            "data": data, "worker": ctx["worker_name"], "try": ctx.get("job_try", 1)}


def worker_for(site: Site, pm: pluggy.PluginManager, platforms: dict[str, Platform],
               burst: bool = False) -> Worker:
    """An arq worker serving the site's queue with the inspection and device tasks."""
    section = site.distributed
    if section is None:
        raise ValueError("the site config has no [distributed] section")
    folder = Path(tempfile.mkdtemp(prefix="watchkeeper-worker-"))

    async def shutdown(ctx: dict[str, Any]) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    name = f"{socket.gethostname()}:{os.getpid()}"
    ctx = {"reach": WorkerSite(site, pm, platforms), "task_seconds": section.task_seconds, "folder": folder,
           "worker_name": name, "clock": OwnClock(site.policies.ntp_servers, name)}
    # arq's own limit is a backstop a little past the task's: the task ends itself with a finding first.
    functions = [func(inspect_camera_task, name=INSPECT, timeout=section.task_seconds + 5, max_tries=section.tries),
                 func(device_task, name=DEVICE, timeout=section.task_seconds + 5, max_tries=section.tries)]
    return Worker(functions=functions, queue_name=section.queue, redis_settings=redis_settings(section),
                  max_jobs=section.worker_jobs, keep_result=KEEP_RESULT_SECONDS, job_serializer=dumps,
                  job_deserializer=loads, ctx=ctx, on_shutdown=shutdown, after_job_end=task_ended,
                  poll_delay=POLL_SECONDS, burst=burst, handle_signals=not burst, max_burst_jobs=-1, log_results=False)

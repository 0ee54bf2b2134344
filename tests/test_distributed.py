"""Distributed inspection end to end: a real Redis, `watchkeeper worker` processes, simulated cameras.

The appliance (this process) sends one task per camera and stays the one writer; a worker SIGKILLed
mid-task loses and doubles nothing. Redis: WATCHKEEPER_TEST_REDIS (default the one `.ci/run` starts,
redis://127.0.0.1:6390); each test uses database DB and its own queue name, and flushes only that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import json
import textwrap
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import pytest
import redis.asyncio as aioredis
from arq.constants import in_progress_key_prefix

from watchkeeper.host import open_site
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.rules import inspection, workers
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.site.app import App

pytestmark = pytest.mark.timeout(300)

PASSWORD = "sim-Pass-2026"
REDIS = os.environ.get("WATCHKEEPER_TEST_REDIS", "redis://127.0.0.1:6390")
#: The database number these tests own on that Redis (flushed before and after each test).
DB = 11


def redis_url() -> str:
    parts = urlsplit(REDIS)
    return f"redis://{parts.hostname}:{parts.port or 6379}/{DB}"


@pytest.fixture
async def broker():
    client = aioredis.Redis.from_url(redis_url())
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as error:
        pytest.skip(f"no Redis at {redis_url()} ({type(error).__name__}): redis-server is in .ci/apt-packages "
                    "and .ci/run starts it")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def site_text(ports: list[int], queue: str | None, task_seconds: float, frames: int, interval: float) -> str:
    """The site; with `queue` None, without [distributed] (in-process)."""
    distributed = "" if queue is None else textwrap.dedent(f"""\
        [distributed]
        url = "{redis_url()}"
        queue = "{queue}"
        task_seconds = {task_seconds}
        tries = 3
        worker_jobs = 2
        """)
    text = textwrap.dedent("""\
        [site]
        name = "Distributed"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = {frames}
        frame_interval_seconds = {interval}
        {distributed}[[people]]
        id = "li"
        name = "Li"
        roles = ["operator"]
        trained_on = 2025-01-01
        """).format(frames=frames, interval=interval, distributed=distributed)
    for index, port in enumerate(ports):
        text += textwrap.dedent(f"""\
            [[cameras]]
            id = "cam-{index}"
            location = "gate {index}"
            purpose = "test"
            zone = "z"
            platform = "hikvision"
            host = "127.0.0.1"
            port = {port}
            username = "admin"
            password = "env:WK_SIM_PASSWORD"
            timeout_seconds = 60
            """)
    return text


@contextlib.contextmanager
def worker_processes(config: Path, count: int):
    env = {**os.environ, "WK_SIM_PASSWORD": PASSWORD}
    processes = [subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "worker", "--config", str(config)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for _ in range(count)]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def commission(app: App) -> None:
    """Every camera's reference view, as at commissioning: the workers get it with each task."""
    for camera in app.site.cameras:
        endpoint, channel = inspection.source_of(app, camera)
        driver = app.driver(endpoint)
        app.store.db["baselines"].insert({"camera": camera.id, "captured_at": "", "captured_by": "li",
                                          "jpeg": await driver.snapshot(channel)})
        await driver.close()


def downloads(device) -> int:
    """Clips the simulated recorder's own log says were downloaded from it."""
    return sum(1 for entry in device.audit if entry[2] == "remoteDownload")


async def kill_after_a_fetch(app: App, broker: aioredis.Redis, processes: list[subprocess.Popen], devices,
                             run: asyncio.Task) -> tuple[str, str]:
    """SIGKILL a worker that has fetched a camera's clip and not finished that camera's task: frozen
    (SIGSTOP) first, so whether it finished is read while it cannot; (worker name, camera) killed."""
    by_pid = {process.pid: process for process in processes}
    by_port = {device.endpoint.port: device for device in devices}
    while True:
        assert not run.done(), "the run finished before a worker was caught between a fetch and its result"
        assert all(p.poll() is None for p in processes), processes[0].stderr.read().decode()[-2000:]
        for row in app.store.db["device_retrievals"].rows_where("worker IS NOT NULL"):
            camera = app.site.camera(row["device"])
            process = by_pid.get(int(row["worker"].rsplit(":", 1)[1]))
            if process is None or process.poll() is not None or not downloads(by_port[camera.port]):
                continue
            process.send_signal(signal.SIGSTOP)
            running = [key async for key in broker.scan_iter(match=f"{in_progress_key_prefix}*:{camera.id}:inspection")]
            if running:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return row["worker"], camera.id
            process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.01)


async def test_sigkill_of_a_worker_after_its_fetch_loses_doubles_and_hides_nothing(tmp_path: Path, broker,
                                                                                      monkeypatch) -> None:
    """A worker killed after fetching a clip: the run completes with one result per camera, and the
    recorder's log (one download more than cameras) is explained retrieval by retrieval (R9): the
    killed try announced its fetch before making it."""
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    queue = f"wk-test-{uuid.uuid4().hex[:8]}"
    async with hikvision(password=PASSWORD, devices=9) as devices:
        config = tmp_path / "site.toml"
        # Each camera's task takes about 2 s (3 frames 1 s apart, then the clip), so a kill lands mid-task.
        config.write_text(site_text([d.endpoint.port for d in devices], queue, 8, 3, 1.0))
        app = open_site(config)
        try:
            await commission(app)
            with worker_processes(config, 3) as processes:
                check = collect_checks(app.pm)["inspection"]
                run = asyncio.create_task(run_check(app, check, "li"))
                killed, camera = await kill_after_a_fetch(app, broker, processes, devices, run)
                result = await run
            # The same site inspected by the in-process runner: the workers ran the same plugins.
            app.site = attrs.evolve(app.site, distributed=None)
            here = await run_check(app, check, "li")
            audit = await run_check(app, collect_checks(app.pm)["device_audit"], "li")
            rows = list(app.store.db["inspection_results"].rows_where("run = ?", [result.summary["run"]]))
            retrievals = list(app.store.db["device_retrievals"].rows_where("run = ?", [result.summary["run"]]))
            every = list(app.store.db["device_retrievals"].rows)
            matched = [row["matched"] for row in app.store.db["device_log_entries"].rows_where("action = 'download'")]
        finally:
            app.close()
        logged = {f"cam-{index}": downloads(device) for index, device in enumerate(devices)}
    cameras = {f"cam-{index}" for index in range(9)}
    # Nothing lost, nothing doubled: one result row per camera.
    assert sorted(row["camera"] for row in rows) == sorted(cameras)
    assert result.summary["cameras"] == 9
    assert sorted((str(f.kind), f.subject) for f in result.findings) == \
        sorted((str(f.kind), f.subject) for f in here.findings)
    assert result.scope == here.scope
    assert all(row["frames"] == 3 and row["playback"].startswith("ok") for row in rows), rows
    # The killed worker's fetch and its retry's are both noted, by try and worker.
    tries = sorted((row["attempt"], row["worker"]) for row in retrievals if row["device"] == camera)
    assert len(tries) == 2 and tries[0] == (1, killed) and tries[1][0] == 2 and tries[1][1] != killed, tries
    # The recorder logged more downloads than the two runs have cameras (the killed worker's other
    # task may have fetched too), and each is watchkeeper's own, noted before it was made.
    assert logged[camera] == 3 and sum(logged.values()) > 9 * 2, logged
    noted = {device: sum(1 for row in every if row["device"] == device) for device in cameras}
    # A note without a log line can only be the killed worker's other task, announced and not yet fetched.
    unfetched = {device for device in cameras if noted[device] != logged[device]}
    assert all(noted[device] == logged[device] + 1 for device in unfetched), (noted, logged)
    assert all(any(row["device"] == device and row["worker"] == killed for row in every) for device in unfetched)
    assert len(unfetched) <= 1 and camera not in unfetched, (noted, logged)
    assert [f for f in audit.findings if str(f.kind) == "unapproved_retrieval"] == []
    assert len(matched) == sum(logged.values()) and all(m and m.startswith("watchkeeper:") for m in matched), matched
    assert len(set(matched)) == len(matched), "each logged download is explained by its own noted retrieval"


async def test_a_hung_camera_is_a_finding_not_a_stuck_queue(tmp_path: Path, broker, monkeypatch) -> None:
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    queue = f"wk-test-{uuid.uuid4().hex[:8]}"
    async with hikvision(password=PASSWORD, devices=2) as healthy, \
            hikvision(password=PASSWORD, devices=1, faults=FaultProfile(slow=40)) as hung:
        config = tmp_path / "site.toml"
        # 10 s: a healthy camera's first task on a fresh worker took over 4 s on a loaded 2-core machine.
        config.write_text(site_text([d.endpoint.port for d in [*healthy, *hung]], queue, 10, 2, 0.1))
        app = open_site(config)
        try:
            with worker_processes(config, 1):
                result = await run_check(app, collect_checks(app.pm)["inspection"], "li", playback=False)
        finally:
            app.close()
    assert [(str(f.kind), f.subject) for f in result.findings] == [("unreachable", "cam-2")], result.findings
    assert "did not finish within 10 s" in result.findings[0].reason
    assert result.summary["cameras"] == 3 and result.summary["ok"] == 2


async def test_a_task_id_is_queued_once_and_a_result_stored_once(tmp_path: Path, broker, monkeypatch) -> None:
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    config = tmp_path / "site.toml"
    config.write_text(site_text([9], f"wk-test-{uuid.uuid4().hex[:8]}", 4, 2, 0.1))
    app = open_site(config)
    try:
        section = app.site.distributed
        assert section is not None and section.where == redis_url()
        from arq import create_pool

        pool = await create_pool(workers.redis_settings(section), job_serializer=workers.dumps,
                                 job_deserializer=workers.loads)
        job = workers.task_id("run-1", "cam-0", "inspection")
        assert await pool.enqueue_job(workers.INSPECT, {}, _job_id=job, _queue_name=section.queue) is not None
        assert await pool.enqueue_job(workers.INSPECT, {}, _job_id=job, _queue_name=section.queue) is None
        await pool.aclose()
        row = {"run": 1, "camera": "cam-0", "status": "ok", "frames": 2}
        app.store.db["inspection_results"].insert_all([row, dict(row)], ignore=True)
        app.store.db["inspection_results"].insert_all([dict(row)], ignore=True)
        assert app.store.db["inspection_results"].count_where("run = 1 AND camera = 'cam-0'") == 1
    finally:
        app.close()


def test_worker_without_a_distributed_section_is_a_usage_error(site_file: Path) -> None:
    from click.testing import CliRunner

    from watchkeeper.faces.cli import make_cli

    outcome = CliRunner().invoke(make_cli(config=site_file), ["--config", str(site_file), "worker"])
    assert outcome.exit_code == 2 and "no [distributed] section" in outcome.output, outcome.output


@pytest.mark.parametrize(("stanza", "path", "reason"), [
    ('url = "redis://:hunter2@127.0.0.1:6379/0"', "distributed.url", "put the password in `password`"),
    ('url = "http://127.0.0.1:6379"', "distributed.url", "must be redis://"),
    ('url = "redis://127.0.0.1:6379/cache"', "distributed.url", "database number"),
    ("task_seconds = 0", "distributed.task_seconds", "from 1 to 3600"),
    ("tries = 11", "distributed.tries", "from 1 to 10"),
    ('queue = "a b"', "distributed.queue", "without spaces"),
    ('password = "env:WK_NO_SUCH_VARIABLE"', "distributed.password", "WK_NO_SUCH_VARIABLE"),
    ("brokers = 2", "distributed.brokers", "unknown key"),
])
def test_a_bad_distributed_section_names_its_key(site_file: Path, monkeypatch, stanza, path, reason) -> None:
    from watchkeeper.site.config import ConfigError, load_site

    monkeypatch.delenv("WK_NO_SUCH_VARIABLE", raising=False)
    site_file.write_text(site_file.read_text() + f"\n[distributed]\n{stanza}\n")
    with pytest.raises(ConfigError) as caught:
        load_site(site_file)
    rendered = caught.value.render()
    assert f"{path}: " in rendered and reason in rendered, rendered
    assert "hunter2" not in rendered


def test_the_broker_password_is_a_secret_and_the_config_journal_hides_it(site_file: Path, monkeypatch) -> None:
    from watchkeeper.site.app import redact
    from watchkeeper.site.config import load_site

    monkeypatch.setenv("WK_REDIS_PASSWORD", "hunter2")
    site_file.write_text(site_file.read_text() + '\n[distributed]\nurl = "rediss://broker.example:6380/3"\n'
                                                 'password = "env:WK_REDIS_PASSWORD"\n')
    site = load_site(site_file)
    assert site.distributed is not None
    settings = workers.redis_settings(site.distributed)
    assert (settings.host, settings.port, settings.database, settings.ssl) == ("broker.example", 6380, 3, True)
    assert settings.password == "hunter2"
    assert site.distributed.where == "rediss://broker.example:6380/3"
    assert "hunter2" not in repr(site.distributed) and "hunter2" not in str(redact(site.raw))


async def test_a_reference_view_is_measured_once_and_sent_exactly(tmp_path: Path, monkeypatch) -> None:
    """Workers get the reference's metrics and thumbnail, not its JPEG: the same numbers the appliance
    measured, kept per captured view (a new capture is measured again), an unreadable one a finding."""
    import numpy as np

    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with hikvision(password=PASSWORD, devices=2) as devices:
        config = tmp_path / "site.toml"
        config.write_text(site_text([d.endpoint.port for d in devices], None, 4, 2, 0.05))
        app = open_site(config)
        try:
            await commission(app)
            jpeg = app.store.db["baselines"].get("cam-0")["jpeg"]
            expected = inspection.analyze_frame(inspection.decode_jpeg(jpeg))
            sent = json_round_trip((await inspection.references(app, list(app.site.cameras)))["cam-0"])
            got = inspection.reference_from(sent)
            assert got == expected and np.array_equal(got.thumbnail, expected.thumbnail)
            assert app.store.db["baseline_metrics"].count == 2
            # A reference measured before direction_sharpness existed is measured again, not sent without it.
            old = json.loads(app.store.db["baseline_metrics"].get("cam-0")["metrics"])
            del old["direction_sharpness"]
            app.store.db["baseline_metrics"].update("cam-0", {"metrics": json.dumps(old)})
            again = (await inspection.references(app, list(app.site.cameras)))["cam-0"]
            assert list(again["metrics"]["direction_sharpness"]) == list(expected.direction_sharpness)
            assert "direction_sharpness" in json.loads(app.store.db["baseline_metrics"].get("cam-0")["metrics"])
            app.store.db["baselines"].update("cam-0", {"jpeg": b"not a jpeg"})
            result = await run_check(app, collect_checks(app.pm)["inspection"], "li", playback=False)
        finally:
            app.close()
    assert [(str(f.kind), f.subject) for f in result.findings] == [("check_failed", "cam-0")], result.findings


def json_round_trip(value: object) -> dict:
    import json

    return json.loads(workers.dumps(value))


async def test_a_broker_that_does_not_answer_is_every_cameras_finding(tmp_path: Path, monkeypatch) -> None:
    from watchkeeper.testing import free_port

    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    config = tmp_path / "site.toml"
    config.write_text(site_text([free_port(), free_port()], "nobody", 4, 2, 0.05)
                      .replace(redis_url(), f"redis://127.0.0.1:{free_port()}/0"))
    app = open_site(config)
    try:
        result = await run_check(app, collect_checks(app.pm)["inspection"], "li")
        run = app.store.db["inspection_runs"].get(result.summary["run"])
    finally:
        app.close()
    assert sorted((str(f.kind), f.subject) for f in result.findings) == [("check_failed", "cam-0"),
                                                                          ("check_failed", "cam-1")]
    assert "does not answer" in result.findings[0].reason
    assert run["finished_at"] and run["cameras"] == 2 and run["fault"] == 2


async def test_tasks_go_in_windows_and_leave_nothing_behind(tmp_path: Path, broker, monkeypatch) -> None:
    """At most `window` of a run's tasks are in Redis at once, and a finished run leaves no task, result
    or event stream there: the broker's memory is bounded by the window, not the site's size."""
    from arq.constants import job_key_prefix, result_key_prefix

    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    queue = f"wk-test-{uuid.uuid4().hex[:8]}"
    async with hikvision(password=PASSWORD, devices=7) as devices:
        config = tmp_path / "site.toml"
        config.write_text(site_text([d.endpoint.port for d in devices], queue, 8, 2, 0.3)
                          .replace("worker_jobs = 2\n", "worker_jobs = 2\nwindow = 3\n"))
        app = open_site(config)
        try:
            with worker_processes(config, 2):
                run = asyncio.create_task(run_check(app, collect_checks(app.pm)["inspection"], "li", playback=False))
                most = 0
                while not run.done():
                    keys = [key async for key in broker.scan_iter(match=f"{job_key_prefix}*")]
                    keys += [key async for key in broker.scan_iter(match=f"{result_key_prefix}*")]
                    most = max(most, len(set(k.decode().split(":", 2)[2] for k in keys)))
                    await asyncio.sleep(0.02)
                result = await run
        finally:
            app.close()
        left = [key.decode() async for key in broker.scan_iter(match="*") if not key.decode().startswith("arq:")]
        tasks = [key async for key in broker.scan_iter(match=f"{job_key_prefix}*")]
        results = [key async for key in broker.scan_iter(match=f"{result_key_prefix}*")]
    assert result.summary["cameras"] == 7, result.summary
    assert not [f for f in result.findings if str(f.kind) in ("check_failed", "unreachable")], result.findings
    assert 1 <= most <= 3, most
    assert tasks == [] and results == [] and left == [], (tasks, results, left)


APPLIANCE = """\
import asyncio, sys
from watchkeeper.host import open_site
from watchkeeper.rules.runner import collect_checks, run_check
app = open_site(sys.argv[1])
asyncio.run(run_check(app, collect_checks(app.pm)["inspection"], "li", playback=True))
"""


async def test_intents_a_dead_appliance_left_in_redis_are_recorded_at_the_next_start(tmp_path: Path, broker,
                                                                                         monkeypatch) -> None:
    """The appliance dies mid-run, after the workers announced their fetches and before it read them: at
    the next start they are recorded as watchkeeper's attempted retrievals, by worker, and journaled, so
    R9's read of the recorders' logs finds every download explained."""
    from arq.constants import result_key_prefix

    from watchkeeper.rules import dispatch

    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    queue = f"wk-test-{uuid.uuid4().hex[:8]}"
    async with hikvision(password=PASSWORD, devices=3) as devices:
        config = tmp_path / "site.toml"
        config.write_text(site_text([d.endpoint.port for d in devices], queue, 20, 2, 0.1))
        app = open_site(config)
        try:
            await commission(app)
        finally:
            app.close()
        appliance = subprocess.Popen([sys.executable, "-c", APPLIANCE, str(config)], stderr=subprocess.PIPE,
                                     env={**os.environ, "WK_SIM_PASSWORD": PASSWORD})
        try:
            deadline = asyncio.get_running_loop().time() + 120
            while not await broker.zcard(queue):  # its tasks are queued: now it stops reading
                assert appliance.poll() is None, appliance.stderr.read().decode()[-2000:]
                assert asyncio.get_running_loop().time() < deadline, "the appliance queued no task in 120 s"
                await asyncio.sleep(0.01)
            appliance.send_signal(signal.SIGSTOP)
            with worker_processes(config, 2) as processes:
                # Every task answered (arq stores a result per task, kept for the dead appliance).
                while len([key async for key in broker.scan_iter(match=f"{result_key_prefix}*")]) < 3:
                    assert all(p.poll() is None for p in processes), processes[0].stderr.read().decode()[-2000:]
                    # (another test process flushing this Redis database takes the tasks away)
                    assert asyncio.get_running_loop().time() < deadline + 120, "3 tasks not answered in 120 s"
                    await asyncio.sleep(0.05)
            appliance.send_signal(signal.SIGKILL)
        finally:
            appliance.kill()
            appliance.wait()
        streams = [key.decode() async for key in broker.scan_iter(match=f"{queue}:events:*")]
        (stream,) = [name for name in streams if not name.endswith(":reader")]
        assert await broker.xlen(stream) >= 3  # announced, never read
        await broker.delete(dispatch.lease_key(stream))  # its lease runs out (LEASE_SECONDS); not waited for
        app = open_site(config)
        try:
            recovered = await dispatch.recover_intents(app)
            assert await dispatch.recover_intents(app) == 0  # once
            audit = await run_check(app, collect_checks(app.pm)["device_audit"], "li")
            notes = list(app.store.db["device_retrievals"].rows)
            entry = [json.loads(row["body"]) for row in app.store.db["journal"].rows_where("kind = 'retrieval'")]
            matched = [row["matched"] for row in app.store.db["device_log_entries"].rows_where("action = 'download'")]
        finally:
            app.close()
        logged = sum(downloads(device) for device in devices)
        left = [key async for key in broker.scan_iter(match=f"{queue}:events:*")]
    assert recovered == len(notes) == logged == 3, (recovered, notes, logged)
    assert all(note["worker"] and note["attempt"] == 1 and note["announced"].startswith(stream) for note in notes)
    (journaled,) = [body for body in entry if "intents_recovered" in body]
    assert sorted(i["device"] for i in journaled["intents_recovered"]) == ["cam-0", "cam-1", "cam-2"]
    assert "stopped mid-run" in journaled["reason"] and journaled["reason_msg"]
    assert [f for f in audit.findings if str(f.kind) == "unapproved_retrieval"] == []
    assert len(matched) == 3 and all(m.startswith("watchkeeper:") for m in matched), matched
    assert left == []

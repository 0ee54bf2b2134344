"""Clock (R7) and recordings (R8) checks on worker processes: the same findings as in-process.

Each device's offset is computed from the device's time against the worker's clock and the worker's own
clock against the site's NTP reference; a worker whose own clock is unknown or too far off is named,
and its devices are read by the appliance. Real Redis (WATCHKEEPER_TEST_REDIS), real SNTP servers
on loopback, simulated Hikvision devices, `watchkeeper worker` processes.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest

from tests.test_distributed import PASSWORD, broker, site_text, worker_processes  # noqa: F401 - broker is a fixture
from watchkeeper.host import open_site
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.simulation.ntp import SntpServer

pytestmark = pytest.mark.timeout(300)


@contextlib.asynccontextmanager
async def troubled_site():
    """Eight devices: healthy, a clock 90 s ahead, one 120 s behind, a recording gap, short retention,
    a failed disk, one switched off."""
    now = datetime.now(timezone.utc)
    profiles = [FaultProfile(), FaultProfile(), FaultProfile(clock_offset=90), FaultProfile(clock_offset=-120),
                FaultProfile(gaps=((now - timedelta(hours=5), now - timedelta(hours=4)),)),
                FaultProfile(retention_days=3), FaultProfile(disk_error=True), FaultProfile(offline=True)]
    async with contextlib.AsyncExitStack() as stack:
        devices = [(await stack.enter_async_context(hikvision(password=PASSWORD, faults=profile)))[0]
                   for profile in profiles]
        yield devices


def write_site(path: Path, devices, queue: str, ntp: str, correct: bool = False) -> Path:
    text = site_text([d.endpoint.port for d in devices], queue, 20, 2, 0.1)
    path.write_text(text.replace("[policies]\n", f'[policies]\nntp_servers = ["{ntp}"]\n'
                                                 f"correct_clocks = {str(correct).lower()}\n"))
    return path


def kinds(result) -> list[tuple[str, str]]:
    return sorted((str(f.kind), f.subject) for f in result.findings)


async def test_clock_and_recordings_on_two_workers_find_what_the_appliance_finds(
        tmp_path: Path, broker, monkeypatch, reference_clock: SntpServer) -> None:  # noqa: F811
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with troubled_site() as devices:
        config = write_site(tmp_path / "site.toml", devices, f"wk-test-{uuid.uuid4().hex[:8]}",
                            reference_clock.address)
        app = open_site(config)
        try:
            checks = collect_checks(app.pm)
            with worker_processes(config, 2):
                there = {name: await run_check(app, checks[name], "li") for name in ("clock", "retention")}
            readings = list(app.store.db["clock_readings"].rows)
            references = {row["id"]: row for row in app.store.db["reference_readings"].rows}
            coverage = sorted((r["camera"], r["day"]) for r in app.store.db["coverage"].rows)
            gaps = {r["id"]: (r["camera"], r["start_utc"][:16]) for r in app.store.db["gaps"].rows}
            app.site = attrs.evolve(app.site, distributed=None)
            here = {name: await run_check(app, checks[name], "li") for name in ("clock", "retention")}
            local_readings = list(app.store.db["clock_readings"].rows)[len(readings):]
            assert sorted((r["camera"], r["day"]) for r in app.store.db["coverage"].rows) == coverage
            local_gaps = [(r["camera"], r["start_utc"][:16]) for r in app.store.db["gaps"].rows if r["id"] not in gaps]
            assert sorted(local_gaps) == sorted(gaps.values()) and local_gaps
        finally:
            app.close()
    for name in ("clock", "retention"):
        assert kinds(there[name]) == kinds(here[name]), name
        assert there[name].scope == here[name].scope, name
    assert ("clock_offset", "cam-2") in kinds(there["clock"]) and ("clock_offset", "cam-3") in kinds(there["clock"])
    assert ("recording_gap", "cam-4") in kinds(there["retention"]) and ("disk_error", "cam-6") in kinds(there["retention"])
    # Every reading was made on a worker, against that worker's own reference reading.
    assert len(readings) == 7 and all(r["read_by"] for r in readings), readings
    for row in readings:
        reference = references[row["reference_reading"]]
        assert reference["measured_by"] == row["read_by"] and reference["error"] is None
    assert there["clock"].summary["read_here"] == [] and set(there["clock"].summary["workers"].values()) == {"ok"}
    # The offsets agree with the appliance's own within the devices' resolution (ISAPI says whole
    # seconds, so each reading is up to 1 s short), and with the simulated truth.
    offsets = {r["device"]: r["offset_seconds"] for r in readings}
    for row in local_readings:
        assert abs(offsets[row["device"]] - row["offset_seconds"]) < 2.0, (row, offsets)
    assert abs(offsets["cam-2"] - 90) < 1.5 and abs(offsets["cam-3"] + 120) < 1.5, offsets


@pytest.mark.parametrize("trouble", ["silent", "off"])
async def test_a_worker_whose_own_clock_is_unknown_or_off_is_named_and_not_trusted(
        tmp_path: Path, broker, monkeypatch, reference_clock: SntpServer, trouble: str) -> None:  # noqa: F811
    """The worker's config names a reference it cannot reach (silent) or one 30 s off the site's
    (as a worker whose own clock is 30 s off would measure): its clock reads are not used, the
    appliance reads those devices itself, and the check's journal entry names the worker and why."""
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    queue = f"wk-test-{uuid.uuid4().hex[:8]}"
    with SntpServer(offset=30.0) as other:
        other.silent = trouble == "silent"
        async with troubled_site() as devices:
            config = write_site(tmp_path / "site.toml", devices, queue, reference_clock.address)
            worker_config = write_site(tmp_path / "worker.toml", devices, queue, other.address)
            app = open_site(config)
            try:
                check = collect_checks(app.pm)["clock"]
                with worker_processes(worker_config, 1):
                    there = await run_check(app, check, "li")
                readings = list(app.store.db["clock_readings"].rows)
                flagged = list(app.store.db["reference_readings"].rows_where("measured_by IS NOT NULL"))
                journaled = app.store.db.execute("SELECT body FROM journal WHERE kind = 'clock' ORDER BY seq DESC"
                                                 " LIMIT 1").fetchone()[0]
                app.site = attrs.evolve(app.site, distributed=None)
                here = await run_check(app, check, "li")
            finally:
                app.close()
    assert kinds(there) == kinds(here) and there.scope == here.scope
    workers = there.summary["workers"]
    assert len(workers) == 1, workers
    why = next(iter(workers.values()))
    assert ("no NTP server answered" in why) if trouble == "silent" else (abs(float(why.split(" s off")[0].rsplit(" ", 1)[1]) + 30) < 0.5 and "worker_clock_seconds" in why), why
    assert there.summary["read_here"] == [f"cam-{index}" for index in range(7)]
    assert all(row["read_by"] is None for row in readings), readings
    assert flagged and all(row["server"] == other.address for row in flagged)
    assert "read_here" in journaled and why.split(":")[0][:20] in journaled


async def test_a_clock_to_correct_is_corrected_by_the_appliance(tmp_path: Path, broker, monkeypatch,  # noqa: F811
                                                                reference_clock: SntpServer) -> None:
    """Workers only read: setting a device's clock is the appliance's act, journaled before it is done."""
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with hikvision(password=PASSWORD, devices=2) as healthy, \
            hikvision(password=PASSWORD, faults=FaultProfile(clock_offset=90)) as ahead:
        devices = [*healthy, *ahead]
        config = write_site(tmp_path / "site.toml", devices, f"wk-test-{uuid.uuid4().hex[:8]}",
                            reference_clock.address, correct=True)
        app = open_site(config)
        try:
            with worker_processes(config, 2):
                result = await run_check(app, collect_checks(app.pm)["clock"], "li")
            bodies = [row[0] for row in app.store.db.execute("SELECT body FROM journal WHERE kind = 'clock'"
                                                             " AND subject = 'cam-2' ORDER BY seq")]
            readings = {row["device"]: row for row in app.store.db["clock_readings"].rows}
        finally:
            app.close()
    assert kinds(result) == [] and result.summary["read_here"] == ["cam-2"]
    assert len(bodies) == 2 and '"correcting"' in bodies[0] and '"corrected"' in bodies[1]
    assert readings["cam-2"]["corrected"] == 1 and readings["cam-2"]["read_by"] is None
    assert readings["cam-0"]["read_by"] and abs(readings["cam-2"]["offset_seconds"]) < 1

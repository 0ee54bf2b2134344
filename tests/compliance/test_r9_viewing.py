"""R9 viewing and device-side retrieval, end to end over the simulators: viewing needs an approved request,
and the recorders' own logs turn retrieval without approval into `unapproved_retrieval` and deletion into
`recording_deleted`. Findings and evidence are read from the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.core.models import AuditAction, AuditEntry
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.plugins.dahua.simulator import simulate as dahua
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.plugins.onvif.simulator import simulate as onvif
from watchkeeper.rules import ownership, viewing
from watchkeeper.rules.footage import Footage
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.site.app import Refused
from tests.logins import proven

PASSWORD = "view-Pass-2026"


def site_text(nvr_port: int, dahua_port: int, onvif_port: int) -> str:
    return textwrap.dedent(f"""\
        [site]
        name = "Viewing"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = 2
        frame_interval_seconds = 0.05
        retrieval_valid_hours = 24
        [[recorders]]
        id = "nvr"
        platform = "hikvision"
        host = "127.0.0.1"
        port = {nvr_port}
        username = "admin"
        password = "env:WK_SIM_PASSWORD"
        [[cameras]]
        id = "till"
        location = "Shop till"
        purpose = "cash handling"
        zone = "inside"
        recorder = "nvr"
        recorder_channel = 1
        [[cameras]]
        id = "stock"
        location = "Stock room"
        purpose = "stock"
        zone = "inside"
        recorder = "nvr"
        recorder_channel = 2
        [[cameras]]
        id = "yard"
        location = "Yard"
        purpose = "deliveries"
        zone = "outside"
        platform = "dahua"
        host = "127.0.0.1"
        port = {dahua_port}
        username = "admin"
        password = "env:WK_SIM_PASSWORD"
        [[cameras]]
        id = "hall"
        location = "Hall"
        purpose = "visitors"
        zone = "inside"
        platform = "onvif"
        host = "127.0.0.1"
        port = {onvif_port}
        username = "admin"
        password = "env:WK_SIM_PASSWORD"
        [[people]]
        id = "li"
        name = "Li Wei"
        roles = ["operator"]
        trained_on = 2025-03-01
        [[people]]
        id = "zhang"
        name = "Zhang Min"
        roles = ["supervisor"]
        [[people]]
        id = "chen"
        name = "Chen Jun"
        roles = ["supervisor"]
        """)


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        (nvr,) = await stack.enter_async_context(hikvision(password=PASSWORD, channels=2))
        (yard,) = await stack.enter_async_context(dahua(password=PASSWORD))
        (hall,) = await stack.enter_async_context(onvif(password=PASSWORD))
        (tmp_path / "site.toml").write_text(site_text(nvr.endpoint.port, yard.endpoint.port, hall.endpoint.port))
        app = open_site(tmp_path / "site.toml")
        yield app, nvr, yard
        app.close()


async def audit(app) -> list:
    return (await run_check(app, collect_checks(app.pm)["device_audit"], "watchkeeper")).findings


def open_findings(app, kind: str) -> list[dict]:
    return [dict(row, details=json.loads(row["details"])) for row in
            app.store.db["findings"].rows_where("kind = ? AND closed_at IS NULL", [kind], order_by="id")]


def approved_request(app, camera: str) -> int:
    footage = Footage(app)
    start = datetime.now(timezone.utc) - timedelta(hours=3)
    request = footage.request("li", camera, start, start + timedelta(seconds=5), "theft at the till", "INC-7")
    footage.decide("zhang", request, approve=True, note="ok")
    return request


async def test_console_playback_without_a_request_is_an_unapproved_retrieval(site) -> None:
    """The acceptance case: a recorder whose log shows a playback with no approved request."""
    app, nvr, _ = site
    nvr.console("playback", 2, user="guard")
    found = await audit(app)
    assert [(f.kind, f.subject.split()[:2], f.details["user"], f.details["local"]) for f in found] == [
        ("unapproved_retrieval", ["stock", "playback"], "guard", True)]
    assert "by device user 'guard' at the device's own console with no approved request" in found[0].reason
    (row,) = open_findings(app, "unapproved_retrieval")
    entry = app.store.db["device_log_entries"].get(row["details"]["entry"])
    assert (entry["device"], entry["action"], entry["channel"], entry["matched"]) == ("nvr", "playback", 2, None)
    reads = {r["device"]: r["status"] for r in app.store.db["device_log_reads"].rows}
    assert reads == {"nvr": "ok", "yard": "ok", "hall": "unsupported"}  # ONVIF has no device log
    # Read again (the daily read overlaps): the same log line is not a second finding.
    assert await audit(app) == [] and len(open_findings(app, "unapproved_retrieval")) == 1
    # A supervisor must dispose of it, with a note.
    with pytest.raises(Refused):
        ownership.close(app, "li", row["id"], "it was me")
    with pytest.raises(Refused, match="needs a reason"):
        ownership.close(app, "zhang", row["id"], "")
    ownership.close(app, "zhang", row["id"], "guard checked a delivery dispute; warned, request filed late")
    assert open_findings(app, "unapproved_retrieval") == []
    assert ownership.state(app, row["id"])["closed_by"] == "zhang"


async def test_approved_and_own_retrievals_match_deletions_never_do(site, tmp_path: Path) -> None:
    app, nvr, yard = site
    request = approved_request(app, "till")
    nvr.console("export", 1, user="guard")  # a USB backup of the approved camera: covered by the request
    await Footage(app).export("li", request)  # watchkeeper's own download
    checks = collect_checks(app.pm)
    await run_check(app, checks["inspection"], "li")  # the inspection downloads a clip of every camera
    yard.console("playback", 1, user="admin")  # nothing approved for the yard camera
    nvr.console("deletion", 1, user="guard")
    found = await audit(app)
    assert sorted((f.kind, f.subject.split()[0]) for f in found) == [
        ("recording_deleted", "till"), ("unapproved_retrieval", "yard")]
    entries = list(app.store.db["device_log_entries"].rows_where("action != 'other' AND action != 'login'"))
    matched = {(e["device"], e["action"], e["channel"]): e["matched"] for e in entries}
    assert matched[("nvr", "export", 1)] == f"request:{request}"
    assert matched[("nvr", "download", 1)].startswith("watchkeeper:")
    assert matched[("nvr", "download", 2)].startswith("watchkeeper:")  # the inspection's, no request needed
    assert matched[("yard", "download", 1)].startswith("watchkeeper:")
    assert matched[("nvr", "deletion", 1)] is None and matched[("yard", "playback", 1)] is None
    ours = {row["purpose"] for row in app.store.db["device_retrievals"].rows}
    assert f"export request-{request}" in ours and any(p.startswith("inspection run-") for p in ours)
    deleted = open_findings(app, "recording_deleted")[0]
    assert deleted["clause"] == "R8" and deleted["details"]["log_type"] == "Operation/localDeleteFile"


async def test_one_approval_covers_one_persons_viewing_of_one_camera(site) -> None:
    """A request approves one viewing: the lines of that session (one device account, one address, one
    channel) match it, anyone else's viewing of the same camera in the same window does not."""
    app, nvr, _ = site
    request = approved_request(app, "till")
    nvr.console("playback", 1, user="guard")
    later = datetime.now(timezone.utc) - timedelta(hours=3)
    nvr.console("playback", 1, user="guard", start=later, end=later + timedelta(seconds=5))  # the same viewing, on
    nvr.console("export", 1, user="guard")  # and backed up to USB by the same person
    nvr.console("playback", 1, user="cleaner")  # someone else, same camera, same window
    found = await audit(app)
    assert [(f.kind, f.subject.split()[:2], f.details["user"]) for f in found] == [
        ("unapproved_retrieval", ["till", "playback"], "cleaner")]
    matched = [(e["user"], e["matched"]) for e in app.store.db["device_log_entries"].rows_where(
        "device = 'nvr' AND channel = 1 AND action IN ('playback', 'export')", order_by="id")]
    assert matched == [("guard", f"request:{request}")] * 3 + [("cleaner", None)]
    # A second approval for the camera covers the second person.
    second = approved_request(app, "till")
    nvr.console("playback", 1, user="cleaner", start=later, end=later + timedelta(seconds=5))
    assert await audit(app) == []
    cleaner = [e["matched"] for e in app.store.db["device_log_entries"].rows_where("user = 'cleaner'", order_by="id")]
    assert cleaner == [None, f"request:{second}"]


async def test_watchkeepers_own_retrieval_covers_only_its_own_lines(site) -> None:
    """A note of watchkeeper's download does not also cover another account's download beside it."""
    app, nvr, _ = site
    await run_check(app, collect_checks(app.pm)["inspection"], "li")  # downloads a clip of every camera
    # Someone else's client downloads the stock room's footage in the same minute.
    nvr.log_entry("Operation", "remoteDownload", "ops", "10.0.0.9", 2, "/ISAPI/ContentMgmt/download")
    found = await audit(app)
    assert [(f.kind, f.subject.split()[:2], f.details["user"]) for f in found] == [
        ("unapproved_retrieval", ["stock", "download"], "ops")]
    lines = {e["user"]: e["matched"] for e in app.store.db["device_log_entries"].rows_where(
        "device = 'nvr' AND channel = 2 AND action = 'download'")}
    assert lines["admin"].startswith("watchkeeper:") and lines["ops"] is None


async def test_viewing_needs_an_approved_request(site) -> None:
    app, nvr, _ = site
    footage = Footage(app)
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    pending = footage.request("li", "stock", start, start + timedelta(seconds=4), "lost bag", "INC-9")
    with pytest.raises(Refused, match="pending, not approved"):
        await viewing.view(app, "li", pending)
    refusals = [json.loads(r[0]) for r in app.store.conn.execute(
        "SELECT body FROM journal WHERE kind = 'retrieval' AND subject = ?", [f"request-{pending}"])]
    assert refusals[-1] == {"refused": "view", "status": "pending"}
    footage.decide("chen", pending, approve=True)
    replay = await viewing.view(app, "li", pending)
    assert replay["replay_uri"].startswith("rtsp://127.0.0.1") and PASSWORD not in replay["replay_uri"]
    clip = await viewing.view(app, "li", pending, clip=True)
    assert Path(clip["clip"]).stat().st_size > 0
    viewed = [json.loads(r[0]) for r in app.store.conn.execute(
        "SELECT body FROM journal WHERE kind = 'retrieval' AND subject = ? AND body LIKE '%viewed%'",
        [f"request-{pending}"])]
    assert [sorted(v["viewed"]) for v in viewed] == [["camera", "from", "replay_uri", "to"],
                                                     ["camera", "clip", "from", "to"]]
    # The recorder logged the clip download; it is watchkeeper's own, on an approved request.
    assert await audit(app) == []
    with pytest.raises(Refused):
        await viewing.view(app, "zhang-not-a-person", pending)


def test_a_device_retrieval_matches_only_inside_the_approval_window(app) -> None:
    """Approval before the act, valid policies.retrieval_valid_hours; after that it is unapproved."""
    app.store.db["footage_requests"].insert({
        "id": 1, "camera": "lobby", "start_utc": "", "end_utc": "", "reason": "r", "case_ref": "", "requested_by": "li",
        "requested_at": "", "status": "approved", "decided_by": "zhang",
        "decided_at": (datetime.now(timezone.utc) - timedelta(hours=30)).isoformat()})
    import attrs
    from watchkeeper.site.config import Camera

    site = attrs.evolve(app.site, cameras=(Camera("lobby", "Lobby", "Lobby", "people", "z", recorder="nvr",
                                                   recorder_channel=3),))
    app.site = site
    now = datetime.now(timezone.utc)
    entry = AuditEntry(now, "Playback", AuditAction.PLAYBACK, "guard", "", 3)
    assert viewing.match(app, "nvr", entry, now) is None  # approved 30 h ago, valid 24 h
    assert viewing.match(app, "nvr", entry, now - timedelta(hours=10)) == "request:1"
    assert viewing.match(app, "nvr", entry, now - timedelta(hours=31)) is None  # before the approval
    other_channel = AuditEntry(now, "Playback", AuditAction.PLAYBACK, "guard", "", 4)
    assert viewing.match(app, "nvr", other_channel, now - timedelta(hours=10)) is None


async def test_an_unreadable_recorder_is_recorded_as_such(site) -> None:
    app, nvr, _ = site
    nvr.set_faults(FaultProfile(wrong_password=True))
    await audit(app)
    read = list(app.store.db["device_log_reads"].rows_where("device = 'nvr'"))[-1]
    assert read["status"] == "failed" and read["entries"] == 0
    assert [r["subject"] for r in app.store.db["findings"].rows_where("kind = 'auth_failed'")] == ["nvr"]


async def test_the_commands(site) -> None:
    app, nvr, _ = site
    config = app.site.source
    request = approved_request(app, "stock")
    nvr.console("playback", 1, user="guard")

    async def run(*args: str):
        # In a thread: the commands run their own event loop while this one keeps serving the simulators.
        return await asyncio.to_thread(CliRunner().invoke, make_cli(config=config), proven(["--config", str(config), *args]))

    shown = await run("footage", "view", str(request), "--actor", "li")
    assert shown.exit_code == 0 and shown.output.startswith("replay: rtsp://")
    refused = await run("footage", "view", "99", "--actor", "li")
    assert refused.exit_code == 2 and "no request 99" in refused.output and "Traceback" not in refused.output
    checked = await run("check", "device_audit", "--json")
    assert [f["kind"] for f in json.loads(checked.output)["findings"]] == ["unapproved_retrieval"]
    log = json.loads((await run("footage", "device-log", "--unmatched", "--json")).output)
    assert [(e["device"], e["action"], e["user"]) for e in log] == [("nvr", "playback", "guard")]

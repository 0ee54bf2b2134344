"""Exports are evidence (R9): one approval, one export; no file overwritten; nothing half-written on a
full disk; people cannot write the kinds of entry only watchkeeper writes; holds are checked."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.evidence.files import claimed, publish, write_new
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.rules.footage import Footage
from watchkeeper.site.app import Refused
from tests.logins import proven

PASSWORD = "exports-Pass-2026"


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WK_SIM_PASSWORD", PASSWORD)
    async with hikvision(password=PASSWORD) as (camera,):
        (tmp_path / "site.toml").write_text(textwrap.dedent(f"""\
            [site]
            name = "Exports"
            time_zone = "Asia/Shanghai"
            [witness]
            syslog = "off"
            [[cameras]]
            id = "vault"
            location = "Vault"
            purpose = "cash handling"
            zone = "restricted"
            platform = "hikvision"
            host = "127.0.0.1"
            port = {camera.endpoint.port}
            username = "admin"
            password = "env:WK_SIM_PASSWORD"
            [[people]]
            id = "li"
            name = "Li"
            roles = ["operator"]
            trained_on = 2025-01-01
            [[people]]
            id = "zhang"
            name = "Zhang"
            roles = ["supervisor"]
            """))
        app = open_site(tmp_path / "site.toml")
        yield app
        app.close()


def approved(app, reason: str = "cash discrepancy") -> int:
    footage = Footage(app)
    start = datetime.now(timezone.utc) - timedelta(days=1)
    request = footage.request("li", "vault", start, start + timedelta(seconds=30), reason, "CASE-9")
    footage.decide("zhang", request, approve=True)
    return request


def retrieval(app) -> list[dict]:
    return [json.loads(e["body"]) for e in app.journal.entries(kind="retrieval")]


async def test_one_approval_gives_one_export(site) -> None:
    footage = Footage(site)
    request = approved(site)
    with pytest.raises(Refused, match="already approved"):
        footage.decide("zhang", request, approve=False)  # a second decision on the same request
    manifest = await footage.export("li", request)
    clip = Path(manifest["manifest_path"]).parent / manifest["files"][0]["name"]
    before = (clip.read_bytes(), clip.stat().st_mtime_ns, Path(manifest["manifest_path"]).read_bytes())
    hold = footage.hold("zhang", "vault", datetime.now(timezone.utc) - timedelta(days=2),
                        datetime.now(timezone.utc), "court order")
    with pytest.raises(Refused, match="already exported: one approval gives one export"):
        await footage.export("li", request)
    assert (clip.read_bytes(), clip.stat().st_mtime_ns, Path(manifest["manifest_path"]).read_bytes()) == before
    bodies = retrieval(site)
    assert {"refused": "export", "status": "exported"} in bodies
    assert {"refused": "decide", "status": "approved"} in bodies
    assert len(list(site.store.db["footage_exports"].rows)) == 1 and hold


async def test_an_existing_file_is_never_overwritten(site) -> None:
    request = approved(site)
    start = datetime.fromisoformat(site.store.db["footage_requests"].get(request)["start_utc"])
    folder = site.site.exports_dir / f"request-{request}"
    folder.mkdir(parents=True)
    left = folder / f"vault-{start:%Y%m%dT%H%M%S}.mp4"  # e.g. a clip an interrupted export named
    left.write_bytes(b"earlier clip")
    with pytest.raises(Refused, match="never overwritten"):
        await Footage(site).export("li", request)
    assert left.read_bytes() == b"earlier clip" and not (folder / "manifest.json").exists()
    assert {"refused": "export", "exists": left.name} in retrieval(site)


def test_publish_refuses_an_existing_name(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"held")
    (tmp_path / "new.tmp").write_bytes(b"replacement")
    with pytest.raises(FileExistsError, match="never overwritten"):
        publish(tmp_path / "new.tmp", tmp_path / "clip.mp4")
    assert (tmp_path / "clip.mp4").read_bytes() == b"held"
    with pytest.raises(FileExistsError):
        write_new(tmp_path / "clip.mp4", b"other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "new.tmp"]


LIMITED = """\
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
from watchkeeper.evidence.files import write_new
try:
    write_new(Path(sys.argv[1]), b"x" * 5000)
except OSError as error:
    print("failed", error.errno)
"""


def test_a_full_disk_leaves_no_file(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", LIMITED, str(tmp_path / "manifest.json")],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "failed 27", result.stdout + result.stderr  # EFBIG
    assert list(tmp_path.iterdir()) == []


EXPORT_LIMITED = """\
import asyncio, resource, signal, sys
from watchkeeper.host import open_site
from watchkeeper.rules.footage import Footage
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
app = open_site(sys.argv[1])
app.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the journal's next writes start from an empty WAL
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    asyncio.run(Footage(app).export("li", int(sys.argv[2])))
    print("exported")
except OSError as error:
    print("failed", error.errno)
"""


async def test_a_full_disk_during_export_leaves_no_manifest_and_keeps_the_approval(site) -> None:
    # The clip (about 200 kB) fits under the limit; the manifest, carrying a long reason, does not.
    request = approved(site, reason="r" * 400_000)
    config = site.site.source
    folder = site.site.exports_dir / f"request-{request}"
    result = await _run(EXPORT_LIMITED, str(config), str(request), str(300_000))
    assert result.stdout.strip() == "failed 27", result.stdout + result.stderr
    assert not folder.exists() or list(folder.iterdir()) == []  # no manifest, no clip, no temporary file
    assert site.store.db["footage_requests"].get(request)["status"] == "approved"
    assert any("export_failed" in body for body in retrieval(site))
    assert list(site.store.db["footage_exports"].rows) == []
    manifest = await Footage(site).export("li", request)  # once there is room, the approval still counts
    clip = folder / manifest["files"][0]["name"]
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == manifest["files"][0]["sha256"]
    assert json.loads((folder / "manifest.json").read_text())["reason"] == "r" * 400_000


async def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    import asyncio

    return await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script, *args],
                                   capture_output=True, text=True, timeout=120)


def test_people_cannot_write_system_kinds(app, site_file: Path) -> None:
    runner, cli = CliRunner(), make_cli(config=site_file)
    for kind in ("config", "retrieval", "access", "clock", "retention"):
        result = runner.invoke(cli, proven(["--config", str(site_file), "journal", "add", "--kind", kind, "--text", "forged",
                                     "--actor", "li"]))
        assert result.exit_code == 1 and "written by watchkeeper itself" in result.output, (kind, result.output)
    for kind in ("operation", "maintenance", "inspection"):
        result = runner.invoke(cli, proven(["--config", str(site_file), "journal", "add", "--kind", kind, "--text", "note",
                                     "--actor", "li"]))
        assert result.exit_code == 0, result.output
    texts = [json.loads(e["body"]) for e in app.journal.entries() if e["actor"] == "li"]
    assert {"refused": "journal.add", "kind": "config", "proof": "password"} in texts
    assert not [text for text in texts if text.get("text") == "forged"]
    assert texts.count({"text": "note", "proof": "password"}) == 3


async def test_holds_are_checked(site) -> None:
    runner, cli = CliRunner(), make_cli(config=site.site.source)
    base = ["--config", str(site.site.source), "footage", "hold", "--reason", "court order", "--actor", "zhang"]
    unknown = runner.invoke(cli, proven(base + ["--camera", "nowhere", "--from", "2026-11-27T09:00", "--to", "2026-11-27T10:00"]))
    assert unknown.exit_code == 2 and "no camera 'nowhere'" in unknown.output
    backwards = runner.invoke(cli, proven(base + ["--camera", "vault", "--from", "2026-11-27T10:00", "--to", "2026-11-27T09:00"]))
    assert backwards.exit_code == 2 and "must end after it starts" in backwards.output
    placed = runner.invoke(cli, proven(base + ["--camera", "vault", "--from", "2026-11-27T09:00", "--to", "2026-11-27T10:00"]))
    assert placed.exit_code == 0, placed.output
    assert [row["camera"] for row in site.store.db["holds"].rows] == ["vault"]


@pytest.mark.parametrize("left", ["download", "clip", "clip and manifest"])
async def test_what_a_killed_export_left_is_removed_journaled_and_the_export_made_again(site, left: str) -> None:
    """Each state a process killed part-way through an export leaves (tests/test_export_kills.py kills
    `run` at random; this makes each state on purpose): no export row lists it, so it is no evidence."""
    request = approved(site)
    start = datetime.fromisoformat(site.store.db["footage_requests"].get(request)["start_utc"])
    folder = site.site.exports_dir / f"request-{request}"
    folder.mkdir(parents=True)
    clip = folder / f"vault-{start:%Y%m%dT%H%M%S}.mp4"
    files = {f".{clip.name}.1a2b3c4d.tmp.part": b"half a clip"} if left == "download" else {clip.name: b"a whole clip"}
    if left == "clip and manifest":
        files["manifest.json"] = json.dumps({"files": [{"name": clip.name}]}).encode()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    assert Footage(site).recover_interrupted() == [request]
    assert list(folder.iterdir()) == []
    [entry] = [body["export_interrupted"] for body in retrieval(site) if "export_interrupted" in body]
    assert entry["files"] == [{"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
                              for name, data in sorted(files.items())] and entry["removed"]
    assert site.store.db["footage_requests"].get(request)["status"] == "approved"
    assert Footage(site).recover_interrupted() == []  # nothing left, nothing journaled twice
    manifest = await Footage(site).export("li", request)
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == manifest["files"][0]["sha256"]
    assert Footage(site).recover_interrupted() == [] and (folder / "manifest.json").exists()


async def test_recovery_leaves_an_export_being_written_and_a_second_export_is_refused(site) -> None:
    request = approved(site)
    folder = site.site.exports_dir / f"request-{request}"
    folder.mkdir(parents=True)
    (folder / ".clip.mp4.0000.tmp").write_bytes(b"still downloading")
    with claimed(folder) as ours:  # as the exporting process holds it
        assert ours
        assert Footage(site).recover_interrupted() == []
        with pytest.raises(Refused, match="being exported by another process"):
            await Footage(site).export("li", request)
    assert (folder / ".clip.mp4.0000.tmp").exists()
    assert {"refused": "export", "status": "in progress"} in retrieval(site)


async def test_an_export_row_and_its_journal_entry_commit_together(site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, the row, the request's status and the journal entry were three commits: a kill between
    them listed an export the journal never recorded. A failing commit now leaves none of them, and no file."""
    request = approved(site)

    append_with = site.journal.append_with

    def lost_once(write):
        monkeypatch.setattr(site.journal, "append_with", append_with)  # the export_failed entry gets through
        with site.store.transaction() as conn:
            write(conn)  # the export's row and status written...
            raise sqlite3.OperationalError("disk I/O error")  # ...and the commit lost

    monkeypatch.setattr(site.journal, "append_with", lost_once)
    with pytest.raises(sqlite3.OperationalError):
        await Footage(site).export("li", request)
    assert list(site.store.db["footage_exports"].rows) == []
    assert site.store.db["footage_requests"].get(request)["status"] == "approved"
    assert list((site.site.exports_dir / f"request-{request}").iterdir()) == []
    assert any(body.get("export_failed", "").startswith("OperationalError") for body in retrieval(site))


async def test_a_deletion_cut_short_never_lists_an_export_whose_files_are_gone(site, monkeypatch) -> None:
    """Before, the files went first and the row was marked deleted after: a kill or a failure between
    left an export listed complete with no file. Now the row goes first; what is left is cleaned up."""
    import os as os_module

    request = approved(site)
    manifest = await Footage(site).export("li", request)
    folder = Path(manifest["manifest_path"]).parent
    remove = os_module.remove

    def read_only(path, *args, **kwargs):
        if Path(path).parent == folder:
            raise OSError(30, "Read-only file system", str(path))
        return remove(path, *args, **kwargs)

    monkeypatch.setattr(os_module, "remove", read_only)
    with pytest.raises(OSError):
        Footage(site).delete_export("zhang", manifest["export"])
    monkeypatch.setattr(os_module, "remove", remove)
    assert site.store.db["footage_exports"].get(manifest["export"])["deleted_by"] == "zhang"
    assert Footage(site).recover_interrupted() == [request] and list(folder.iterdir()) == []
    [left] = [body["deletion_interrupted"] for body in retrieval(site) if "deletion_interrupted" in body]
    assert sorted(item["name"] for item in left["files"]) == sorted([manifest["files"][0]["name"], "manifest.json"])

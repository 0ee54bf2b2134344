"""Exports are evidence (R9): one approval, one export; no file overwritten; nothing half-written on a
full disk; people cannot write the kinds of entry only watchkeeper writes; holds are checked."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.evidence.files import publish, write_new
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
    assert {"refused": "journal.add", "kind": "config"} in texts and {"text": "forged"} not in texts
    assert texts.count({"text": "note"}) == 3


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

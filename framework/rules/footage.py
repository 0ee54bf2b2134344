"""Footage retrieval (R9): request, a different supervisor's approval, export with a SHA-256 manifest, holds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import attrs
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.evidence.chain import SYSTEM_ACTOR
from watchkeeper.evidence.files import claimed, publish, sync_dir, temporary_name, write_new
from watchkeeper.evidence.journal import Entry, JournalTampered
from watchkeeper.rules.viewing import record_retrieval
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.policy import ACTION_ROLES, roster
from watchkeeper.rules.verdicts import Item, decide, journal_rows
from watchkeeper.site.app import App, Refused
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext

migrations = Migrations("watchkeeper.footage")


@migrations()
def m001_requests_exports_holds(db: sqlite_utils.Database) -> None:
    db["footage_requests"].create({
        "id": int, "camera": str, "start_utc": str, "end_utc": str, "reason": str, "case_ref": str,
        "requested_by": str, "requested_at": str, "status": str, "decided_by": str, "decided_at": str, "note": str,
    }, pk="id")
    db["footage_exports"].create({
        "id": int, "request": int, "path": str, "manifest": str, "sha256": str, "size_bytes": int,
        "exported_by": str, "exported_at": str, "deleted_by": str, "deleted_at": str,
    }, pk="id")
    db["holds"].create({
        "id": int, "camera": str, "start_utc": str, "end_utc": str, "reason": str,
        "placed_by": str, "placed_at": str, "released_by": str, "released_at": str,
    }, pk="id")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@attrs.define
class Footage:
    """The retrieval workflow over an opened App; every step journaled as kind `retrieval`."""

    app: App

    def _journal(self, actor: str, subject: str, body: dict[str, Any]) -> None:
        self.app.journal.append("retrieval", actor, subject, body)

    def _require(self, actor: str, action: str, resource: str) -> None:
        self.app.require(actor, action, resource, kind="retrieval")

    def request(self, actor: str, camera: str, start: datetime, end: datetime, reason: str, case_ref: str) -> int:
        self.app.site.camera(camera)  # KeyError names an unknown camera
        self._require(actor, "footage.request", camera)
        if end <= start:
            raise ValueError("the interval must end after it starts")
        if not reason.strip():
            raise ValueError("a retrieval needs a reason")
        request_id = self.app.store.db["footage_requests"].insert({
            "camera": camera, "start_utc": start.astimezone(timezone.utc).isoformat(),
            "end_utc": end.astimezone(timezone.utc).isoformat(), "reason": reason, "case_ref": case_ref,
            "requested_by": actor, "requested_at": _now(), "status": "pending"}).last_pk
        assert request_id is not None  # an insert always has a key
        self._journal(actor, f"request-{request_id}", {"requested": {
            "camera": camera, "from": start.isoformat(), "to": end.isoformat(), "reason": reason, "case": case_ref}})
        return request_id

    def decide(self, actor: str, request_id: int, approve: bool, note: str = "") -> None:
        row = self.app.store.row("footage_requests", request_id, "footage request")
        self._require(actor, "footage.approve", f"request-{request_id}")
        if row["requested_by"] == actor:
            self._journal(actor, f"request-{request_id}", {"refused": "approve own request"})
            raise Refused(N_("{actor} requested {id} and may not also approve it", actor=actor, id=request_id))
        if row["status"] != "pending":
            self._journal(actor, f"request-{request_id}", {"refused": "decide", "status": row["status"]})
            raise Refused(N_("request {id} is already {status}", id=request_id, status=row["status"]))
        status = "approved" if approve else "rejected"
        self.app.store.db["footage_requests"].update(request_id, {"status": status, "decided_by": actor,
                                                                  "decided_at": _now(), "note": note})
        self._journal(actor, f"request-{request_id}", {"decision": status, "note": note})

    async def export(self, actor: str, request_id: int) -> dict[str, Any]:
        """Download the approved interval from the recorder, hash it, write the manifest beside it.

        One approval gives one export. The clip and the manifest are each written under a temporary
        name, fsynced and then named, never over an existing file; only then are the export's row,
        the request's new status and the journal entry committed, in one transaction. A failure (a
        full disk, the device) leaves neither file, is journaled, and leaves the request approved so
        the export can be retried; a process killed on the way leaves files no row lists, which
        `recover_interrupted` removes and journals at the appliance's next start.
        """
        row = self.app.store.row("footage_requests", request_id, "footage request")
        subject = f"request-{request_id}"
        self._require(actor, "footage.export", subject)
        self._refuse_unless_approved(actor, row)
        folder = self.app.site.exports_dir / subject
        folder.mkdir(parents=True, exist_ok=True)
        with claimed(folder) as ours:
            if not ours:
                self._refuse_in_progress(actor, request_id)
            row = self.app.store.row("footage_requests", request_id, "footage request")  # as it is now
            self._refuse_unless_approved(actor, row)
            return await self._export(actor, row, folder)

    def ready_to_export(self, actor: str, request_id: int, exporting_here: bool = False) -> None:
        """Refuse (journaled) now what `export` would refuse at its start: a caller that runs the export
        in the background tells the person at once, not in a journal entry they never see.
        `exporting_here`: the caller has this request's export under way, not yet holding the folder."""
        subject = f"request-{request_id}"
        self._require(actor, "footage.export", subject)
        self._refuse_unless_approved(actor, self.app.store.row("footage_requests", request_id, "footage request"))
        folder = self.app.site.exports_dir / subject
        if exporting_here:
            self._refuse_in_progress(actor, request_id)
        if folder.is_dir():
            with claimed(folder) as free:
                if not free:
                    self._refuse_in_progress(actor, request_id)

    def _refuse_in_progress(self, actor: str, request_id: int) -> NoReturn:
        self._journal(actor, f"request-{request_id}", {"refused": "export", "status": "in progress"})
        raise Refused(N_("request {id} is being exported by another process", id=request_id))

    def _refuse_unless_approved(self, actor: str, row: dict[str, Any]) -> None:
        if row["status"] == "approved":
            return
        self._journal(actor, f"request-{row['id']}", {"refused": "export", "status": row["status"]})
        if row["status"] == "exported":
            raise Refused(N_("request {id} was already exported: one approval gives one export", id=row["id"]))
        raise Refused(N_("request {id} is {status}, not approved", id=row["id"], status=row["status"]))

    async def _export(self, actor: str, row: dict[str, Any], folder: Path) -> dict[str, Any]:
        from watchkeeper.core.models import Capability

        request_id, subject = row["id"], f"request-{row['id']}"
        camera = self.app.site.camera(row["camera"])
        endpoint = self.app.camera_endpoint(camera.id)
        channel = camera.recorder_channel or camera.channel if camera.host is None else camera.channel
        start, end = datetime.fromisoformat(row["start_utc"]), datetime.fromisoformat(row["end_utc"])
        clip = folder / f"{camera.id}-{start:%Y%m%dT%H%M%S}.mp4"
        manifest_path = folder / "manifest.json"
        for existing in (clip, manifest_path):
            if existing.exists():
                self._journal(actor, subject, {"refused": "export", "exists": existing.name})
                raise Refused(N_("{path} already exists; an exported file is never overwritten", path=str(existing)))
        incoming, published = temporary_name(clip), []
        driver = self.app.driver(endpoint)
        try:
            try:
                if Capability.CLIP_DOWNLOAD not in driver.capabilities:
                    # Not a refusal: the device cannot do it (ONVIF Profile G has no clip export).
                    raise ValueError(f"{endpoint.platform} devices cannot export clips; export from the recorder's own tool")
                # Noted before the download, so the device log's line for it is known to be ours (R9).
                record_retrieval(self.app, endpoint.device_id, channel, "export", actor, f"export {subject}",
                                 request=request_id)
                incoming = Path(await driver.download_clip(channel, start, end, incoming))
            finally:
                await driver.close()
            digest, size = sha256_file(incoming), incoming.stat().st_size
            publish(incoming, clip)
            published.append(clip)
            manifest = {
                "request": request_id, "camera": camera.id, "location": camera.location, "from": row["start_utc"],
                "to": row["end_utc"], "reason": row["reason"], "case": row["case_ref"],
                "requested_by": row["requested_by"], "approved_by": row["decided_by"], "exported_by": actor,
                "exported_at": _now(), "files": [{"name": clip.name, "sha256": digest, "size_bytes": size}],
            }
            write_new(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
            published.append(manifest_path)

            def listed(conn: sqlite3.Connection) -> list[Entry]:
                export_id = conn.execute(
                    "INSERT INTO footage_exports (request, path, manifest, sha256, size_bytes, exported_by, exported_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [request_id, str(clip), str(manifest_path), digest, size, actor, manifest["exported_at"]]).lastrowid
                conn.execute("UPDATE footage_requests SET status = 'exported' WHERE id = ?", [request_id])
                manifest["export"] = export_id
                return [("retrieval", actor, subject, {"exported": {"export": export_id, "sha256": digest,
                                                                    "size_bytes": size, "file": clip.name}}, None)]

            self.app.journal.append_with(listed)
        except (OSError, DeviceError, sqlite3.Error, JournalTampered) as error:
            for name in published:  # files without their row are not evidence; nothing refers to them
                name.unlink(missing_ok=True)
            with contextlib.suppress(OSError, sqlite3.Error, JournalTampered):  # a full store cannot hold this either
                self._journal(actor, subject, {"export_failed": f"{type(error).__name__}: {error}"})
            raise
        finally:
            incoming.unlink(missing_ok=True)
        return manifest | {"manifest_path": str(manifest_path)}

    def recover_interrupted(self, actor: str = SYSTEM_ACTOR) -> list[int]:
        """Remove what exports killed on the way left behind, journaling each: returns their requests.

        A folder whose request no export row lists holds no evidence, however whole its files look
        (the process died before the row and the journal entry committed): its files are hashed into
        the journal, removed, and the request stays approved, so the export can be made again.
        Folders another process is still writing are left alone; so is anything not named like an
        export's folder.
        """
        root = self.app.site.exports_dir
        recovered = []
        folders = sorted(root.iterdir()) if root.is_dir() else []
        for folder in folders:
            match = re.fullmatch(r"request-(\d+)", folder.name)
            if match is None or not folder.is_dir():
                continue
            request_id = int(match.group(1))
            with claimed(folder) as ours:
                if not ours or self.app.store.db["footage_requests"].count_where("id = ?", [request_id]) == 0:
                    continue
                exports = self.app.store.db["footage_exports"]
                listed = exports.count_where("request = ? AND deleted_at IS NULL", [request_id]) > 0
                # Beside a listed export only a writer's temporary (hidden) names can be left over.
                left = sorted(path for path in folder.iterdir()
                              if path.is_file() and (not listed or path.name.startswith(".")))
                if not left:
                    continue
                files = [{"name": path.name, "sha256": sha256_file(path), "size_bytes": path.stat().st_size}
                         for path in left]
                # Files of an export listed as deleted: a deletion cut short after its commit.
                what = "export_interrupted" if listed or not exports.count_where(
                    "request = ?", [request_id]) else "deletion_interrupted"
                self._journal(actor, f"request-{request_id}", {what: {"files": files, "removed": True,
                                                                      "listed": listed}})
                for path in left:
                    path.unlink()
                sync_dir(folder)
                recovered.append(request_id)
        return recovered

    def hold(self, actor: str, camera: str, start: datetime, end: datetime, reason: str) -> int:
        self.app.site.camera(camera)  # KeyError names an unknown camera
        self._require(actor, "footage.hold", camera)
        if end <= start:
            raise ValueError("the hold must end after it starts")
        if not reason.strip():
            raise ValueError("a hold needs a reason")
        hold_id = self.app.store.db["holds"].insert({
            "camera": camera, "start_utc": start.astimezone(timezone.utc).isoformat(),
            "end_utc": end.astimezone(timezone.utc).isoformat(), "reason": reason, "placed_by": actor,
            "placed_at": _now()}).last_pk
        assert hold_id is not None
        self._journal(actor, f"hold-{hold_id}", {"hold": {"camera": camera, "from": start.isoformat(),
                                                           "to": end.isoformat(), "reason": reason}})
        return hold_id

    def release(self, actor: str, hold_id: int) -> None:
        self.app.store.row("holds", hold_id, "hold")
        self._require(actor, "footage.hold", f"hold-{hold_id}")
        self.app.store.db["holds"].update(hold_id, {"released_by": actor, "released_at": _now()})
        self._journal(actor, f"hold-{hold_id}", {"released": hold_id})

    def holds_covering(self, camera: str, start: str, end: str) -> list[dict[str, Any]]:
        return list(self.app.store.db["holds"].rows_where(
            "camera = ? AND released_at IS NULL AND start_utc < ? AND end_utc > ?", [camera, end, start]))

    def delete_export(self, actor: str, export_id: int) -> None:
        """Delete an exported copy: refused (and journaled) while any hold covers its interval."""
        export = self.app.store.row("footage_exports", export_id, "footage export")
        request = self.app.store.db["footage_requests"].get(export["request"])
        holds = self.holds_covering(request["camera"], request["start_utc"], request["end_utc"])
        if holds:
            self._journal(actor, f"export-{export_id}", {"refused": "delete under hold",
                                                          "holds": [h["id"] for h in holds]})
            raise Refused(N_("export {id} is under hold {holds}", id=export_id,
                             holds=", ".join(str(hold["id"]) for hold in holds)))
        self._require(actor, "footage.hold", f"export-{export_id}")

        def deleted(conn: sqlite3.Connection) -> list[Entry]:
            conn.execute("UPDATE footage_exports SET deleted_by = ?, deleted_at = ? WHERE id = ?",
                         [actor, _now(), export_id])
            return [("retrieval", actor, f"export-{export_id}", {"deleted": export_id, "sha256": export["sha256"]},
                     None)]

        # Listed as deleted first: files removed before a kill or a failure would leave an export
        # listed whose files are gone; files left after it are removed by recover_interrupted.
        self.app.journal.append_with(deleted)
        for name in (export["manifest"], export["path"]):
            if os.path.exists(name):
                os.remove(name)


def verdict(context: VerdictContext) -> Verdict:
    """R9: every copy made in the period came from a request another person approved.

    With no retrieval in the period nothing shows how footage was used: *no evidence* (reading the
    recorders' own logs is the evidence a quiet day needs)."""
    evidence, breaches, missing = Evidence(), [], []
    approvers = {p.id for p in roster(context.app) if set(p.roles) & ACTION_ROLES["footage.approve"]}
    requests = {row["id"]: row for row in context.rows("SELECT * FROM footage_requests")}
    exports = context.rows("SELECT * FROM footage_exports WHERE exported_at >= ? AND exported_at < ? ORDER BY id",
                           context.span())
    for export in exports:
        evidence.add("footage_exports", export["id"])
        request = requests.get(export["request"])
        if request is None or request["status"] not in ("approved", "exported") \
                or request["decided_by"] == request["requested_by"] or request["decided_by"] not in approvers:
            breaches.append(Item("R9.unapproved_export", _(
                "export {export} has no approval by another person entitled to approve").format(export=export["id"])))
        else:
            evidence.add("footage_requests", request["id"])
    decided = [row for row in requests.values()
               if row["decided_at"] and context.since.isoformat() <= row["decided_at"] < context.until.isoformat()]
    evidence.extend("footage_requests", [row["id"] for row in decided])
    evidence.extend("journal", [row["seq"] for row in journal_rows(context, "kind = 'retrieval'")])
    if not evidence:
        missing.append(Item("R9.no_retrieval_record", _("no retrieval or its control recorded in the period")))
    return decide(context, evidence, breaches, missing, _("every copy of footage was approved by another person"))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R9", verdict, "copies of footage only on another person's approval"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)

"""Opens a site: config, plugins, store and journal, wired together once per process."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pluggy

from watchkeeper.site.config import Site, load_site, platform_kinds, platform_options
from watchkeeper.site.context import ActionRequest, Refusal, SiteView
from watchkeeper.devices.drivers import CameraDriver, DoorDriver, Platform
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.evidence.findingstore import FindingStore
from watchkeeper.evidence.journal import Journal, JournalTampered, Problem, anchor_path, load_key
from watchkeeper.core.models import Endpoint
from watchkeeper.core.i18n import N_
from watchkeeper.evidence.store import PERSON_KINDS, Store
from watchkeeper.evidence.witness import Witness, WitnessHead, read_heads
from watchkeeper.site import identity
from watchkeeper.site import people as people_store
from watchkeeper.site.people import People

log = logging.getLogger(__name__)

#: Keys whose inline values are secrets; their references (env:, file:) are kept, values are not.
SECRET_KEYS = frozenset({"password", "scbk", "pin", "journal_key_value"})
#: What a camera's scope is (R1): a change to any of them needs a supervisor's approval.
SCOPE_FIELDS = ("location", "purpose", "zone")


def scope_changes(previous: dict[str, Any] | None, config: dict[str, Any]) -> list[dict[str, Any]]:
    """How each camera's scope differs between two journaled configs (None: camera absent)."""
    def scopes(raw: dict[str, Any] | None) -> dict[str, dict[str, str]]:
        return {str(c.get("id")): {f: str(c.get(f, "")) for f in SCOPE_FIELDS}
                for c in (raw or {}).get("cameras", []) if isinstance(c, dict)}

    before, after = scopes(previous), scopes(config)
    return [{"camera": camera, "before": before.get(camera), "after": after.get(camera)}
            for camera in sorted(set(before) | set(after)) if before.get(camera) != after.get(camera)]


def redact(value: Any) -> Any:
    """The config as it may be journaled: inline secrets replaced, references kept."""
    if isinstance(value, dict):
        return {
            key: ("********" if key in SECRET_KEYS and isinstance(item, str)
                  and not item.startswith(("env:", "file:")) and item else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def journal_anchor(site: Site) -> Path:
    """Where the journal's head anchor lives: beside the key, outside the database."""
    return anchor_path(site.journal_key)


class Refused(Exception):
    """The policy refused an action; the refusal was journaled before this was raised.

    Its message is a `Text`: English as a str (what the journal keeps), `localize(error.reason)` in the
    reader's language."""

    @property
    def reason(self) -> str:
        return self.args[0] if self.args else ""


class DeviceReach:
    """How to reach the site's devices from its config and platforms alone: what a worker process
    has, which never opens the store (App has it too)."""

    site: Site
    platforms: dict[str, Platform]

    def recorder_endpoint(self, recorder_id: str) -> Endpoint:
        recorder = self.site.recorder(recorder_id)
        return Endpoint(recorder.platform, recorder.host, recorder.port, recorder.username,
                        recorder.password, recorder.timeout_seconds, recorder.id, dict(recorder.options))

    def camera_endpoint(self, camera_id: str) -> Endpoint:
        """How to reach the camera's live picture: the camera itself, or its recorder."""
        camera = self.site.camera(camera_id)
        if camera.host is None:
            return self.recorder_endpoint(camera.recorder or "")
        platform = self.platforms[camera.platform or ""]
        return Endpoint(camera.platform or "", camera.host, camera.port or platform.default_port,
                        camera.username, camera.password, camera.timeout_seconds, camera.id, dict(camera.options))

    def devices(self) -> list[tuple[str, Endpoint]]:
        """Every device with its own clock and connection: recorders, and cameras reached directly."""
        found = []
        for recorder in self.site.recorders:
            found.append((recorder.id, self.recorder_endpoint(recorder.id)))
        for camera in self.site.cameras:
            if camera.host is not None:
                found.append((camera.id, self.camera_endpoint(camera.id)))
        return found

    def driver(self, endpoint: Endpoint) -> CameraDriver:
        platform = self.platforms[endpoint.platform]
        if platform.camera_driver is None:
            raise KeyError(f"platform {endpoint.platform} has no camera driver")
        return platform.camera_driver(endpoint)


@attrs.define
class App(DeviceReach):
    site: Site
    pm: pluggy.PluginManager
    store: Store
    journal: Journal
    platforms: dict[str, Platform]
    _view: SiteView | None = attrs.field(default=None, init=False)
    #: Set when opening found the journal tampered with (the alarm is journaled, the finding open).
    journal_alarm: Problem | None = None
    #: The current people, roles, training and revocations, read from the store (read-only).
    people: People = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.people = People(self.store)

    @classmethod
    def open(cls, config: Path | str, pm: pluggy.PluginManager, platforms: dict[str, Platform]) -> App:
        """Load the site (validated against the given platforms), open store and journal.

        Callers outside the host use `watchkeeper.host.open_site`, which loads the plugins first.
        """
        site = load_site(config, platform_kinds(platforms), platform_options(platforms))
        store = Store(site.store, pm)
        people_store.migrations.apply(store.db)  # after the plugins' sets: it extends the access rule's table
        people_store.seed(store, site.people)
        identity.migrations.apply(store.db)
        key = load_key(site.journal_key, create=True)
        journal = Journal(store, key, site.time_zone, pm, anchor=journal_anchor(site),
                          witness=Witness(site.name, site.witness.syslog, site.witness.file))
        app = cls(site, pm, store, journal, platforms)
        journal.on_alarm = app.journal_tampered
        try:
            app.snapshot_config()
        except JournalTampered as error:  # the alarm took the snapshot's place; the chain is anchored again
            app.journal_alarm = error.problem
            app.snapshot_config()
        return app

    def journal_tampered(self, problem: Problem) -> None:
        """An append found the journal tampered with: an open finding, and the system log, say so."""
        log.error("journal %s: %s", problem.status, problem.reason)
        self.finding_store().record(Finding(FindingKind.JOURNAL_TAMPERED, "journal", problem.reason,
                                            details={"status": problem.status, "seq": problem.seq}))

    def witness_heads(self) -> list[WitnessHead]:
        """The heads saved in the site's witness file, if it has one (WitnessError if unreadable)."""
        return site_witness_heads(self.site)

    def snapshot_config(self) -> None:
        """R1: journal the (redacted) config whenever it differs from the last snapshot."""
        redacted = redact(self.site.raw)
        digest = hashlib.sha256(json.dumps(redacted, sort_keys=True).encode()).hexdigest()
        last = self.store.conn.execute(
            "SELECT body FROM journal WHERE kind = 'config' AND json_extract(body, '$.sha256') IS NOT NULL"
            " ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        previous = json.loads(last[0]) if last is not None else None
        if previous is not None and previous.get("sha256") == digest:
            return
        body: dict[str, Any] = {"sha256": digest, "config": redacted}
        if previous is not None:
            # R1: a scope change is spelled out; a supervisor's `scope approve` entry approves it.
            body["scope_changes"] = scope_changes(previous.get("config"), redacted)
        self.journal.append("config", "watchkeeper", str(self.site.source or "site"), body)

    def commissioned_at(self) -> datetime:
        """When this site's journal began: duties that fell due before it are nobody's."""
        row = self.store.conn.execute("SELECT time_utc FROM journal ORDER BY seq LIMIT 1").fetchone()
        return datetime.fromisoformat(row[0]) if row else datetime.now(timezone.utc)

    @property
    def view(self) -> SiteView:
        """The store, read-only, as decision hooks see it."""
        if self._view is None:
            self._view = SiteView(self.store.path)
        return self._view

    def authorize(self, actor: str, action: str, resource: str) -> bool | Refusal:
        """Ask `authorize` with the request and its history; no answer at all is a refusal."""
        answer = self.pm.hook.authorize(actor=actor, action=action, resource=resource, site=self.site,
                                        people=self.people, request=ActionRequest(actor, action, resource, self.view))
        return Refusal(N_("no policy answered")) if answer is None else answer

    def require(self, actor: str, action: str, resource: str, kind: str = "operation") -> None:
        """Ask `authorize`; journal the refusal with its reason and plugin, and raise Refused."""
        answer = self.authorize(actor, action, resource)
        if answer is True:
            return
        refusal = answer if isinstance(answer, Refusal) else Refusal("", "")
        self.journal.append(kind, actor, resource, {"refused": action, "reason": refusal.reason,
                                                     "plugin": refusal.plugin})
        plugin = refusal.plugin or "policy"
        if refusal.reason:
            raise Refused(N_("{actor} may not {action}: {reason} ({plugin})", actor=actor, action=action,
                             reason=refusal.reason, plugin=plugin))
        raise Refused(N_("{actor} may not {action} ({plugin})", actor=actor, action=action, plugin=plugin))

    def retention_days(self, camera: str) -> int:
        """How many days the camera must keep (R8), as the plugins decide."""
        return int(self.pm.hook.retention_days(camera=camera, site=self.site, view=self.view))

    def clock_tolerance(self, device: str) -> float:
        """The largest clock offset the device may have (R7), as the plugins decide."""
        return float(self.pm.hook.clock_tolerance(device=device, site=self.site, view=self.view))

    def entry_decision(self, door: str, person: object, credential: object) -> Any:
        """Whether a credential opens the door (R3), as the plugins decide."""
        return self.pm.hook.entry_decision(door=door, person=person, credential=credential, site=self.site,
                                           view=self.view)

    def add_note(self, actor: str, kind: str, subject: str, text: str) -> dict[str, Any]:
        """A person's own journal entry: authorised, and only of the kinds people write."""
        self.require(actor, "journal.add", subject)
        if kind not in PERSON_KINDS:
            self.journal.append("operation", actor, subject, {"refused": "journal.add", "kind": kind})
            raise Refused(N_("entries of kind {kind} are written by watchkeeper itself; people write {kinds}",
                             kind=kind, kinds=", ".join(PERSON_KINDS)))
        return self.journal.append(kind, actor, subject, {"text": text})

    def door_driver(self, door_id: str) -> DoorDriver:
        """A driver for one of the site's doors (KeyError naming it if there is no such door)."""
        door = self.site.door(door_id)
        platform = self.platforms[door.platform]
        if platform.door_driver is None:
            raise KeyError(f"platform {door.platform} has no door driver")
        options: dict[str, object] = {**door.options, "address": door.address}
        if door.serial_port:
            options["serial_port"] = door.serial_port
        return platform.door_driver(Endpoint(door.platform, door.host or "", door.port or platform.default_port, "",
                                             door.scbk, 5.0, door.id, options))

    def finding_store(self) -> FindingStore:
        """The site's findings, announcing each opened or closed one through `on_finding`."""

        def announce(finding: Finding, opened: bool) -> None:
            self.pm.hook.on_finding(finding=finding, site=self.site, opened=opened)

        return FindingStore(self.store, announce)

    def close(self) -> None:
        if self._view is not None:
            self._view.close()
        if isinstance(self.journal.witness, Witness):
            self.journal.witness.close()
        self.store.close()


def site_witness_heads(site: Site) -> list[WitnessHead]:
    """The heads in the site's witness file; none while it has none (it is created at the first head)."""
    if site.witness.file is None or not site.witness.file.exists():
        return []
    return read_heads(site.witness.file, site.name)


def open_journal_readonly(site: Site) -> Journal:
    """The site's journal as it is, for `journal verify`: nothing is created, migrated or appended.

    Raises JournalKeyError when the key is missing and StoreMissing when the store is.
    """
    key = load_key(site.journal_key)
    return Journal(Store.open_readonly(site.store), key, site.time_zone, anchor=journal_anchor(site))

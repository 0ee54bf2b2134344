"""The estate's people and its journal: who may see the dashboard or act on sites, proven, and journaled.

The estate reuses the appliance's identity machinery whole (argon2id logins, sessions, API tokens,
lockout: `site.identity`; the web's logins, CSRF and headers: `faces.webauth`; the CLI's proof of
who acts: `faces.cli.common.authenticate`) and its journal (`evidence.journal`: hash-chained,
HMAC'd under a key file, anchored outside the database). `EstateApp` is the small object those
modules ask of a site: `store`, `journal`, `people`, `site` and `require`. It keeps them in an
SQLite file of its own (`journal_store`), whichever backend holds the sites' data; an action on that
data and its journal entry are made atomic by holding the entry in the sites' store (`act`).

Roles: `viewer` reads the dashboard; `admin` also enrols, revokes, clears flags and manages people.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import attrs

from watchkeeper.core.i18n import N_, _
from watchkeeper.evidence.journal import Journal, JournalTampered, anchor_path, load_key, with_proof
from watchkeeper.evidence.store import Store
from watchkeeper.faces.estate.store import EstateStore
from watchkeeper.site import identity
from watchkeeper.site import people as people_store
from watchkeeper.site.app import Refused
from watchkeeper.site.config import Person, Policies
from watchkeeper.site.identityconfig import IdentityConfig
from watchkeeper.site.people import People

VIEW = "console.view"
#: What each role may do; an action no role lists is nobody's.
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({VIEW}),
    "admin": frozenset({VIEW, "estate.enrol", "estate.revoke", "estate.clear", "identity.manage"}),
}
#: Who the journal names for what the estate does by itself (importing the old events table).
SYSTEM = "watchkeeper-estate"
T = TypeVar("T")


@attrs.frozen
class EstateSite:
    """What identity, webauth and the CLI's proof read of a 'site': the name, the session and lockout
    limits, OS-account mappings (none: estate people prove themselves with a password) and policies."""

    name: str
    identity: IdentityConfig
    people: tuple[Person, ...] = ()
    policies: Policies = Policies()


class EstateApp:
    """The estate's people, logins and journal, shaped as the site App the identity modules expect."""

    def __init__(self, config: Any, create_key: bool = True) -> None:
        self.site = EstateSite(config.name, config.identity)
        key = load_key(config.journal_key, create=create_key)  # before the store: a missing key opens nothing
        self.store = Store(config.journal_store)
        people_store.migrations.apply(self.store.db)
        identity.migrations.apply(self.store.db)
        self.people = People(self.store)
        self.journal = Journal(self.store, key, config.time_zone, anchor=anchor_path(config.journal_key))
        self.data: EstateStore | None = None  # the sites' store, once attached

    def close(self) -> None:
        self.store.close()

    # --- who may do what -------------------------------------------------------------------------

    def allowed(self, actor: str, action: str) -> str | None:
        """Why `actor` may not do `action`, or None when a role of theirs allows it."""
        person = identity.active_person(self, actor)  # type: ignore[arg-type]
        if person is None:
            return N_("'{id}' is not a current person of the estate", id=actor)
        if not any(action in ROLES.get(role, frozenset()) for role in person.roles):
            # English in the journal (a Text), the reader's language where it is shown.
            return N_("the role {roles} does not allow {action}", roles=", ".join(person.roles) or "—", action=action)
        return None

    def require(self, actor: str, action: str, resource: str) -> None:
        """As App.require: the refusal is journaled with its reason, then Refused is raised."""
        reason = self.allowed(actor, action)
        if reason is None:
            return
        self.journal.append("operation", actor, resource, {"refused": action, "reason": reason,
                                                            "plugin": "estate roles"})
        raise Refused(N_("{actor} may not {action}: {reason} ({plugin})", actor=actor, action=action, reason=reason,
                         plugin="estate roles"))

    # --- actions, journaled with who, what and why -----------------------------------------------

    def attach(self, store: EstateStore) -> None:
        """The sites' store this estate acts on. An estate from before its journal has its plain `events`
        imported; an action a crash kept from its journal entry has it journaled now (`settle`)."""
        self.data = store
        self.import_events(store.old_events())
        self.settle()

    def act(self, actor: str, action: str, site_id: str, reason: str, change: Callable[[], T],
            **details: Any) -> T:
        """Do `change` (a write to the sites' store) and journal it with who, what and why.

        The store (SQLite, or PostgreSQL) and the journal (SQLite, beside the people) are two databases,
        so no one transaction holds both. The entry is therefore committed with the change, held in the
        store's `journal_pending`, then appended to the journal and dropped: a change that fails holds
        nothing, and a crash between leaves the held entry, journaled at the estate's next open
        (`settle`). The entry carries an `action_id`, so it is journaled once, whoever gets there first."""
        self.journal.append_with(lambda _conn: [])  # a journal tampered with: refused before any change
        action_id = uuid.uuid4().hex
        head = self.store.conn.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0]
        body = with_proof(actor, {"estate": action, "reason": reason, **details, "action_id": action_id})
        entry = {"id": action_id, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "actor": actor,
                 "subject": site_id, "body": json.dumps(body, ensure_ascii=False), "journal_after": head}
        done = self._data().with_entry(change, entry)
        self._journal_held(entry, late=False)
        self._data().drop_entry(action_id)
        return done

    def settle(self) -> int:
        """Journal every held entry a crash left (marked `journaled_late`, with the time of its action);
        returns how many were missing from the journal."""
        missing = 0
        for entry in self._data().held_entries():
            try:
                missing += self._journal_held(entry, late=True)
            except JournalTampered:  # the alarm is journaled; the entries stay held, `verify` says why
                break
            self._data().drop_entry(entry["id"])
        return missing

    def _journal_held(self, entry: dict[str, Any], late: bool) -> bool:
        body = json.loads(entry["body"])
        if late:
            body.update(journaled_late=True, done_at=entry["time"])
        needle = f'%"action_id":"{entry["id"]}"%'  # a hex uuid: no LIKE wildcard in it

        def write(conn: Any) -> list[tuple[str, str, str, dict[str, Any], None]]:
            # Inside the journal's write transaction: of two processes settling one entry, one journals it.
            if conn.execute("SELECT 1 FROM journal WHERE seq > ? AND body LIKE ? LIMIT 1",
                            [entry["journal_after"], needle]).fetchone():
                return []
            return [("operation", entry["actor"], entry["subject"], body, None)]

        return bool(self.journal.append_with(write))

    def _data(self) -> EstateStore:
        if self.data is None:
            raise RuntimeError("EstateApp.attach(store) first: the estate acts on the sites' store")
        return self.data

    def import_events(self, rows: list[dict[str, Any]]) -> int:
        """The plain `events` rows of an estate from before this journal, journaled once (in their order,
        with their times, as imported): the history of enrolments is kept, now under the chain."""
        if self.store.conn.execute("SELECT 1 FROM journal WHERE body LIKE '%\"imported_from\":\"events\"%'"
                                   " LIMIT 1").fetchone() is not None or not rows:
            return 0
        self.journal.append_many([("operation", row["actor"] or SYSTEM, row["site"] or "", {
            "estate": row["action"], "reason": row["reason"] or "", "imported_from": "events",
            "event_id": row["id"], "time": row["time"]}, None) for row in rows])
        return len(rows)

    # --- people ----------------------------------------------------------------------------------

    def add_person(self, person_id: str, name: str, role: str, by: str, reason: str) -> None:
        if role not in ROLES:
            raise ValueError(_("a role is one of {roles}").format(roles=", ".join(ROLES)))
        people_store.save(self.store, Person(id=person_id, name=name or person_id, roles=(role,)), by)
        self.journal.append("operation", by, person_id, {"person_added": person_id, "roles": [role],
                                                          "reason": reason})

    def revoke_person(self, person_id: str, by: str, reason: str) -> None:
        if identity.active_person(self, person_id) is None:  # type: ignore[arg-type]
            raise KeyError(_("'{id}' is not a current person of the estate").format(id=person_id))
        people_store.revoke(self.store, person_id, by, reason)
        with self.store.transaction() as conn:  # their sessions end now, not at their next request
            conn.execute("DELETE FROM web_sessions WHERE person = ?", [person_id])
        self.journal.append("operation", by, person_id, {"person_revoked": person_id, "reason": reason})

    def anyone(self) -> bool:
        return self.store.conn.execute("SELECT 1 FROM people LIMIT 1").fetchone() is not None


def os_account() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def open_estate_app(config: Any, create_key: bool = True) -> EstateApp:
    """The estate's people and journal for a loaded EstateConfig (the key file is created at first use,
    unless `create_key` is False: verifying never makes a new key for an existing journal)."""
    Path(config.journal_store).parent.mkdir(parents=True, exist_ok=True)
    return EstateApp(config, create_key)

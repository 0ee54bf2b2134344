"""People, roles, training and revocations as the store holds them: what every check reads (R2, R3).

The site config seeds them at every open; `people add|revoke|train` change them at run time (those
changes are journaled by their callers), and a change is seen at once by every process, the
running appliance's door included, because nothing here caches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper.core.i18n import N_
from watchkeeper.evidence.store import Store
from watchkeeper.site.config import BASIC_COURSE, Person, Site, Training

migrations = Migrations("watchkeeper.site.people")
#: Who revoked a config person that was removed from the config.
CONFIG = "site config"


@migrations()
def m001_sources_and_training(db: sqlite_utils.Database) -> None:
    # The `people` table is the access rule's (its first migration); this set runs after every
    # plugin's, so it is there, unless the access rule is not installed.
    if not db["people"].exists():
        db["people"].create({"id": str, "name": str, "roles": str, "badges": str, "trained_on": str, "hours": str,
                             "added_by": str, "added_at": str, "revoked_by": str, "revoked_at": str}, pk="id")
    # source: "config" (mirrors the site config at every open) or "cli" (changed at run time, kept).
    db["people"].add_column("source", str)
    db["people"].add_column("revoke_reason", str)
    db["training"].create({
        "id": int, "person": str, "course": str, "completed_on": str, "trainer": str, "valid_until": str,
        "source": str, "recorded_by": str, "recorded_at": str,
    }, pk="id")
    db["training"].create_index(["person"])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def expires(record: Training, refresher_days: int | None) -> date | None:
    """The last day a training record counts: its own `valid_until`, else the site's refresher interval."""
    if record.valid_until is not None:
        return record.valid_until
    return record.completed_on + timedelta(days=refresher_days) if refresher_days else None


def training_problem(person: Person, on: date, refresher_days: int | None = None) -> str | None:
    """Why the person is not trained on the day `on` (none on file, expired, only from a later day), or None."""
    if not person.training:
        return N_("'{id}' has no training on file", id=person.id)
    if any(t.completed_on <= on and (expires(t, refresher_days) or on) >= on for t in person.training):
        return None
    future = sorted(t.completed_on for t in person.training if t.completed_on > on)
    if future:
        return N_("'{id}' is trained only from {day}", id=person.id, day=future[0].isoformat())
    ended = max(expires(t, refresher_days) or on for t in person.training)
    return N_("'{id}''s training expired on {day}", id=person.id, day=ended.isoformat())


class PeopleView(Protocol):
    """What a check may ask about people: the read-only view `authorize` receives."""

    def get(self, person_id: str) -> Person | None: ...

    def all(self) -> list[Person]: ...

    def by_badge(self, badge: str) -> Person | None: ...


class People:
    """The site's current people, read from the store on every call: the read-only view checks get."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _rows(self, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.store.conn.execute(f"SELECT * FROM people {where} ORDER BY rowid", list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def _person(self, row: dict[str, Any]) -> Person:
        training = tuple(
            Training(course, date.fromisoformat(taken), trainer or "", date.fromisoformat(until) if until else None)
            for course, taken, trainer, until in self.store.conn.execute(
                "SELECT course, completed_on, trainer, valid_until FROM training WHERE person = ?"
                " ORDER BY completed_on, id", [row["id"]]))
        return Person(id=row["id"], name=row["name"], roles=tuple(json.loads(row["roles"])),
                      badges=tuple(json.loads(row["badges"])),
                      trained_on=max((t.completed_on for t in training), default=None), hours=row["hours"],
                      revoked=bool(row["revoked_at"]), training=training)

    def get(self, person_id: str) -> Person | None:
        rows = self._rows("WHERE id = ?", [person_id])
        return self._person(rows[0]) if rows else None

    def all(self) -> list[Person]:
        return [self._person(row) for row in self._rows()]

    def by_badge(self, badge: str) -> Person | None:
        """The person holding a card number (the newest holder if a number was ever reissued)."""
        rows = self._rows("WHERE EXISTS (SELECT 1 FROM json_each(people.badges) WHERE value = ?)", [badge])
        return self._person(rows[-1]) if rows else None

    def revocation(self, person_id: str) -> dict[str, Any] | None:
        rows = self._rows("WHERE id = ? AND revoked_at IS NOT NULL", [person_id])
        return {k: rows[0][k] for k in ("revoked_by", "revoked_at", "revoke_reason")} if rows else None


class ConfigPeople:
    """The config's people as a read-only view like People: for a decision taken before a store exists
    (restoring a backup onto a bare machine)."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def get(self, person_id: str) -> Person | None:
        return self.site.person(person_id)

    def all(self) -> list[Person]:
        return list(self.site.people)

    def by_badge(self, badge: str) -> Person | None:
        return next((person for person in self.site.people if badge in person.badges), None)


def _training_rows(person: Person, source: str, actor: str) -> list[dict[str, Any]]:
    return [{"person": person.id, "course": t.course, "completed_on": t.completed_on.isoformat(),
             "trainer": t.trainer, "valid_until": t.valid_until.isoformat() if t.valid_until else None,
             "source": source, "recorded_by": actor, "recorded_at": _now()} for t in person.training]


def _person_row(person: Person) -> dict[str, Any]:
    return {"id": person.id, "name": person.name, "roles": json.dumps(list(person.roles)),
            "badges": json.dumps(list(person.badges)),
            "trained_on": person.trained_on.isoformat() if person.trained_on else None, "hours": person.hours}


def seed(store: Store, people: Iterable[Person]) -> None:
    """Make the store's config people mirror the site config; run-time additions and revocations stay.

    A config person the config no longer lists is revoked (by "site config"), and reinstated if it
    lists them again; their config training records are replaced by the config's.
    """
    listed = {person.id: person for person in people}
    with store.transaction() as conn:
        existing = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, source, revoked_by FROM people")}
        for person in listed.values():
            source, revoked_by = existing.get(person.id, ("config", None))
            if source != "config":
                continue  # changed at run time (or before sources were kept): the store's word is newer
            row = _person_row(person) | {"source": "config"}
            if person.id not in existing:
                store.db["people"].insert(row | {"added_by": CONFIG, "added_at": _now()})
            else:
                if revoked_by == CONFIG:  # listed again after it had been removed
                    row |= {"revoked_by": None, "revoked_at": None, "revoke_reason": None}
                store.db["people"].update(person.id, row)
            on_file = sorted((tuple(row) for row in conn.execute(
                "SELECT course, completed_on, trainer, valid_until FROM training WHERE person = ? AND source = 'config'",
                [person.id])), key=repr)
            listed_training = sorted(((r["course"], r["completed_on"], r["trainer"], r["valid_until"])
                                      for r in _training_rows(person, "config", CONFIG)), key=repr)
            if on_file != listed_training:  # opening again with the same config changes nothing
                conn.execute("DELETE FROM training WHERE person = ? AND source = 'config'", [person.id])
                store.db["training"].insert_all(_training_rows(person, "config", CONFIG))
        for person_id, (source, revoked_by) in existing.items():
            if source == "config" and person_id not in listed and revoked_by is None:
                conn.execute("UPDATE people SET revoked_by = ?, revoked_at = ?, revoke_reason = ? WHERE id = ?",
                             [CONFIG, _now(), "removed from the site config", person_id])


def save(store: Store, person: Person, actor: str) -> None:
    """Add or update a person at run time (reinstating a revoked one), adding training records not on file."""
    with store.transaction() as conn:
        store.db["people"].upsert(_person_row(person) | {
            "added_by": actor, "added_at": _now(), "revoked_by": None, "revoked_at": None, "revoke_reason": None,
            "source": "cli"}, pk="id")
        known = set(conn.execute("SELECT course, completed_on FROM training WHERE person = ?", [person.id]))
        store.db["training"].insert_all(row for row in _training_rows(person, "cli", actor)
                                        if (row["course"], row["completed_on"]) not in known)


def add_training(store: Store, person_id: str, record: Training, actor: str) -> None:
    with store.transaction():
        store.db["training"].insert({
            "person": person_id, "course": record.course, "completed_on": record.completed_on.isoformat(),
            "trainer": record.trainer, "valid_until": record.valid_until.isoformat() if record.valid_until else None,
            "source": "cli", "recorded_by": actor, "recorded_at": _now()})


def revoke(store: Store, person_id: str, actor: str, reason: str) -> None:
    with store.transaction():
        store.db["people"].update(person_id, {"revoked_by": actor, "revoked_at": _now(), "revoke_reason": reason})


__all__ = ["BASIC_COURSE", "CONFIG", "ConfigPeople", "People", "PeopleView", "add_training", "expires", "migrations", "revoke", "save", "seed",
           "training_problem"]

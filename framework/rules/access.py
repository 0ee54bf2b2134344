"""The access rule (R2, R3): who may enter the monitoring room, as the built-in `entry_decision`.

Staff whose role the site grants room access (operators and supervisors by default) enter when
trained and in their allowed hours; visitors only with a registration that has a purpose, a
supervisor's approval and a window they are inside; everyone else is refused. A site plugin
overrides any of it by returning an EntryDecision first. The R3 verdict reads what the door did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone
from typing import Any

import attrs
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.core.i18n import _
from watchkeeper.core.models import CredentialRead
from watchkeeper.rules.policy import roster, training_problem
from watchkeeper.rules.verdicts import Item, decide as conclude, journal_rows, local
from watchkeeper.site.config import Person, Site, placeholder_problem
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext

#: The set's name is stored in every site's database: renaming it would run these migrations again
#: on an existing store ("table people already exists"), so it keeps the name it was released with.
migrations = Migrations("watchkeeper.access")


@migrations()
def m001_people_visitors_events(db: sqlite_utils.Database) -> None:
    # People added or revoked at run time; the site config's people are the starting list.
    db["people"].create({"id": str, "name": str, "roles": str, "badges": str, "trained_on": str, "hours": str,
                         "added_by": str, "added_at": str, "revoked_by": str, "revoked_at": str}, pk="id")
    db["visitors"].create({
        "id": int, "name": str, "organisation": str, "purpose": str, "host": str,
        "valid_from": str, "valid_to": str, "badge": str, "pin_hash": str, "status": str,
        "registered_by": str, "registered_at": str, "decided_by": str, "decided_at": str,
        "entered_at": str, "left_at": str,
    }, pk="id")
    db["access_events"].create({
        "id": int, "time_utc": str, "door": str, "credential_kind": str, "credential": str,
        "person": str, "visitor": int, "event": str, "allowed": int, "reason": str, "actuated": int,
    }, pk="id")
    db["access_events"].create_index(["door", "time_utc"])


@attrs.frozen
class Visitor:
    id: int
    name: str
    organisation: str
    purpose: str
    host: str
    valid_from: datetime
    valid_to: datetime
    status: str
    badge: str = ""
    approved_by: str = ""


@attrs.frozen
class EntryDecision:
    allowed: bool
    reason: str


def within_hours(hours: str | None, moment: datetime) -> bool:
    """`"07:00-19:00"` in site local time; a range past midnight (`"22:00-06:00"`) wraps."""
    if not hours:
        return True
    start_text, _, end_text = hours.partition("-")
    start, end, now = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip()), moment.time()
    return start <= now < end if start <= end else (now >= start or now < end)


def decide(holder: Person | Visitor | None, site: Site, now: datetime) -> EntryDecision:
    """The built-in policy, as a pure function of who holds the credential and when."""
    if holder is None:
        return EntryDecision(False, "unknown credential")
    if isinstance(holder, Person) and holder.revoked:
        return EntryDecision(False, f"{holder.id}: access revoked")
    if isinstance(holder, Person):
        problem = person_problem(holder, site, now)
        if problem:
            return EntryDecision(False, problem)
        return EntryDecision(True, f"staff {holder.id} ({', '.join(holder.roles)})")
    if holder.status != "approved" or not holder.approved_by:
        return EntryDecision(False, f"visitor {holder.id}: registration {holder.status}, not approved")
    if placeholder_problem(holder.purpose or ""):
        return EntryDecision(False, f"visitor {holder.id}: registration states no purpose")
    if now < holder.valid_from:
        return EntryDecision(False, f"visitor {holder.id}: valid only from {holder.valid_from.astimezone(site.zone):%Y-%m-%d %H:%M}")
    if now >= holder.valid_to:
        return EntryDecision(False, f"visitor {holder.id}: registration expired {holder.valid_to.astimezone(site.zone):%Y-%m-%d %H:%M}")
    return EntryDecision(True, f"visitor {holder.id} ({holder.organisation}), host {holder.host}")


def person_problem(person: Person, site: Site, now: datetime) -> str | None:
    """Why the room refuses a member of staff at `now`, or None: role, training, hours (R2, R3)."""
    if not set(person.roles) & set(site.policies.room_access_roles):
        return f"{person.id}: role {', '.join(person.roles) or 'none'} has no room access"
    local = now.astimezone(site.zone)
    problem = training_problem(person, local.date(), site.policies.training_refresher_days)
    if problem:
        return f"{person.id}: untrained ({problem})"
    if not within_hours(person.hours, local):
        return f"{person.id}: outside allowed hours {person.hours}"
    return None


def visitor_problem(row: dict[str, Any], moment: datetime) -> str | None:
    """Why a stored visitor registration did not entitle entry at `moment`, or None (R3's evidence check)."""
    if not row["decided_by"] or row["status"] not in ("approved", "checked_out"):
        return "not approved"
    if placeholder_problem(row["purpose"] or ""):
        return "no purpose stated"
    if not row["valid_from"] <= moment.astimezone(timezone.utc).isoformat(timespec="seconds") < row["valid_to"]:
        return "outside the approved window"
    return None


@hookimpl(trylast=True)
def entry_decision(door: str, person: Person | Visitor | None, credential: CredentialRead, site: Site) -> EntryDecision:
    moment = credential.read_at
    return decide(person, site, moment)


def verdict(context: VerdictContext) -> Verdict:
    """R3: each door watched in the period, and everyone it let in was entitled to enter."""
    site = context.app.site
    evidence, breaches, missing = Evidence(), [], []
    if not site.doors:
        return conclude(context, evidence)
    people = {person.id: person for person in roster(context.app)}
    visitors = {row["id"]: row for row in context.rows("SELECT * FROM visitors")}
    events = context.rows("SELECT * FROM access_events WHERE time_utc >= ? AND time_utc < ? ORDER BY id", context.span())
    watched = journal_rows(context, "kind = 'access' AND actor = 'watchkeeper' AND body LIKE '%\"reader\"%'")
    for door in site.doors:
        own = [e["id"] for e in events if e["door"] == door.id]
        seen = [e["seq"] for e in watched if e["subject"] == door.id]
        evidence.extend("access_events", own)
        evidence.extend("journal", seen)
        if not own and not seen:
            missing.append(Item("R3.unwatched", _("no record of door {door} being watched in the period").format(
                door=door.id)))
    for event in events:
        if event["event"] != "entry" or not event["allowed"]:
            continue
        moment = datetime.fromisoformat(event["time_utc"])
        if event["person"] in people:
            why = person_problem(people[event["person"]], site, moment)
        elif event["visitor"] in visitors:
            why = visitor_problem(visitors[event["visitor"]], moment)
            if why is None:
                evidence.add("visitors", event["visitor"])
        else:
            why = "credential of nobody registered"
        if why:
            breaches.append(Item("R3.admitted_unentitled", _("{door} admitted {who} at {at}: {why}").format(
                door=event["door"], who=event["person"] or event["visitor"] or event["credential"],
                at=local(context, moment), why=why)))
    breaches.extend(records_missing(context))
    return conclude(context, evidence, breaches, missing, _("the room admitted only entitled people"))


#: A store row is written just before its journal entry: the store is searched this much earlier.
_RECORD_SLACK = timedelta(seconds=5)


def records_missing(context: VerdictContext) -> list[Item]:
    """Doors whose access events the journal recorded within the retention window
    (policies.access_retention_days, from the sector preset) but whose store rows are gone."""
    site = context.app.site
    kept_from = max(context.since, context.now - timedelta(days=site.policies.access_retention_days))
    if kept_from >= context.until:
        return []
    logged = journal_rows(context, "kind = 'access' AND body LIKE '%\"credential_kind\"%'", since=kept_from)
    items = []
    for door in site.doors:
        journaled = sum(1 for entry in logged if entry["subject"] == door.id)
        held = context.rows("SELECT count(*) AS n FROM access_events WHERE door = ? AND time_utc >= ? AND time_utc < ?",
                            [door.id, (kept_from - _RECORD_SLACK).isoformat(), context.until.isoformat()])
        kept = held[0]["n"] if held else 0
        if kept < journaled:
            items.append(Item("R3.records_missing", _(
                "{door}: the journal records {logged} access events since {since} but the store keeps {kept}; "
                "access records are kept {days} days").format(door=door.id, logged=journaled, kept=kept,
                                                               since=local(context, kept_from),
                                                               days=site.policies.access_retention_days)))
    return items


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R3", verdict, "doors watched; only entitled staff and approved visitors admitted"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)

"""The access rule (R2, R3): who may enter the monitoring room, as the built-in `entry_decision`.

Staff enter in their allowed hours, operators only while their training is current; visitors only
with a supervisor-approved registration and only inside its window; everyone else is refused. A
site plugin overrides any of it by returning an EntryDecision first.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

import attrs
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.rules.policy import untrained_operator
from watchkeeper.site.config import Person, Site

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
    local = now.astimezone(site.zone)
    if isinstance(holder, Person):
        untrained = untrained_operator(holder, site, local.date())
        if untrained:  # R2: the same rule as for operating the system
            return EntryDecision(False, f"{holder.id}: {untrained}")
        if not within_hours(holder.hours, local):
            return EntryDecision(False, f"{holder.id}: outside allowed hours {holder.hours}")
        return EntryDecision(True, f"staff {holder.id} ({', '.join(holder.roles)})")
    if holder.status != "approved":
        return EntryDecision(False, f"visitor {holder.id}: registration {holder.status}, not approved")
    if now < holder.valid_from:
        return EntryDecision(False, f"visitor {holder.id}: valid only from {holder.valid_from.astimezone(site.zone):%Y-%m-%d %H:%M}")
    if now >= holder.valid_to:
        return EntryDecision(False, f"visitor {holder.id}: registration expired {holder.valid_to.astimezone(site.zone):%Y-%m-%d %H:%M}")
    return EntryDecision(True, f"visitor {holder.id} ({holder.organisation}), host {holder.host}")


@hookimpl(trylast=True)
def entry_decision(door: str, person: object, credential: object, site: Site) -> EntryDecision:
    moment = getattr(credential, "read_at", None) or datetime.now(timezone.utc)
    return decide(person, site, moment)


@hookimpl
def register_migrations(register: object) -> None:
    register(migrations)

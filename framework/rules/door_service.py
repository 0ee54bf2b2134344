"""The monitoring-room service (R2, R3): people, visitor registrations, door decisions and their log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from watchkeeper.site.app import App, Refused
from watchkeeper.site import people as people_store
from watchkeeper.site.config import BASIC_COURSE, Person, Training, hours_problem, placeholder_problem
from watchkeeper.site.doorlock import hold_door
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_, Text
from watchkeeper.devices.drivers import DeviceError, door_findings
from watchkeeper.core.models import CredentialKind, CredentialRead
from watchkeeper.devices.drivers import DoorDriver
from watchkeeper.rules.access import EntryDecision, Visitor

#: This many refusals at one door inside the window raise REPEATED_DENIALS.
DENIALS_FOR_FINDING = 3
DENIAL_WINDOW = timedelta(minutes=5)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """A salted scrypt hash: a visitor's PIN is checked, never stored."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**12, r=8, p=1, dklen=32)
    return f"{salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    salt, _, expected = stored.partition("$")
    return hmac.compare_digest(hash_pin(pin, bytes.fromhex(salt)).partition("$")[2], expected)


@attrs.define
class Access:
    """People, visitors and door decisions over an opened App."""

    app: App

    # --- people -------------------------------------------------------------------------------

    def people(self) -> list[Person]:
        """The site's current people, from the store (the config seeds it at every open)."""
        return self.app.people.all()

    def person(self, person_id: str) -> Person | None:
        return self.app.people.get(person_id)

    def _require(self, actor: str, action: str, resource: str) -> None:
        self.app.require(actor, action, resource, kind="access")

    def add_person(self, actor: str, person: Person) -> None:
        if person.hours and hours_problem(person.hours):
            raise ValueError(hours_problem(person.hours))
        self._require(actor, "people.manage", person.id)
        if person.trained_on and not any(t.completed_on == person.trained_on for t in person.training):
            person = attrs.evolve(person, training=(*person.training, Training(BASIC_COURSE, person.trained_on)))
        people_store.save(self.app.store, person, actor)
        self.app.journal.append("access", actor, person.id, {"person_added": attrs.asdict(person)})

    def revoke_person(self, actor: str, person_id: str, reason: str = "") -> None:
        self._require(actor, "people.manage", person_id)
        if self.person(person_id) is None:
            raise KeyError(f"no person {person_id!r}")
        people_store.revoke(self.app.store, person_id, actor, reason)
        self.app.journal.append("access", actor, person_id, {"person_revoked": person_id, "reason": reason})

    def add_training(self, actor: str, person_id: str, record: Training) -> None:
        """Record a course a person took (R2): from its date until `valid_until` or the site's refresher."""
        self._require(actor, "people.manage", person_id)
        if self.person(person_id) is None:
            raise KeyError(f"no person {person_id!r}")
        if not record.course.strip():
            raise ValueError("a training record needs a course")
        if record.valid_until is not None and record.valid_until < record.completed_on:
            raise ValueError(f"valid until {record.valid_until} is before the training date {record.completed_on}")
        people_store.add_training(self.app.store, person_id, record, actor)
        self.app.journal.append("access", actor, person_id, {"training_recorded": attrs.asdict(record)})

    # --- visitors -----------------------------------------------------------------------------

    def register_visitor(self, actor: str, name: str, organisation: str, purpose: str, host: str,
                         valid_from: datetime, valid_to: datetime, badge: str = "", pin: str = "") -> int:
        self._require(actor, "visitor.register", name)
        if placeholder_problem(purpose):
            raise ValueError(f"a visit needs its purpose: {placeholder_problem(purpose)}")
        if valid_to <= valid_from:
            raise ValueError("the visit must end after it starts")
        if self.person(host) is None:
            raise ValueError(f"host {host!r} is not a person on the site")
        if not badge and not pin:
            raise ValueError("a visitor needs a badge or a PIN")
        visitor_id = self.app.store.db["visitors"].insert({
            "name": name, "organisation": organisation, "purpose": purpose, "host": host,
            "valid_from": _iso(valid_from), "valid_to": _iso(valid_to), "badge": badge or None,
            "pin_hash": hash_pin(pin) if pin else None, "status": "pending",
            "registered_by": actor, "registered_at": _iso(datetime.now(timezone.utc)),
        }).last_pk
        self.app.journal.append("access", actor, f"visitor-{visitor_id}", {
            "visitor_registered": {"name": name, "organisation": organisation, "purpose": purpose, "host": host,
                                   "valid_from": _iso(valid_from), "valid_to": _iso(valid_to),
                                   "badge": badge or None, "pin": bool(pin)}})
        return int(visitor_id or 0)

    def decide_visitor(self, actor: str, visitor_id: int, approve: bool) -> None:
        row = self.app.store.row("visitors", visitor_id, "visitor")
        self._require(actor, "visitor.approve", f"visitor-{visitor_id}")
        if row["registered_by"] == actor:
            self.app.journal.append("access", actor, f"visitor-{visitor_id}", {"refused": "approve own registration"})
            raise Refused(N_("{actor} registered visitor {id} and may not also approve it", actor=actor, id=visitor_id))
        status = "approved" if approve else "rejected"
        self.app.store.db["visitors"].update(visitor_id, {"status": status, "decided_by": actor,
                                                          "decided_at": _iso(datetime.now(timezone.utc))})
        self.app.journal.append("access", actor, f"visitor-{visitor_id}", {"visitor": status})

    def checkout_visitor(self, actor: str, visitor_id: int) -> None:
        self.app.store.row("visitors", visitor_id, "visitor")
        self._require(actor, "visitor.register", f"visitor-{visitor_id}")
        now = _iso(datetime.now(timezone.utc))
        self.app.store.db["visitors"].update(visitor_id, {"status": "checked_out", "left_at": now})
        self.log_event("room", None, None, visitor_id, "exit", True, N_("checked out by {actor}", actor=actor), None)

    def visitors(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "pin_hash"} for row in self.app.store.db["visitors"].rows]

    def _visitor(self, row: dict[str, Any]) -> Visitor:
        return Visitor(id=row["id"], name=row["name"], organisation=row["organisation"], purpose=row["purpose"],
                       host=row["host"], valid_from=datetime.fromisoformat(row["valid_from"]),
                       valid_to=datetime.fromisoformat(row["valid_to"]), status=row["status"],
                       badge=row["badge"] or "", approved_by=row["decided_by"] or "")

    # --- doors --------------------------------------------------------------------------------

    def holder(self, credential: CredentialRead) -> Person | Visitor | None:
        if credential.kind is CredentialKind.CARD:
            person = self.app.people.by_badge(credential.value)
            if person is not None:
                return person
            row = next(self.app.store.db["visitors"].rows_where(
                "badge = ? ORDER BY id DESC LIMIT 1", [credential.value]), None)
            return self._visitor(row) if row else None
        for row in self.app.store.db["visitors"].rows_where("pin_hash IS NOT NULL AND status = 'approved'"):
            if pin_matches(credential.value, row["pin_hash"]):
                return self._visitor(row)
        return None

    def decide(self, door: str, credential: CredentialRead) -> tuple[EntryDecision, Person | Visitor | None]:
        holder = self.holder(credential)
        decision = self.app.entry_decision(door, holder, credential)
        if decision.allowed:
            # Anti-passback is the host's, after any policy: no plugin's yes lets one card in twice.
            passback = self._passback(door, credential)
            if passback:
                decision = EntryDecision(False, passback)
        return decision, holder

    def _passback(self, door_id: str, credential: CredentialRead) -> str | None:
        door = next((d for d in self.app.site.doors if d.id == door_id), None)
        if door is None or not door.passback_seconds or credential.kind is not CredentialKind.CARD:
            return None
        since = _iso(credential.read_at - timedelta(seconds=door.passback_seconds))
        row = self.app.store.conn.execute(
            "SELECT time_utc FROM access_events WHERE door = ? AND credential = ? AND event = 'entry' AND allowed = 1"
            " AND time_utc >= ? ORDER BY time_utc DESC LIMIT 1", [door_id, credential.value, since]).fetchone()
        if row is None:
            return None
        entered = datetime.fromisoformat(row[0]).astimezone(self.app.site.zone)
        return N_("anti-passback: this card already entered at {time}", time=entered.strftime("%H:%M:%S"))

    def record_decision(self, door: str, credential: CredentialRead, decision: EntryDecision,
                        holder: Person | Visitor | None, actuated: bool | None) -> None:
        person = holder.id if isinstance(holder, Person) else None
        visitor = holder.id if isinstance(holder, Visitor) else None
        shown = credential.value if credential.kind is CredentialKind.CARD else "PIN"
        self.log_event(door, credential.kind, shown, visitor, "entry", decision.allowed, decision.reason,
                        actuated, person=person)
        if visitor is not None and decision.allowed:
            self.app.store.db["visitors"].update(visitor, {"entered_at": _iso(credential.read_at)})
        if not decision.allowed:
            self._check_denials(door)

    def log_event(self, door: str, kind: CredentialKind | None, credential: str | None, visitor: int | None,
                   event: str, allowed: bool, reason: str, actuated: bool | None, person: str | None = None) -> None:
        row = {"time_utc": _iso(datetime.now(timezone.utc)), "door": door,
               "credential_kind": str(kind) if kind else None, "credential": credential, "person": person,
               "visitor": visitor, "event": event, "allowed": int(allowed), "reason": str(reason),
               "actuated": None if actuated is None else int(actuated)}
        # The reason in English (as journaled) and as msgid + params for readers of other languages.
        message = json.dumps(reason.to_json(), ensure_ascii=False) if isinstance(reason, Text) else None
        self.app.store.db["access_events"].insert({**row, "reason_msg": message})
        # the reason itself, not its text: the journal keeps a Text's msgid next to it (encode_body)
        body: dict[str, Any] = {**{k: v for k, v in row.items() if k not in ("door", "time_utc")}, "reason": reason}
        self.app.journal.append("access", person or (f"visitor-{visitor}" if visitor else "unknown"), door, body)
        self.app.pm.hook.on_access_event(event=row, site=self.app.site)

    def _check_denials(self, door: str) -> None:
        since = _iso(datetime.now(timezone.utc) - DENIAL_WINDOW)
        count = self.app.store.conn.execute(
            "SELECT count(*) FROM access_events WHERE door = ? AND allowed = 0 AND event = 'entry' AND time_utc >= ?",
            [door, since]).fetchone()[0]
        if count >= DENIALS_FOR_FINDING:
            self.app.finding_store().record(Finding(
                FindingKind.REPEATED_DENIALS, door, N_("{count} refused entries in {minutes} min", count=count,
                                                      minutes=DENIAL_WINDOW.seconds // 60),
                measured=float(count), threshold=float(DENIALS_FOR_FINDING)))


#: How long a reader is given to answer its first polls (link, then secure channel) before it is
#: judged: a reader is not offline just because the appliance started a moment ago. Read at each
#: wait, so a test of a dead reader's refusal can shorten it.
FIRST_ANSWER_SECONDS = 10.0


async def wait_online(driver: DoorDriver, seconds: float | None = None) -> bool:
    """Wait for a door reader to come online (its link and secure channel take a moment); stop
    early when it answers but refuses the secure channel, which waiting does not mend."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (FIRST_ANSWER_SECONDS if seconds is None else seconds)
    while not (status := await driver.status()).online:
        if status.secure_channel_failed or loop.time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def handle_read(access: Access, door_id: str, driver: DoorDriver, read: CredentialRead, strike_seconds: float) -> EntryDecision:
    """One credential read at a door: decide, actuate (strike or refusal signal), record it all."""
    from watchkeeper.devices.drivers import DeviceError

    decision, holder = access.decide(door_id, read)
    try:
        if decision.allowed:
            await driver.grant(strike_seconds)
        else:
            await driver.deny()
        actuated = True
    except DeviceError as error:
        actuated = False
        decision = attrs.evolve(decision, reason=N_("{decision}; reader did not acknowledge: {error}",
                                                    decision=decision.reason, error=error.reason))
    access.record_decision(door_id, read, decision, holder, actuated)
    return decision


async def serve_door(access: Access, door_id: str, driver: DoorDriver, strike_seconds: float) -> None:
    """Answer every credential read at a door until cancelled."""
    async for read in driver.reads():
        await handle_read(access, door_id, driver, read, strike_seconds)


async def manual_open(app: App, actor: str, door_id: str, seconds: float | None = None,
                      driver: Any = None) -> None:
    """Open a door by hand (a delivery, an emergency): authorised, actuated, and journaled.

    The running appliance passes the driver it holds; anyone else gets the reader for the opening
    only, and DoorHeld when another process holds it (two control panels on one reader knock each
    other off the link).
    """
    door = app.site.door(door_id)
    app.require(actor, "door.open", door_id, kind="access")
    if driver is not None:
        await _open(app, actor, door, driver, seconds)
        return
    with hold_door(app.site, door_id):
        driver = app.door_driver(door_id)
        try:
            await _open(app, actor, door, driver, seconds)
        finally:
            await driver.close()


async def _open(app: App, actor: str, door: Any, driver: Any, seconds: float | None) -> None:
    access = Access(app)
    try:
        await wait_online(driver)
        await driver.grant(seconds or door.strike_seconds)
        access.log_event(door.id, None, None, None, "manual_open", True, N_("opened by {actor}", actor=actor), True, person=actor)
    except DeviceError as error:
        access.log_event(door.id, None, None, None, "manual_open", False,
                          N_("open by {actor} failed: {reason}", actor=actor, reason=error.reason), False, person=actor)
        raise


async def door_state(door_id: str, driver: Any, wait: bool = False) -> dict[str, Any]:
    """A door reader's status and the findings it means, as `door status` prints it."""
    if wait:
        await wait_online(driver)
    status = await driver.status()
    return {"door": door_id, "online": status.online, "secure_channel": status.secure_channel,
            "secure_channel_failed": status.secure_channel_failed, "tamper": status.tamper,
            "door_open": status.door_open, "last_seen": status.last_seen.isoformat() if status.last_seen else None,
            "findings": [{"kind": str(f.kind), "reason": f.reason} for f in door_findings(door_id, status)]}


async def read_door_state(app: App, door_id: str) -> dict[str, Any]:
    """Connect a site's door reader (holding it meanwhile), wait for its first answer, report."""
    app.site.door(door_id)
    with hold_door(app.site, door_id):
        driver = app.door_driver(door_id)
        try:
            return await door_state(door_id, driver, wait=True)
        finally:
            await driver.close()

"""What the appliance watches at the monitoring-room door (R3): the contact (forced, held open) and the
reader's link, each change journaled."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchkeeper.rules.door_service import Access
from watchkeeper.devices.drivers import DOOR_LINK_KINDS, door_findings
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.core.models import DoorStatus

if TYPE_CHECKING:
    from watchkeeper.faces.service import Appliance


class DoorContact:
    """The door contact's story: opened without a grant is forced, open too long is held open (R3)."""

    def __init__(self, appliance: Appliance, access: Access, door: Any) -> None:
        self.appliance, self.access, self.door = appliance, access, door
        self.opened_at: datetime | None = None

    def _granted_since(self, moment: datetime) -> bool:
        row = self.appliance.app.store.conn.execute(
            "SELECT count(*) FROM access_events WHERE door = ? AND allowed = 1 AND event IN ('entry', 'manual_open')"
            " AND time_utc >= ?", [self.door.id, moment.isoformat(timespec="seconds")]).fetchone()
        return bool(row[0])

    def update(self, is_open: bool, now: datetime) -> None:
        findings, door = self.appliance.findings, self.door
        if is_open and self.opened_at is None:
            self.opened_at = now
            # A grant opens the strike for strike_seconds; a person may take a few more to pull the door.
            if not self._granted_since(now - timedelta(seconds=door.strike_seconds + 5)):
                findings.record(Finding(FindingKind.DOOR_FORCED, door.id, N_("door opened without a grant")))
                self.access.log_event(door.id, None, None, None, "forced", False, N_("door opened without a grant"), None)
        elif not is_open and self.opened_at is not None:
            self.opened_at = None
            findings.close(FindingKind.DOOR_HELD_OPEN, door.id)
            findings.close(FindingKind.DOOR_FORCED, door.id)
        if self.opened_at is not None and (now - self.opened_at).total_seconds() > door.held_open_seconds:
            findings.record(Finding(FindingKind.DOOR_HELD_OPEN, door.id,
                                    N_("door open for {seconds:.0f} s", seconds=(now - self.opened_at).total_seconds()),
                                    measured=round((now - self.opened_at).total_seconds(), 1),
                                    threshold=door.held_open_seconds))


class ReaderWatch:
    """The reader's link story (R3): every change is journaled, and once a site-local day that the
    door is watched; only an outage longer than the site's transient grace becomes a finding, so
    the moment a reader takes to come up at start, or a blip, fails nothing."""

    def __init__(self, appliance: Appliance, door: Any, now: datetime) -> None:
        self.appliance, self.door = appliance, door
        self.grace = appliance.app.site.policies.transient_grace_seconds
        self.online: bool | None = None
        self.offline_since: datetime | None = now
        self.day: Any = None

    def _journal(self, body: dict[str, Any], now: datetime) -> None:
        self.appliance.app.journal.append("access", "watchkeeper", self.door.id, body, at=now)
        self.day = now.astimezone(self.appliance.app.site.zone).date()

    def update(self, status: DoorStatus, now: datetime) -> None:
        """Judge a status by the one mapping from status to findings (`door_findings`): a reader
        offline or refusing the secure channel after the grace, tamper at once."""
        findings, online = self.appliance.findings, status.online
        seen = {finding.kind: finding for finding in door_findings(self.door.id, status)}
        if online:
            if self.online is not True:
                outage = (now - self.offline_since).total_seconds() if self.offline_since else 0.0
                self._journal({"reader": "online", "offline_seconds": round(outage, 1)}, now)
                for kind in DOOR_LINK_KINDS:
                    findings.close(kind, self.door.id)
            self.offline_since = None
        else:
            if self.online is not False:
                self.offline_since = self.offline_since or now
                self._journal({"reader": "offline", "starting": self.online is None}, now)
            outage = (now - (self.offline_since or now)).total_seconds()
            link = next(seen[kind] for kind in DOOR_LINK_KINDS if kind in seen)
            if outage > self.grace:
                findings.record(Finding(link.kind, self.door.id, N_("{reason} ({seconds:.0f} s)", reason=link.reason, seconds=outage),
                                        measured=round(outage, 1), threshold=self.grace))
                for kind in set(DOOR_LINK_KINDS) - {link.kind}:
                    findings.close(kind, self.door.id)
        if FindingKind.READER_TAMPER in seen:
            findings.record(seen[FindingKind.READER_TAMPER])
        else:
            findings.close(FindingKind.READER_TAMPER, self.door.id)
        self.online = online
        if now.astimezone(self.appliance.app.site.zone).date() != self.day:
            self._journal({"reader": "online" if online else "offline", "watching": True}, now)

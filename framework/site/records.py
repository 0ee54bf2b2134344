"""The site config as records: cameras, recorders, doors, people, duty, policies and the site itself."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from watchkeeper.core.i18n import N_
from watchkeeper.core.models import Secret
from watchkeeper.site.identityconfig import IdentityConfig
from watchkeeper.site.distributed import Distributed
from watchkeeper.site.estatelink import EstateLink


ROLES = ("operator", "supervisor", "maintenance", "administrator", "auditor")
#: Standard time when a site names none (R7): China's national time service, then a public pool.
DEFAULT_NTP_SERVERS = ("ntp.ntsc.ac.cn", "cn.pool.ntp.org")
#: Who the monitoring-room door admits when a site says nothing else (R3).
DEFAULT_ROOM_ROLES = ("operator", "supervisor")
#: Values that say a camera's scope was never really written down (R1), compared case-folded.
PLACEHOLDERS = frozenset({"todo", "tbd", "tba", "tbc", "fixme", "xxx", "xx", "n/a", "na", "none", "null", "unknown",
                          "?", "-", "--", "...", "…", "待定", "未定", "待补充", "暂无", "无", "未知", "todo:", "placeholder"})
PLACEHOLDER_PREFIX = re.compile(r"^(todo|tbd|fixme|xxx)\b|^(待定|待补充|未定)", re.IGNORECASE)
PROFILES = ("day", "night", "ir")
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MISSING = object()

@attrs.frozen
class Policies:
    clock_tolerance_seconds: float = 30.0
    retention_days: int = 30
    #: NTP servers ("host" or "host:port") the host clock is checked against: standard time (R7).
    ntp_servers: tuple[str, ...] = DEFAULT_NTP_SERVERS
    correct_clocks: bool = False
    inspection_times: tuple[str, ...] = ("08:00", "20:00")
    gap_threshold_seconds: float = 60.0
    inspection_frames: int = 5
    frame_interval_seconds: float = 1.0
    playback_seconds: float = 10.0
    thresholds: dict[str, dict[str, float]] = attrs.field(factory=dict)
    #: A training record without its own `valid_until` expires this many days after it was taken.
    training_refresher_days: int | None = None
    #: A fault open this long escalates to the supervisors (R5), as a `fault_escalated` finding.
    escalate_after_hours: float = 24.0
    #: An approved request covers retrieval on the recorder itself this long after its approval (R9).
    retrieval_valid_hours: float = 24.0
    #: A device log entry matches watchkeeper's own retrieval within this many seconds (clock skew, slow replies).
    audit_match_seconds: float = 300.0
    #: A reader offline for less than this is journaled but is no breach (start-up, a blip) (R3).
    transient_grace_seconds: float = 60.0
    #: Roles the monitoring-room door admits (trained and in their hours) (R3).
    room_access_roles: tuple[str, ...] = DEFAULT_ROOM_ROLES
    #: A supervisor reviews the period's report at least this often (R10).
    review_interval_days: int = 30
    #: A single-operator site may let the CLI take `--actor` on its word (journaled as a warning at
    #: every use); otherwise a person proves who they are (password or OS account).
    trust_actor: bool = False
    #: The sector preset (site.presets) that filled the values the site did not write, and which it wrote.
    preset: str = "general"
    overrides: tuple[str, ...] = ()
    #: Days the access log and visitor records must be kept (R3); watchkeeper itself never deletes them.
    access_retention_days: int = 30


@attrs.frozen
class Recorder:
    id: str
    platform: str
    host: str
    port: int
    username: str = ""
    password: Secret = Secret("")
    timeout_seconds: float = 5.0
    #: How many channels it records, when the site declares it: cameras' channels must fit.
    channels: int | None = None
    #: Per-device settings its platform's driver reads (`Platform.options`).
    options: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class Camera:
    id: str
    name: str
    location: str
    purpose: str
    zone: str
    platform: str | None = None
    host: str | None = None
    port: int | None = None
    username: str = ""
    password: Secret = Secret("")
    timeout_seconds: float = 5.0
    channel: int = 1
    recorder: str | None = None
    recorder_channel: int | None = None
    profile: str = "day"
    retention_days: int | None = None
    options: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class Door:
    id: str
    platform: str
    name: str = ""
    host: str | None = None
    port: int | None = None
    serial_port: str | None = None
    address: int = 0
    scbk: Secret = Secret("")
    strike_seconds: float = 5.0
    held_open_seconds: float = 30.0
    #: The same card cannot enter through this door again within this many seconds (passing a badge
    #: back to let a second person in); 0 turns anti-passback off.
    passback_seconds: float = 120.0
    options: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class Training:
    """One course a person took (R2): valid from its date until `valid_until` or the site's refresher."""

    course: str
    completed_on: date
    trainer: str = ""
    valid_until: date | None = None


#: The course a bare `trained_on` date (config, `people add --trained-on`) stands for.
BASIC_COURSE = "operator training"


@attrs.frozen
class Person:
    id: str
    name: str
    roles: tuple[str, ...]
    badges: tuple[str, ...] = ()
    trained_on: date | None = None
    hours: str | None = None
    #: Set for people revoked at run time (`watchkeeper people revoke`); config people never are.
    revoked: bool = False
    #: Every training record; a `trained_on` date is one of them (course BASIC_COURSE).
    training: tuple[Training, ...] = ()
    #: The OS account whose commands are this person's without a password (checked against the real uid).
    os_user: str | None = None


@attrs.frozen
class MaintenanceTask:
    id: str
    title: str
    every: str = "daily"
    #: A supervisor countersigns each tick (other than the person who did it) before it counts.
    countersign: bool = False


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@attrs.frozen
class Duty:
    """Who is on duty for a shift (R5): the shift starts at one of policies.inspection_times."""

    shift: str
    operators: tuple[str, ...]
    #: Days of the week this roster line applies to; every day when empty.
    days: tuple[str, ...] = ()


#: R4's checklist when a site lists none of its own: the regulation's own list.
DEFAULT_MAINTENANCE = (
    MaintenanceTask("wipe", N_("Daily wipe-down of desks, consoles and screens (小擦)"), "daily"),
    MaintenanceTask("ventilation", N_("Room ventilated"), "daily"),
    MaintenanceTask("nothing-unrelated", N_("Nothing unrelated stored in the room"), "daily"),
    MaintenanceTask("clean", N_("Weekly thorough clean of the room (大扫)"), "weekly", countersign=True),
)
PERIODS = ("daily", "weekly")


@attrs.frozen
class WitnessConfig:
    """Where the journal's heads are witnessed outside the appliance (see evidence.witness)."""

    syslog: str = "local"
    file: Path | None = None


@attrs.frozen
class Backup:
    """The nightly backup: where it goes, how many are kept, and the passphrase that seals the key."""

    folder: Path
    passphrase: Secret
    keep: int = 14
    at: str = "01:30"


@attrs.frozen
class Site:
    name: str
    time_zone: str
    source: Path | None = None
    store: Path = Path("watchkeeper.db")
    journal_key: Path = Path("journal.key")
    plugins_dir: Path | None = None
    exports_dir: Path = Path("exports")
    policies: Policies = Policies()
    recorders: tuple[Recorder, ...] = ()
    cameras: tuple[Camera, ...] = ()
    doors: tuple[Door, ...] = ()
    people: tuple[Person, ...] = ()
    maintenance: tuple[MaintenanceTask, ...] = ()
    witness: WitnessConfig = WitnessConfig()
    backup: Backup | None = None
    estate: EstateLink | None = None
    #: The task queue per-camera work goes through ([distributed]); None runs it in-process.
    distributed: Distributed | None = None
    duty: tuple[Duty, ...] = ()
    identity: IdentityConfig = IdentityConfig()
    warnings: tuple[str, ...] = ()
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def camera(self, camera_id: str) -> Camera:
        return _by_id(self.cameras, camera_id, "camera")

    def recorder(self, recorder_id: str) -> Recorder:
        return _by_id(self.recorders, recorder_id, "recorder")

    def door(self, door_id: str) -> Door:
        return _by_id(self.doors, door_id, "door")

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)


def _by_id(items: tuple, item_id: str, what: str) -> Any:
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"no {what} '{item_id}' in the site config")



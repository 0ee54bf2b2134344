"""Loads and validates the site config (one TOML file) into attrs models, reporting every error."""

from __future__ import annotations

import difflib
import re
import tomllib
from datetime import date, time
from pathlib import Path
from collections.abc import Collection, Mapping
from typing import Any, Callable, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from watchkeeper.core.files import FileReadError, read_regular_file
from watchkeeper.core.i18n import N_, _, localize
from watchkeeper.core.models import Secret
from watchkeeper.core.secrets import SecretError, SecretUnset, resolve_secret
from watchkeeper.devices.drivers import OptionCheck, option_problem
from watchkeeper.site.identityconfig import IdentityConfig, identity_section, os_user_problems
from watchkeeper.site.presets import DEFAULT_PRESET, below_floor, overrides, preset_defaults, preset_problem
from watchkeeper.site.limits import MAX_CONFIG_BYTES, depth_problem, nesting_problem, range_problem
from watchkeeper.site.distributed import Distributed, load_distributed
from watchkeeper.evidence.witness import parse_syslog_address
from watchkeeper.site.estatelink import EstateLink, estate_link

ROLES = ("operator", "supervisor", "maintenance", "administrator", "auditor")
#: Standard time when a site names none (R7): China's national time service, then a public pool.
DEFAULT_NTP_SERVERS = ("ntp.ntsc.ac.cn", "cn.pool.ntp.org")
#: Who the monitoring-room door admits when a site says nothing else (R3).
DEFAULT_ROOM_ROLES = ("operator", "supervisor")
#: Values that say a camera's scope was never really written down (R1), compared case-folded.
PLACEHOLDERS = frozenset({"todo", "tbd", "tba", "tbc", "fixme", "xxx", "xx", "n/a", "na", "none", "null", "unknown",
                          "?", "-", "--", "...", "…", "待定", "未定", "待补充", "暂无", "无", "未知", "todo:", "placeholder"})
_PLACEHOLDER_PREFIX = re.compile(r"^(todo|tbd|fixme|xxx)\b|^(待定|待补充|未定)", re.IGNORECASE)
PROFILES = ("day", "night", "ir")
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MISSING = object()


@attrs.frozen
class ConfigProblem:
    path: str
    reason: str


class ConfigError(Exception):
    """Everything wrong with a config file, each problem with its key path."""

    def __init__(self, source: Path | str, problems: list[ConfigProblem]) -> None:
        self.source = str(source)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        colon = _(": ")
        lines = [self.source + colon + (_("{count} error") if count == 1 else _("{count} errors")).format(count=count)]
        lines += [f"{self.source}{colon}{p.path}{colon}{localize(p.reason)}" for p in self.problems]
        return "\n".join(lines)


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


_TYPE_NAMES = {str: N_("a string"), int: N_("an integer"), float: N_("a number"), bool: N_("true or false"),
               list: N_("a list"), dict: N_("a table"), date: N_("a date (YYYY-MM-DD)")}
_DEVICE_KINDS = {"camera": N_("camera"), "door": N_("door")}


class _Table:
    """Reads one TOML table, recording every problem under its key path instead of stopping."""

    def __init__(self, loader: _Loader, path: str, data: Any) -> None:
        self.loader, self.path, self.data = loader, path, data if isinstance(data, dict) else {}
        self.seen: set[str] = set()
        if not isinstance(data, dict):
            loader.problem(path, _("must be a table, not {type}").format(type=type(data).__name__))

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type, default: Any = MISSING,
            check: Callable[[Any], str | None] | None = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is MISSING:
                self.loader.problem(self.key_path(key), _("required key is missing"))
                return None
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.loader.problem(self.key_path(key), _("must be {expected}, not {type} {value!r}").format(
                expected=localize(_TYPE_NAMES.get(kind, kind.__name__)), type=type(value).__name__, value=value))
            return None if default is MISSING else default
        if kind in (int, float):
            reason = range_problem(self.path, key, cast(float, value))
            if reason:
                self.loader.problem(self.key_path(key), reason)
                return None if default is MISSING else default
        if check is not None:
            reason = check(value)
            if reason:
                self.loader.problem(self.key_path(key), reason)
                return None if default is MISSING else default
        return value

    def secret(self, key: str) -> Secret:
        raw = self.get(key, str, "")
        if not raw:
            return Secret("")
        try:
            secret, inline = resolve_secret(raw, self.loader.base_dir)
        except SecretUnset as error:
            if self.loader.secrets_required:
                self.loader.problem(self.key_path(key), str(error))
            else:  # `config check` may run in another shell than the appliance
                self.loader.warnings.append(_("{key}: {error} in this shell; `run` needs it").format(
                    key=self.key_path(key), error=error))
            return Secret("")
        except SecretError as error:
            self.loader.problem(self.key_path(key), str(error))
            return Secret("")
        if inline:
            self.loader.warnings.append(_("{key}: secret written inline; use env:NAME or file:PATH").format(
                key=self.key_path(key)))
        return secret

    def finish(self) -> None:
        for key in self.data:
            if key not in self.seen:
                hint = difflib.get_close_matches(key, sorted(self.seen), n=1)
                self.loader.problem(self.key_path(key), _("unknown key; did you mean '{hint}'?").format(hint=hint[0])
                                    if hint else _("unknown key"))


def _item_path(key: str, index: int, item: Any) -> str:
    """`cameras[id=lobby]`: an item named by its id, which the installer knows; by index without one."""
    item_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(item_id, str) and IDENTIFIER.match(item_id):
        return f"{key}[id={item_id}]"
    return f"{key}[{index}]"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _not_blank(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be a port number from 1 to 65535"


def _identifier(value: str) -> str | None:
    return None if IDENTIFIER.match(value) else "must be letters, digits, '.', '_' or '-' (at most 64)"


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda value: None if value in choices else _("must be one of {choices}, not {value!r}").format(
        choices=", ".join(choices), value=value)


def _time_of_day(value: str) -> str | None:
    try:
        time.fromisoformat(value)
    except ValueError:
        return _("{value!r} is not a time of day like 08:00").format(value=value)
    return None


def hours_problem(value: str) -> str | None:
    """Why `value` is not a range of allowed hours, or None when it is."""
    start, dash, end = value.partition("-")
    if not dash or _time_of_day(start.strip()) or _time_of_day(end.strip()):
        return _("{value!r} is not a range of hours like 07:00-19:00 (22:00-06:00 spans midnight)").format(value=value)
    return None


def placeholder_problem(value: str) -> str | None:
    """Why a value that must describe something (a camera's scope, R1; a visit's purpose, R3) is a
    placeholder rather than a description, or None."""
    text = value.strip()
    if not text:
        return _("must be written down, not left empty")
    if text.casefold() in PLACEHOLDERS or _PLACEHOLDER_PREFIX.match(text) or not any(ch.isalnum() for ch in text):
        return _("{value!r} is a placeholder, not a description").format(value=value)
    return None


def _ntp_server(value: str) -> str | None:
    host, colon, port = value.rpartition(":") if value.count(":") == 1 else ("", "", "")
    if colon and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        return _("{value!r} is not an NTP server like ntp.ntsc.ac.cn or 127.0.0.1:123").format(value=value)
    return None if value.strip() else "must name a server"


def ntp_address(server: str) -> tuple[str, int]:
    """(host, port) of a configured NTP server; port 123 unless given."""
    host, colon, port = server.rpartition(":") if server.count(":") == 1 else ("", "", "")
    return (host, int(port)) if colon else (server, 123)


def _zone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return _("unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)").format(value=value)
    return None


class _Loader:
    def __init__(self, source: Path, platforms: Mapping[str, Collection[str]] | None,
                 options: Mapping[str, Mapping[str, OptionCheck]] | None = None, secrets_required: bool = True) -> None:
        self.source = source
        self.base_dir = source.parent
        self.platforms = platforms
        self.platform_options = options
        self.secrets_required = secrets_required
        self.problems: list[ConfigProblem] = []
        self.warnings: list[str] = []

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(ConfigProblem(path, reason))

    def platform_check(self, value: str, kind: str = "camera") -> str | None:
        if self.platforms is None or kind in self.platforms.get(value, ()):
            return None
        fitting = sorted(name for name, kinds in self.platforms.items() if kind in kinds)
        if value in self.platforms:
            return _("platform {value!r} has no {kind} driver; {kind} platforms: {fitting}").format(
                value=value, kind=localize(_DEVICE_KINDS.get(kind, kind)), fitting=", ".join(fitting) or _("none"))
        return _("unknown platform {value!r}; installed {kind} platforms: {fitting}").format(
            value=value, kind=localize(_DEVICE_KINDS.get(kind, kind)), fitting=", ".join(fitting) or _("none"))

    def door_platform_check(self, value: str) -> str | None:
        return self.platform_check(value, "door")

    def options(self, table: _Table, platform: str | None) -> dict[str, Any]:
        """A device's `options`, each checked by its platform when the platforms are known."""
        raw = table.get("options", dict, {}) or {}
        known = (self.platform_options or {}).get(platform or "")
        if self.platform_options is None or known is None:
            return dict(raw)  # plugins not loaded, or the platform is unknown (reported already)
        for key, value in raw.items():
            path = f"{table.key_path('options')}.{key}"
            if key in known:
                reason = option_problem(known[key], value)
                if reason:
                    self.problem(path, reason)
                continue
            hint = difflib.get_close_matches(key, sorted(known), n=1)
            self.problem(path, _("unknown option for platform {platform}").format(platform=platform)
                         + (_("; did you mean '{hint}'?").format(hint=hint[0]) if hint else "")
                         + (_("; it takes {options}").format(options=", ".join(sorted(known))) if known
                            else _("; it takes none")))
        return dict(raw)

    def path(self, table: _Table, key: str, default: Any) -> Path | None:
        raw = table.get(key, str, default)
        if raw is None:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def required_path(self, table: _Table, key: str, default: str) -> Path:
        """A path with a default, so never None."""
        return self.path(table, key, default) or self.base_dir / default

    def items(self, data: dict, key: str) -> list[_Table]:
        raw = data.get(key, [])
        if not isinstance(raw, list):
            self.problem(key, _("must be an array of tables ([[{key}]]), not {type}").format(key=key, type=type(raw).__name__))
            return []
        return [_Table(self, _item_path(key, index, item), item) for index, item in enumerate(raw)]

    def policies(self, data: Any) -> Policies:
        table = _Table(self, "policies", data)
        preset = table.get("preset", str, DEFAULT_PRESET, preset_problem) or DEFAULT_PRESET
        floor = preset_defaults(preset)  # the sector's figures: defaults a value written here overrides
        self.warnings.extend(below_floor(preset, table.data))
        thresholds_raw = table.get("thresholds", dict, {}) or {}
        from watchkeeper.analysis.imagechecks import validate_threshold_names  # the frame checks own their threshold names

        threshold_problems = validate_threshold_names(thresholds_raw)
        for problem in threshold_problems:
            path, _, reason = problem.partition(": ")
            self.problem(path, reason)
        thresholds = {} if threshold_problems else {
            profile: {name: float(value) for name, value in values.items()} for profile, values in thresholds_raw.items()}
        times = table.get("inspection_times", list, ["08:00", "20:00"])
        for index, value in enumerate(times or []):
            why = _time_of_day(value) if isinstance(value, str) else "must be a string like 08:00"
            if why:
                self.problem(f"policies.inspection_times[{index}]", why)
        servers = table.get("ntp_servers", list, list(DEFAULT_NTP_SERVERS)) or []
        for index, value in enumerate(servers):
            why = _ntp_server(value) if isinstance(value, str) else "must be a string like ntp.ntsc.ac.cn"
            if why:
                self.problem(f"policies.ntp_servers[{index}]", why)
        legacy = table.get("ntp_server", str, None, _ntp_server)  # the older single-server key
        if legacy:
            servers = [legacy, *(s for s in servers if s != legacy)] if "ntp_servers" in table.data else [legacy]
        room_roles = table.get("room_access_roles", list, list(DEFAULT_ROOM_ROLES)) or []
        for index, role in enumerate(room_roles):
            why = _one_of(ROLES)(role) if isinstance(role, str) else "must be a string"
            if why:
                self.problem(f"policies.room_access_roles[{index}]", why)
        policies = Policies(
            clock_tolerance_seconds=table.get("clock_tolerance_seconds", float, floor["clock_tolerance_seconds"],
                                              _positive),
            retention_days=table.get("retention_days", int, floor["retention_days"], _positive),
            access_retention_days=table.get("access_retention_days", int, floor["access_retention_days"], _positive),
            ntp_servers=tuple(str(s) for s in servers if isinstance(s, str)),
            correct_clocks=table.get("correct_clocks", bool, False),
            inspection_times=tuple(str(t) for t in (times or [])),
            gap_threshold_seconds=table.get("gap_threshold_seconds", float, 60.0, _positive),
            inspection_frames=table.get("inspection_frames", int, 5,
                                        lambda v: None if 2 <= v <= 50 else "must be 2 to 50 (frozen needs two)"),
            frame_interval_seconds=table.get("frame_interval_seconds", float, 1.0, _positive),
            playback_seconds=table.get("playback_seconds", float, 10.0, _positive),
            thresholds=thresholds,
            training_refresher_days=table.get("training_refresher_days", int, None, _positive),
            escalate_after_hours=table.get("escalate_after_hours", float, floor["escalate_after_hours"], _positive),
            retrieval_valid_hours=table.get("retrieval_valid_hours", float, 24.0, _positive),
            audit_match_seconds=table.get("audit_match_seconds", float, 300.0, _positive),
            transient_grace_seconds=table.get("transient_grace_seconds", float, 60.0,
                                              lambda v: None if v >= 0 else "must be 0 or more"),
            room_access_roles=tuple(r for r in room_roles if r in ROLES),
            review_interval_days=table.get("review_interval_days", int, 30, _positive),
            trust_actor=table.get("trust_actor", bool, False),
            preset=preset,
            overrides=overrides(preset, table.data),
        )
        table.finish()
        return policies

    def witness(self, data: Any) -> WitnessConfig:
        def syslog_check(value: str) -> str | None:
            try:
                parse_syslog_address(value)
            except ValueError as error:
                return str(error)
            return None

        table = _Table(self, "witness", data)
        witness = WitnessConfig(syslog=table.get("syslog", str, "local", syslog_check) or "local",
                                file=self.path(table, "file", None))
        table.finish()
        return witness

    def backup(self, data: Any) -> Backup | None:
        if data is None:
            return None
        table = _Table(self, "backup", data)
        folder = self.path(table, "folder", MISSING)
        passphrase = table.secret("passphrase")
        if not passphrase.reveal() and "passphrase" in table.data:
            self.problem("backup.passphrase", _("is empty: the journal key in a backup is sealed with it"))
        elif "passphrase" not in table.data:
            self.problem("backup.passphrase", _("required key is missing (env:NAME or file:PATH)"))
        at = table.get("at", str, "01:30", _time_of_day)
        backup = Backup(folder=folder or Path("backups"), passphrase=passphrase,
                        keep=table.get("keep", int, 14, lambda v: None if 1 <= v <= 3650 else "must be 1 to 3650"),
                        at=at or "01:30")
        table.finish()
        return backup

    def recorder(self, table: _Table) -> Recorder:
        platform = table.get("platform", str, MISSING, self.platform_check)
        recorder = Recorder(
            id=table.get("id", str, MISSING, _identifier),
            platform=platform,
            host=table.get("host", str),
            port=table.get("port", int, 80, _port),
            username=table.get("username", str, ""),
            password=table.secret("password"),
            timeout_seconds=table.get("timeout_seconds", float, 5.0, _positive),
            channels=table.get("channels", int, None, _positive),
            options=self.options(table, platform),
        )
        table.finish()
        return recorder

    def camera(self, table: _Table) -> Camera:
        camera = Camera(
            id=table.get("id", str, MISSING, _identifier),
            name=table.get("name", str, ""),
            location=table.get("location", str, MISSING, placeholder_problem),
            purpose=table.get("purpose", str, MISSING, placeholder_problem),
            zone=table.get("zone", str, MISSING, placeholder_problem),
            platform=table.get("platform", str, None, self.platform_check),
            host=table.get("host", str, None),
            port=table.get("port", int, None, _port),
            username=table.get("username", str, ""),
            password=table.secret("password"),
            timeout_seconds=table.get("timeout_seconds", float, 5.0, _positive),
            channel=table.get("channel", int, 1, _positive),
            recorder=table.get("recorder", str, None),
            recorder_channel=table.get("recorder_channel", int, None, _positive),
            profile=table.get("profile", str, "day", _one_of(PROFILES)),
            retention_days=table.get("retention_days", int, None, _positive),
        )
        if "options" in table.data and camera.host is None:
            table.get("options", dict, {})
            self.problem(table.key_path("options"), _("a camera on a recorder is reached through it: "
                                                      "set the options on the recorder"))
        else:
            camera = attrs.evolve(camera, options=self.options(table, camera.platform))
        if camera.recorder is None:
            if camera.platform is None and "platform" not in table.data:
                self.problem(table.key_path("platform"), _("required for a camera not on a recorder"))
            if camera.host is None and "host" not in table.data:
                self.problem(table.key_path("host"), _("required for a camera not on a recorder"))
        table.finish()
        return camera

    def door(self, table: _Table) -> Door:
        platform = table.get("platform", str, MISSING, self.door_platform_check)
        door = Door(
            id=table.get("id", str, MISSING, _identifier),
            platform=platform,
            name=table.get("name", str, ""),
            host=table.get("host", str, None),
            port=table.get("port", int, None, _port),
            serial_port=table.get("serial_port", str, None),
            address=table.get("address", int, 0, lambda v: None if 0 <= v <= 126 else "must be an OSDP address 0..126"),
            scbk=table.secret("scbk"),
            strike_seconds=table.get("strike_seconds", float, 5.0, _positive),
            held_open_seconds=table.get("held_open_seconds", float, 30.0, _positive),
            passback_seconds=table.get("passback_seconds", float, 120.0,
                                       lambda v: None if v >= 0 else "must be 0 (off) or more"),
            options=self.options(table, platform),
        )
        table.finish()
        return door

    def task(self, table: _Table) -> MaintenanceTask:
        task = MaintenanceTask(
            id=table.get("id", str, MISSING, _identifier),
            title=table.get("title", str),
            every=table.get("every", str, "daily", _one_of(PERIODS)),
            countersign=table.get("countersign", bool, table.data.get("every") == "weekly"),
        )
        table.finish()
        return task

    def duty(self, table: _Table) -> Duty:
        operators = table.get("operators", list, MISSING) or []
        days = table.get("days", list, []) or []
        for index, day in enumerate(days):
            reason = _one_of(WEEKDAYS)(day) if isinstance(day, str) else "must be a string"
            if reason:
                self.problem(f"{table.path}.days[{index}]", reason)
        duty = Duty(shift=table.get("shift", str, MISSING, _time_of_day) or "",
                    operators=tuple(str(o) for o in operators), days=tuple(d for d in days if d in WEEKDAYS))
        table.finish()
        return duty

    def person(self, table: _Table) -> Person:
        roles = table.get("roles", list, MISSING) or []
        for index, role in enumerate(roles):
            reason = _one_of(ROLES)(role) if isinstance(role, str) else "must be a string"
            if reason:
                self.problem(f"{table.path}.roles[{index}]", reason)
        badges = table.get("badges", list, [])
        trained_on = table.get("trained_on", date, None)
        training = [Training(BASIC_COURSE, trained_on)] if trained_on else []
        for index, item in enumerate(table.get("training", list, []) or []):
            training += self.training(_Table(self, f"{table.path}.training[{index}]", item))
        person = Person(
            id=table.get("id", str, MISSING, _identifier),
            name=table.get("name", str),
            roles=tuple(r for r in roles if r in ROLES),
            badges=tuple(str(b) for b in badges or []),
            trained_on=trained_on,
            hours=table.get("hours", str, None, hours_problem),
            training=tuple(training),
            os_user=table.get("os_user", str, None, _not_blank),
        )
        table.finish()
        return person

    def training(self, table: _Table) -> list[Training]:
        course, taken = table.get("course", str, MISSING, _not_blank), table.get("date", date)
        trainer, until = table.get("trainer", str, ""), table.get("valid_until", date, None)
        if taken and until and until < taken:
            self.problem(table.key_path("valid_until"), _("{day} is before the training date").format(day=until.isoformat()))
        table.finish()
        return [Training(course, taken, trainer, until)] if course and taken else []


def _unique(loader: _Loader, key: str, items: tuple) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.id in seen:
            loader.problem(f"{key}[{index}].id", _("duplicate id {id!r}").format(id=item.id))
        seen.add(item.id)


def _check_duty(loader: _Loader, duty: tuple[Duty, ...], people: tuple[Person, ...], policies: Policies) -> None:
    """Each roster line names a shift the site has and people who may sign its inspection."""
    by_id = {person.id: person for person in people}
    shifts = {time.fromisoformat(t) for t in policies.inspection_times if not _time_of_day(t)}
    for index, line in enumerate(duty):
        if line.shift and not _time_of_day(line.shift) and time.fromisoformat(line.shift) not in shifts:
            loader.problem(f"duty[{index}].shift", _("{shift!r} is not one of policies.inspection_times ({times})").format(
                shift=line.shift, times=", ".join(policies.inspection_times)))
        if not line.operators:
            loader.problem(f"duty[{index}].operators", _("names nobody: a shift needs at least one operator"))
        for number, operator in enumerate(line.operators):
            person = by_id.get(operator)
            if person is None:
                loader.problem(f"duty[{index}].operators[{number}]", _("no person with id {id!r}").format(id=operator))
            elif not {"operator", "supervisor"} & set(person.roles):
                loader.problem(f"duty[{index}].operators[{number}]",
                               _("{id!r} is neither an operator nor a supervisor").format(id=operator))


def _recorder_channels(loader: _Loader, recorders: tuple[Recorder, ...], cameras: tuple[Camera, ...],
                       tables: list[_Table]) -> None:
    """Every recorder camera names a recorder of the site, on a channel it has, that no other camera takes."""
    by_id = {r.id: r for r in recorders}
    taken: dict[tuple[str, int], str] = {}
    for camera, table in zip(cameras, tables):
        if camera.recorder is None:
            continue
        recorder = by_id.get(camera.recorder)
        if recorder is None:
            loader.problem(table.key_path("recorder"), _("no recorder with id {id!r}").format(id=camera.recorder))
            continue
        key = "recorder_channel" if camera.recorder_channel is not None else "channel"
        channel = camera.recorder_channel or camera.channel
        if recorder.channels is not None and channel is not None and channel > recorder.channels:
            loader.problem(table.key_path(key), _("recorder {id!r} has {channels} channels (recorders[id={id}].channels)").format(
                id=recorder.id, channels=recorder.channels))
        elif (recorder.id, channel) in taken:
            loader.problem(table.key_path(key), _("recorder {id!r} channel {channel} is already camera {camera!r}").format(
                id=recorder.id, channel=channel, camera=taken[(recorder.id, channel)]))
        else:
            taken[(recorder.id, channel)] = camera.id


def load_site(source: Path | str, platforms: Mapping[str, Collection[str]] | None = None,
              options: Mapping[str, Mapping[str, OptionCheck]] | None = None, secrets_required: bool = True) -> Site:
    """Load and validate a site config; raise ConfigError listing every problem at once.

    :param platforms: the installed platforms, each with the device kinds it drives (``"camera"``,
        ``"door"``), to refuse an unknown or unfit one; ``None`` skips that check (used before plugins
        are loaded). ``platform_kinds()`` builds it from the registered platforms.
    :param options: each platform's device options and their checks (``platform_options()``);
        ``None`` takes any options unchecked.
    :param secrets_required: False turns an `env:` secret whose variable is not set into a warning
        (`config check`, which may run in another shell than the appliance).
    """
    source = Path(source)
    data = _parse(source)
    loader = _Loader(source, platforms, options, secrets_required)
    top = _Table(loader, "", data)
    site_table = _Table(loader, "site", top.get("site", dict, MISSING) or {})
    policies = loader.policies(top.get("policies", dict, {}))
    witness = loader.witness(top.get("witness", dict, {}))
    backup = loader.backup(top.get("backup", dict, None))
    identity = identity_section(_Table(loader, "identity", top.get("identity", dict, {})))
    estate_data = top.get("estate", dict, None)
    estate = None if estate_data is None else estate_link(loader, _Table(loader, "estate", estate_data), _identifier)
    distributed_table = top.get("distributed", dict, None)
    distributed = load_distributed(_Table(loader, "distributed", distributed_table)) if distributed_table is not None \
        else None
    recorders = tuple(loader.recorder(t) for t in loader.items(data, "recorders"))
    camera_tables = loader.items(data, "cameras")
    cameras = tuple(loader.camera(t) for t in camera_tables)
    doors = tuple(loader.door(t) for t in loader.items(data, "doors"))
    people = tuple(loader.person(t) for t in loader.items(data, "people"))
    maintenance = tuple(loader.task(t) for t in loader.items(data, "maintenance")) or DEFAULT_MAINTENANCE
    duty = tuple(loader.duty(t) for t in loader.items(data, "duty"))
    top.seen.update({"recorders", "cameras", "doors", "people", "maintenance", "duty"})
    for key, items in (("recorders", recorders), ("cameras", cameras), ("doors", doors), ("people", people),
                       ("maintenance", maintenance)):
        _unique(loader, key, items)
    _recorder_channels(loader, recorders, cameras, camera_tables)
    _check_duty(loader, duty, people, policies)
    for problem_path, reason in os_user_problems(people):
        loader.problem(problem_path, reason)
    site = Site(
        name=site_table.get("name", str),
        time_zone=site_table.get("time_zone", str, "UTC", _zone),
        source=source,
        store=loader.required_path(site_table, "store", "watchkeeper.db"),
        journal_key=loader.required_path(site_table, "journal_key", "journal.key"),
        plugins_dir=loader.path(site_table, "plugins_dir", None),
        exports_dir=loader.required_path(site_table, "exports_dir", "exports"),
        policies=policies,
        recorders=recorders,
        cameras=cameras,
        doors=doors,
        people=people,
        maintenance=maintenance,
        witness=witness,
        backup=backup,
        estate=estate,
        distributed=distributed,
        duty=duty,
        identity=identity,
        warnings=tuple(loader.warnings),
        raw=data,
    )
    site_table.finish()
    top.finish()
    if loader.problems:
        raise ConfigError(source, loader.problems)
    return site


def _parse(source: Path) -> dict[str, Any]:
    """The TOML document, from a regular file of bounded size, nested no deeper than MAX_DEPTH."""
    if not source.exists():
        raise ConfigError(source, [ConfigProblem("(file)", _("does not exist"))])
    try:
        text = read_regular_file(source, MAX_CONFIG_BYTES).decode("utf-8")
        nesting = nesting_problem(text)
        if nesting:
            raise ConfigError(source, [ConfigProblem("(syntax)", nesting)])
        data = tomllib.loads(text)
    except FileReadError as error:
        raise ConfigError(source, [ConfigProblem("(file)", error.reason)]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(source, [ConfigProblem("(syntax)", _("not UTF-8 text ({reason} at byte {start})").format(
            reason=error.reason, start=error.start))]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, [ConfigProblem("(syntax)", str(error))]) from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively; a deep one exhausts the stack.
        raise ConfigError(source, [ConfigProblem("(syntax)", _("arrays or inline tables nested too deeply"))]) from None
    deep = depth_problem(data)
    if deep is not None:
        raise ConfigError(source, [ConfigProblem(*deep)])
    return data


def plugins_dir_of(source: Path | str) -> Path | None:
    """The site plugin folder a config names, read before validation (plugins add platforms)."""
    source = Path(source)
    try:
        raw = _parse(source).get("site", {}).get("plugins_dir")
    except (ConfigError, AttributeError):
        return None  # load_site reports the problem with the rest
    if not isinstance(raw, str):
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else source.parent / path


def platform_options(platforms: Mapping[str, Any]) -> dict[str, dict[str, OptionCheck]]:
    """{name: {option: check}} from registered Platform records, for load_site."""
    return {name: dict(platform.options) for name, platform in platforms.items()}


def platform_kinds(platforms: Mapping[str, Any]) -> dict[str, set[str]]:
    """{name: {"camera", "door"}} from registered Platform records, for load_site."""
    return {name: {kind for kind, driver in (("camera", platform.camera_driver), ("door", platform.door_driver))
                   if driver is not None} for name, platform in platforms.items()}

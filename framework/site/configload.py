"""The config's loader: every table of site.toml read into records, every problem kept."""

from __future__ import annotations

import difflib
from datetime import date, time
from pathlib import Path
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from watchkeeper.core.i18n import _, localize
from watchkeeper.devices.drivers import OptionCheck, option_problem
from watchkeeper.site.presets import DEFAULT_PRESET, below_floor, overrides, preset_defaults, preset_problem
from watchkeeper.evidence.witness import parse_syslog_address
from watchkeeper.site.records import (BASIC_COURSE, Backup, Camera, DEFAULT_NTP_SERVERS, DEFAULT_ROOM_ROLES, Door,
                                      Duty, MISSING, MaintenanceTask, PERIODS, PROFILES, Person, Policies, ROLES,
                                      Recorder, Training, WEEKDAYS, WitnessConfig)
from watchkeeper.site.configcheck import (ConfigProblem, DEVICE_KINDS, Table, identifier_problem, item_path,
                                          blank_problem, ntp_server_problem, one_of, port_problem, positive_problem,
                                          time_of_day_problem, hours_problem, placeholder_problem)


class Loader:
    """One reading of a site.toml: the problems and warnings found so far, and how to check devices."""

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
                value=value, kind=localize(DEVICE_KINDS.get(kind, kind)), fitting=", ".join(fitting) or _("none"))
        return _("unknown platform {value!r}; installed {kind} platforms: {fitting}").format(
            value=value, kind=localize(DEVICE_KINDS.get(kind, kind)), fitting=", ".join(fitting) or _("none"))

    def door_platform_check(self, value: str) -> str | None:
        return self.platform_check(value, "door")

    def options(self, table: Table, platform: str | None) -> dict[str, Any]:
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

    def path(self, table: Table, key: str, default: Any) -> Path | None:
        raw = table.get(key, str, default)
        if raw is None:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def required_path(self, table: Table, key: str, default: str) -> Path:
        """A path with a default, so never None."""
        return self.path(table, key, default) or self.base_dir / default

    def items(self, data: dict, key: str) -> list[Table]:
        raw = data.get(key, [])
        if not isinstance(raw, list):
            self.problem(key, _("must be an array of tables ([[{key}]]), not {type}").format(key=key, type=type(raw).__name__))
            return []
        return [Table(self, item_path(key, index, item), item) for index, item in enumerate(raw)]

    def policies(self, data: Any) -> Policies:
        table = Table(self, "policies", data)
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
            why = time_of_day_problem(value) if isinstance(value, str) else "must be a string like 08:00"
            if why:
                self.problem(f"policies.inspection_times[{index}]", why)
        servers = table.get("ntp_servers", list, list(DEFAULT_NTP_SERVERS)) or []
        for index, value in enumerate(servers):
            why = ntp_server_problem(value) if isinstance(value, str) else "must be a string like ntp.ntsc.ac.cn"
            if why:
                self.problem(f"policies.ntp_servers[{index}]", why)
        legacy = table.get("ntp_server", str, None, ntp_server_problem)  # the older single-server key
        if legacy:
            servers = [legacy, *(s for s in servers if s != legacy)] if "ntp_servers" in table.data else [legacy]
        room_roles = table.get("room_access_roles", list, list(DEFAULT_ROOM_ROLES)) or []
        for index, role in enumerate(room_roles):
            why = one_of(ROLES)(role) if isinstance(role, str) else "must be a string"
            if why:
                self.problem(f"policies.room_access_roles[{index}]", why)
        policies = Policies(
            clock_tolerance_seconds=table.get("clock_tolerance_seconds", float, floor["clock_tolerance_seconds"],
                                              positive_problem),
            retention_days=table.get("retention_days", int, floor["retention_days"], positive_problem),
            access_retention_days=table.get("access_retention_days", int, floor["access_retention_days"], positive_problem),
            ntp_servers=tuple(str(s) for s in servers if isinstance(s, str)),
            correct_clocks=table.get("correct_clocks", bool, False),
            inspection_times=tuple(str(t) for t in (times or [])),
            gap_threshold_seconds=table.get("gap_threshold_seconds", float, 60.0, positive_problem),
            inspection_frames=table.get("inspection_frames", int, 5,
                                        lambda v: None if 2 <= v <= 50 else "must be 2 to 50 (frozen needs two)"),
            frame_interval_seconds=table.get("frame_interval_seconds", float, 1.0, positive_problem),
            playback_seconds=table.get("playback_seconds", float, 10.0, positive_problem),
            thresholds=thresholds,
            training_refresher_days=table.get("training_refresher_days", int, None, positive_problem),
            escalate_after_hours=table.get("escalate_after_hours", float, floor["escalate_after_hours"], positive_problem),
            retrieval_valid_hours=table.get("retrieval_valid_hours", float, 24.0, positive_problem),
            audit_match_seconds=table.get("audit_match_seconds", float, 300.0, positive_problem),
            transient_grace_seconds=table.get("transient_grace_seconds", float, 60.0,
                                              lambda v: None if v >= 0 else "must be 0 or more"),
            room_access_roles=tuple(r for r in room_roles if r in ROLES),
            review_interval_days=table.get("review_interval_days", int, 30, positive_problem),
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

        table = Table(self, "witness", data)
        witness = WitnessConfig(syslog=table.get("syslog", str, "local", syslog_check) or "local",
                                file=self.path(table, "file", None))
        table.finish()
        return witness

    def backup(self, data: Any) -> Backup | None:
        if data is None:
            return None
        table = Table(self, "backup", data)
        folder = self.path(table, "folder", MISSING)
        passphrase = table.secret("passphrase")
        if not passphrase.reveal() and "passphrase" in table.data:
            self.problem("backup.passphrase", _("is empty: the journal key in a backup is sealed with it"))
        elif "passphrase" not in table.data:
            self.problem("backup.passphrase", _("required key is missing (env:NAME or file:PATH)"))
        at = table.get("at", str, "01:30", time_of_day_problem)
        backup = Backup(folder=folder or Path("backups"), passphrase=passphrase,
                        keep=table.get("keep", int, 14, lambda v: None if 1 <= v <= 3650 else "must be 1 to 3650"),
                        at=at or "01:30")
        table.finish()
        return backup

    def recorder(self, table: Table) -> Recorder:
        platform = table.get("platform", str, MISSING, self.platform_check)
        recorder = Recorder(
            id=table.get("id", str, MISSING, identifier_problem),
            platform=platform,
            host=table.get("host", str),
            port=table.get("port", int, 80, port_problem),
            username=table.get("username", str, ""),
            password=table.secret("password"),
            timeout_seconds=table.get("timeout_seconds", float, 5.0, positive_problem),
            channels=table.get("channels", int, None, positive_problem),
            options=self.options(table, platform),
        )
        table.finish()
        return recorder

    def camera(self, table: Table) -> Camera:
        camera = Camera(
            id=table.get("id", str, MISSING, identifier_problem),
            name=table.get("name", str, ""),
            location=table.get("location", str, MISSING, placeholder_problem),
            purpose=table.get("purpose", str, MISSING, placeholder_problem),
            zone=table.get("zone", str, MISSING, placeholder_problem),
            platform=table.get("platform", str, None, self.platform_check),
            host=table.get("host", str, None),
            port=table.get("port", int, None, port_problem),
            username=table.get("username", str, ""),
            password=table.secret("password"),
            timeout_seconds=table.get("timeout_seconds", float, 5.0, positive_problem),
            channel=table.get("channel", int, 1, positive_problem),
            recorder=table.get("recorder", str, None),
            recorder_channel=table.get("recorder_channel", int, None, positive_problem),
            profile=table.get("profile", str, "day", one_of(PROFILES)),
            retention_days=table.get("retention_days", int, None, positive_problem),
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

    def door(self, table: Table) -> Door:
        platform = table.get("platform", str, MISSING, self.door_platform_check)
        door = Door(
            id=table.get("id", str, MISSING, identifier_problem),
            platform=platform,
            name=table.get("name", str, ""),
            host=table.get("host", str, None),
            port=table.get("port", int, None, port_problem),
            serial_port=table.get("serial_port", str, None),
            address=table.get("address", int, 0, lambda v: None if 0 <= v <= 126 else "must be an OSDP address 0..126"),
            scbk=table.secret("scbk"),
            strike_seconds=table.get("strike_seconds", float, 5.0, positive_problem),
            held_open_seconds=table.get("held_open_seconds", float, 30.0, positive_problem),
            passback_seconds=table.get("passback_seconds", float, 120.0,
                                       lambda v: None if v >= 0 else "must be 0 (off) or more"),
            options=self.options(table, platform),
        )
        table.finish()
        return door

    def task(self, table: Table) -> MaintenanceTask:
        task = MaintenanceTask(
            id=table.get("id", str, MISSING, identifier_problem),
            title=table.get("title", str),
            every=table.get("every", str, "daily", one_of(PERIODS)),
            countersign=table.get("countersign", bool, table.data.get("every") == "weekly"),
        )
        table.finish()
        return task

    def duty(self, table: Table) -> Duty:
        operators = table.get("operators", list, MISSING) or []
        days = table.get("days", list, []) or []
        for index, day in enumerate(days):
            reason = one_of(WEEKDAYS)(day) if isinstance(day, str) else "must be a string"
            if reason:
                self.problem(f"{table.path}.days[{index}]", reason)
        duty = Duty(shift=table.get("shift", str, MISSING, time_of_day_problem) or "",
                    operators=tuple(str(o) for o in operators), days=tuple(d for d in days if d in WEEKDAYS))
        table.finish()
        return duty

    def person(self, table: Table) -> Person:
        roles = table.get("roles", list, MISSING) or []
        for index, role in enumerate(roles):
            reason = one_of(ROLES)(role) if isinstance(role, str) else "must be a string"
            if reason:
                self.problem(f"{table.path}.roles[{index}]", reason)
        badges = table.get("badges", list, [])
        trained_on = table.get("trained_on", date, None)
        training = [Training(BASIC_COURSE, trained_on)] if trained_on else []
        for index, item in enumerate(table.get("training", list, []) or []):
            training += self.training(Table(self, f"{table.path}.training[{index}]", item))
        person = Person(
            id=table.get("id", str, MISSING, identifier_problem),
            name=table.get("name", str),
            roles=tuple(r for r in roles if r in ROLES),
            badges=tuple(str(b) for b in badges or []),
            trained_on=trained_on,
            hours=table.get("hours", str, None, hours_problem),
            training=tuple(training),
            os_user=table.get("os_user", str, None, blank_problem),
        )
        table.finish()
        return person

    def training(self, table: Table) -> list[Training]:
        course, taken = table.get("course", str, MISSING, blank_problem), table.get("date", date)
        trainer, until = table.get("trainer", str, ""), table.get("valid_until", date, None)
        if taken and until and until < taken:
            self.problem(table.key_path("valid_until"), _("{day} is before the training date").format(day=until.isoformat()))
        table.finish()
        return [Training(course, taken, trainer, until)] if course and taken else []


def unique_ids(loader: Loader, key: str, items: tuple) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.id in seen:
            loader.problem(f"{key}[{index}].id", _("duplicate id {id!r}").format(id=item.id))
        seen.add(item.id)


def check_duty(loader: Loader, duty: tuple[Duty, ...], people: tuple[Person, ...], policies: Policies) -> None:
    """Each roster line names a shift the site has and people who may sign its inspection."""
    by_id = {person.id: person for person in people}
    shifts = {time.fromisoformat(t) for t in policies.inspection_times if not time_of_day_problem(t)}
    for index, line in enumerate(duty):
        if line.shift and not time_of_day_problem(line.shift) and time.fromisoformat(line.shift) not in shifts:
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


def recorder_channels(loader: Loader, recorders: tuple[Recorder, ...], cameras: tuple[Camera, ...],
                       tables: list[Table]) -> None:
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



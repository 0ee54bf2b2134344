"""Loads and validates the site config (one TOML file) into attrs models, reporting every error."""

from __future__ import annotations

import tomllib
from pathlib import Path
from collections.abc import Collection, Mapping
from typing import Any

from watchkeeper.core.files import FileReadError, read_regular_file
from watchkeeper.core.i18n import _
from watchkeeper.devices.drivers import OptionCheck
from watchkeeper.site.limits import MAX_CONFIG_BYTES, depth_problem, nesting_problem
# The records and the value checks live in modules of their own; callers import them from here.
from watchkeeper.site.records import (BASIC_COURSE, DEFAULT_MAINTENANCE, DEFAULT_NTP_SERVERS, DEFAULT_ROOM_ROLES,
                                      IDENTIFIER, MISSING, PERIODS, PLACEHOLDERS, PROFILES, ROLES, WEEKDAYS, Backup,
                                      Camera, Door, Duty, MaintenanceTask, Person, Policies, Recorder, Site, Training,
                                      WitnessConfig)
from watchkeeper.site.configcheck import (ConfigError, ConfigProblem, identifier_problem, Table, hours_problem,
                                          ntp_address, placeholder_problem, port_problem, zone_problem)
from watchkeeper.site.configload import Loader, check_duty, recorder_channels, unique_ids
from watchkeeper.site.distributed import load_distributed
from watchkeeper.site.estatelink import estate_link
from watchkeeper.site.identityconfig import identity_section, os_user_problems

__all__ = ["BASIC_COURSE", "DEFAULT_MAINTENANCE", "DEFAULT_NTP_SERVERS", "DEFAULT_ROOM_ROLES", "IDENTIFIER",
           "MISSING", "PERIODS", "PLACEHOLDERS", "PROFILES", "ROLES", "WEEKDAYS", "Backup", "Camera", "Door", "Duty",
           "MaintenanceTask", "Person", "Policies", "Recorder", "Site", "Training", "WitnessConfig", "ConfigError",
           "ConfigProblem", "Table", "hours_problem", "ntp_address", "placeholder_problem", "port_problem",
           "zone_problem", "Loader", "load_site", "parse_toml", "platform_kinds", "platform_options", "plugins_dir_of"]


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
    data = parse_toml(source)
    loader = Loader(source, platforms, options, secrets_required)
    top = Table(loader, "", data)
    site_table = Table(loader, "site", top.get("site", dict, MISSING) or {})
    policies = loader.policies(top.get("policies", dict, {}))
    witness = loader.witness(top.get("witness", dict, {}))
    backup = loader.backup(top.get("backup", dict, None))
    identity = identity_section(Table(loader, "identity", top.get("identity", dict, {})))
    estate_data = top.get("estate", dict, None)
    estate = None if estate_data is None else estate_link(loader, Table(loader, "estate", estate_data), identifier_problem)
    distributed_table = top.get("distributed", dict, None)
    distributed = load_distributed(Table(loader, "distributed", distributed_table)) if distributed_table is not None \
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
        unique_ids(loader, key, items)
    recorder_channels(loader, recorders, cameras, camera_tables)
    check_duty(loader, duty, people, policies)
    for problem_path, reason in os_user_problems(people):
        loader.problem(problem_path, reason)
    site = Site(
        name=site_table.get("name", str),
        time_zone=site_table.get("time_zone", str, "UTC", zone_problem),
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


def parse_toml(source: Path) -> dict[str, Any]:
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
        raw = parse_toml(source).get("site", {}).get("plugins_dir")
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

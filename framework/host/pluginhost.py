"""Loads plugins (built-ins, entry points, the site's plugin folder) into one PluginManager."""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pluggy

from watchkeeper import PROJECT_NAME, hookspecs
from watchkeeper.core.i18n import N_, add_catalogue
from watchkeeper.devices.drivers import PLATFORM_NAME, Platform
from watchkeeper.host import trace
from watchkeeper.site.app import App
from watchkeeper.site.config import plugins_dir_of
from watchkeeper.site.context import Refusal

ENTRY_POINT_GROUP = PROJECT_NAME
log = logging.getLogger(__name__)

#: Built-in plugins, loaded by the same code path as third-party ones.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "watchkeeper.rules.policy",
    "watchkeeper.rules.access",
    "watchkeeper.rules.clock",
    "watchkeeper.rules.retention",
    "watchkeeper.rules.footage",
    "watchkeeper.rules.maintenance",
    "watchkeeper.rules.inspection",
    "watchkeeper.rules.duty",
    "watchkeeper.rules.ownership",
    "watchkeeper.rules.viewing",
    "watchkeeper.rules.scope",
    "watchkeeper.rules.daybook",
    "watchkeeper.rules.review",
    "watchkeeper.plugins.hikvision",
    "watchkeeper.plugins.osdp",
    "watchkeeper.plugins.dahua",
    "watchkeeper.plugins.onvif",
    "watchkeeper.plugins.gb28181",
)


class HostPluginManager(pluggy.PluginManager):
    """pluggy's manager, with every event hook's implementations guarded as they are registered.

    Guarding at registration (rather than calling implementations one by one around pluggy) keeps
    every call on ``pm.hook``, so tracing and wrappers see event hooks like any other.
    """

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        for caller in self.get_hookcallers(plugin) or []:
            wrap = _guarded if caller.name in hookspecs.EVENT_HOOKS else _GUARDS.get(caller.name)
            if wrap is None:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    # pluggy marks HookImpl.function final; replacing it is what keeps the guard inside pluggy.
                    setattr(impl, "function", wrap(caller.name, impl.plugin_name, impl.function))
        return registered


def _guarded(hook_name: str, plugin_name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any) -> Any:
        try:
            return function(*args)
        except Exception:  # an event hook never breaks its caller or the other plugins
            log.exception("%s in plugin %s failed", hook_name, plugin_name)
            return None

    return call


def authorize_answer(answer: object, plugin: str) -> bool | Refusal | None:
    """One plugin's `authorize` answer, signed with its name: a refusal says who refused, and an answer
    that is not one of True, False, a Refusal, (bool, reason) or None refuses rather than allows."""
    if answer is None or answer is True:
        return answer
    if answer is False:
        return Refusal("", plugin)
    if isinstance(answer, Refusal):
        return attrs.evolve(answer, plugin=plugin)
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool):
        return True if answer[0] else Refusal(str(answer[1]), plugin)
    return Refusal(N_("authorize answered {type}, not True, False, a Refusal or None", type=type(answer).__name__),
                   plugin)


def _attributed(hook_name: str, plugin_name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any) -> Any:
        return authorize_answer(function(*args), plugin_name)

    return call


#: Hooks whose implementations the host wraps as they are registered (besides the event hooks).
_GUARDS: dict[str, Callable[[str, str, Callable[..., Any]], Callable[..., Any]]] = {"authorize": _attributed}


class PluginLoadError(Exception):
    """A plugin could not be loaded or implements a hook wrongly; the message says which and why."""


def _hook_names() -> list[str]:
    return sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), f"{PROJECT_NAME}_spec"))


def _explain_unknown_hooks(pm: pluggy.PluginManager) -> str:
    known = _hook_names()
    lines = []
    for name, caller in pm.hook.__dict__.items():
        if caller.spec is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or impl.optionalhook:
                continue
            origin = getattr(impl.plugin, "__file__", None) or repr(impl.plugin)
            hint = difflib.get_close_matches(name, known, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            lines.append(f"plugin '{impl.plugin_name}' ({origin}) implements unknown hook '{name}'{suggestion}")
    return "\n".join(lines)


def _load_site_plugin(path: Path) -> ModuleType:
    module_name = f"watchkeeper_site_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"{path}: not a loadable Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a site plugin's own bug must name the file
        sys.modules.pop(module_name, None)
        raise PluginLoadError(f"{path}: failed to import: {type(error).__name__}: {error}") from error
    return module


def load_plugins(
    site_plugins_dir: Path | None = None,
    builtins: Iterable[str] = BUILTIN_PLUGINS,
    entry_points: bool = True,
) -> pluggy.PluginManager:
    """Build the PluginManager: hook specs, built-ins, entry points, then the site's folder.

    Nothing is loaded at import time; callers (the CLI factory, tests, the appliance) call this
    once. Every hook implementation is checked against the specs before it returns.
    """
    pm = HostPluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if os.environ.get("WATCHKEEPER_TRACE_PLUGINS") == "1":
        trace.enable(pm)
    try:
        for module_name in builtins:
            pm.register(importlib.import_module(module_name), name=module_name)
        if entry_points:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        if site_plugins_dir is not None:
            for path in sorted(Path(site_plugins_dir).glob("*.py")):
                pm.register(_load_site_plugin(path), name=f"site:{path.name}")
    except pluggy.PluginValidationError as error:
        raise PluginLoadError(f"plugin '{error.plugin}' is invalid: {error}") from error
    unknown = _explain_unknown_hooks(pm)
    if unknown:
        raise PluginLoadError(unknown)
    pm.check_pending()
    collect_catalogues(pm)
    return pm


def collect_catalogues(pm: pluggy.PluginManager) -> None:
    """Every plugin's own translations, consulted after watchkeeper's catalogue (hook register_catalogues)."""
    problems: list[str] = []
    for impl in pm.hook.register_catalogues.get_hookimpls():

        def register(domain: str, locale_dir: Path, plugin: str = impl.plugin_name) -> None:
            if not isinstance(domain, str) or not domain or not Path(locale_dir).is_dir():
                problems.append(f"plugin '{plugin}': catalogue {domain!r} in {locale_dir}: not a domain name "
                                "and an existing locale folder")
            else:
                add_catalogue(domain, Path(locale_dir))

        impl.function(register=register)
    if problems:
        raise PluginLoadError("\n".join(problems))


def collect_platforms(pm: pluggy.PluginManager) -> dict[str, Platform]:
    """Every platform the plugins register, validated; a bad registration names its plugin."""
    platforms: dict[str, Platform] = {}
    problems: list[str] = []

    for impl in pm.hook.register_platforms.get_hookimpls():

        def register(platform: Platform, plugin: str = impl.plugin_name) -> None:
            if not isinstance(platform, Platform):
                problems.append(f"plugin '{plugin}' registered {platform!r}, not a Platform")
            elif not PLATFORM_NAME.match(platform.name):
                problems.append(f"plugin '{plugin}': platform name {platform.name!r} must be lowercase letters, digits, _")
            elif platform.name in platforms:
                problems.append(f"plugin '{plugin}': platform '{platform.name}' is already registered")
            elif platform.camera_driver is None and platform.door_driver is None:
                problems.append(f"plugin '{plugin}': platform '{platform.name}' has no driver")
            else:
                platforms[platform.name] = platform

        impl.function(register=register)
    if problems:
        raise PluginLoadError("\n".join(problems))
    return platforms


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, object]]:
    """Name, version and implemented hooks of every loaded plugin, for `watchkeeper plugins`."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            version = dist.version
        elif name.startswith(f"{PROJECT_NAME}."):
            from watchkeeper import __version__ as version
        else:
            version = ""
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "version": version, "hooks": hooks})
    return rows


def open_site(config: Path | str, pm: pluggy.PluginManager | None = None) -> App:
    """Open a site: its plugins (loaded from its plugin folder unless given), platforms, store, journal."""
    if pm is None:
        pm = load_plugins(plugins_dir_of(config))
    return App.open(config, pm, collect_platforms(pm))

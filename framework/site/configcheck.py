"""Reading the config's tables and values: each problem recorded under its key path, the whole file's
problems raised together as one ConfigError."""

from __future__ import annotations

import difflib
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from watchkeeper.core.i18n import N_, _, localize
from watchkeeper.core.models import Secret
from watchkeeper.core.secrets import SecretError, SecretUnset, resolve_secret
from watchkeeper.site.limits import range_problem
from watchkeeper.site.records import IDENTIFIER, MISSING, PLACEHOLDERS, PLACEHOLDER_PREFIX

if TYPE_CHECKING:
    from watchkeeper.site.configload import Loader


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


_TYPE_NAMES = {str: N_("a string"), int: N_("an integer"), float: N_("a number"), bool: N_("true or false"),
               list: N_("a list"), dict: N_("a table"), date: N_("a date (YYYY-MM-DD)")}
DEVICE_KINDS = {"camera": N_("camera"), "door": N_("door")}


class Table:
    """Reads one TOML table, recording every problem under its key path instead of stopping."""

    def __init__(self, loader: Loader, path: str, data: Any) -> None:
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


def item_path(key: str, index: int, item: Any) -> str:
    """`cameras[id=lobby]`: an item named by its id, which the installer knows; by index without one."""
    item_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(item_id, str) and IDENTIFIER.match(item_id):
        return f"{key}[id={item_id}]"
    return f"{key}[{index}]"


def positive_problem(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def blank_problem(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def port_problem(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be a port number from 1 to 65535"


def identifier_problem(value: str) -> str | None:
    return None if IDENTIFIER.match(value) else "must be letters, digits, '.', '_' or '-' (at most 64)"


def one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda value: None if value in choices else _("must be one of {choices}, not {value!r}").format(
        choices=", ".join(choices), value=value)


def time_of_day_problem(value: str) -> str | None:
    try:
        time.fromisoformat(value)
    except ValueError:
        return _("{value!r} is not a time of day like 08:00").format(value=value)
    return None


def hours_problem(value: str) -> str | None:
    """Why `value` is not a range of allowed hours, or None when it is."""
    start, dash, end = value.partition("-")
    if not dash or time_of_day_problem(start.strip()) or time_of_day_problem(end.strip()):
        return _("{value!r} is not a range of hours like 07:00-19:00 (22:00-06:00 spans midnight)").format(value=value)
    return None


def placeholder_problem(value: str) -> str | None:
    """Why a value that must describe something (a camera's scope, R1; a visit's purpose, R3) is a
    placeholder rather than a description, or None."""
    text = value.strip()
    if not text:
        return _("must be written down, not left empty")
    if text.casefold() in PLACEHOLDERS or PLACEHOLDER_PREFIX.match(text) or not any(ch.isalnum() for ch in text):
        return _("{value!r} is a placeholder, not a description").format(value=value)
    return None


def ntp_server_problem(value: str) -> str | None:
    host, colon, port = value.rpartition(":") if value.count(":") == 1 else ("", "", "")
    if colon and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        return _("{value!r} is not an NTP server like ntp.ntsc.ac.cn or 127.0.0.1:123").format(value=value)
    return None if value.strip() else "must name a server"


def ntp_address(server: str) -> tuple[str, int]:
    """(host, port) of a configured NTP server; port 123 unless given."""
    host, colon, port = server.rpartition(":") if server.count(":") == 1 else ("", "", "")
    return (host, int(port)) if colon else (server, 123)


def zone_problem(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return _("unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)").format(value=value)
    return None



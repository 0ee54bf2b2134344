"""Hook-call tracing (`WATCHKEEPER_TRACE_PLUGINS=1`): one short line per call and per answer, never a whole Site."""

from __future__ import annotations

import enum
import reprlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs
import pluggy

PREFIX = "[watchkeeper hooks]"
#: Attributes that name an object well enough for a trace line, in order of preference.
_NAMING = ("id", "name", "resource", "subject", "kind", "platform")
#: Scalar fields of an attrs value shown in a trace line; the rest are left out.
_MAX_FIELDS = 3

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxtuple = 60, 60, 4, 4
_repr.maxdict, _repr.maxset, _repr.maxlevel = 4, 4, 2


def compact(value: object) -> str:
    """A short, one-line account of a hook argument or answer (at most about 100 characters)."""
    if isinstance(value, enum.Enum):
        return repr(value.value)
    if value is None or isinstance(value, (str, bytes, int, float, bool, list, tuple, dict, set, frozenset)):
        return _repr.repr(value)
    if attrs.has(type(value)):
        shown = []
        for field in attrs.fields(cast(Any, type(value))):
            item = getattr(value, field.name, None)
            if field.repr is not False and isinstance(item, (str, int, float, bool, enum.Enum)):
                shown.append(f"{field.name}={compact(item)}")
            if len(shown) == _MAX_FIELDS:
                break
        return f"{type(value).__name__}({', '.join(shown)})"
    if callable(value):
        return getattr(value, "__qualname__", type(value).__name__)
    for attribute in _NAMING:
        name = getattr(value, attribute, None)
        if isinstance(name, str) and name:
            return f"{type(value).__name__}({_repr.repr(name)})"
    return type(value).__name__


def enable(pm: pluggy.PluginManager, write: Callable[[str], Any] | None = None) -> None:
    """Print every hook call with compact arguments, the plugins it reaches, and its answer (to stderr)."""

    def out(line: str) -> None:
        (write or sys.stderr.write)(line)

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        arguments = ", ".join(f"{key}={compact(item)}" for key, item in kwargs.items())
        plugins = ", ".join(impl.plugin_name for impl in reversed(impls))
        out(f"{PREFIX} {hook_name}({arguments}) -> [{plugins}]\n")

    def after(outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl],
              kwargs: Mapping[str, Any]) -> None:
        if outcome.exception is not None:
            out(f"{PREFIX} {hook_name} raised {type(outcome.exception).__name__}: "
                  f"{_repr.repr(str(outcome.exception))}\n")
        else:
            out(f"{PREFIX} {hook_name} => {compact(outcome.get_result())}\n")

    pm.add_hookcall_monitoring(before, after)

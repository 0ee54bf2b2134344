"""Renders the vendor-plugin guides from the code they describe, like docs/hooks.md from the hook specs.

    python -m watchkeeper.testing.guides driver > docs/driver-contract.md
    python -m watchkeeper.testing.guides simulator > docs/simulators.md

The driver contract comes from the Protocols in `devices.drivers`, the attrs value classes and enums
in `core.models`, the error kinds and the shared client's failure table; the simulator guide from the
simulator contract, the fault profile and the `simulation` helpers. A test fails when either is stale.
"""

from __future__ import annotations

import enum
import inspect
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import Any

import attrs

from watchkeeper.core import models
from watchkeeper.core.findings import FINDING_KINDS, FindingKind
from watchkeeper.devices import drivers, http
from watchkeeper.simulation import faults, recordings, scenes, simhttp
from watchkeeper.testing import conformance, doors, records

_CAPABILITY = re.compile(r"Capability\.([A-Z_]+)")


def _defined_in(module: ModuleType, keep: Callable[[type], bool]) -> list[type]:
    """Classes a module defines (not imports), in source order: a new one appears in the guide by itself."""
    found = [value for value in vars(module).values()
             if inspect.isclass(value) and value.__module__ == module.__name__ and keep(value)]
    return sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])


VALUE_CLASSES = _defined_in(models, attrs.has)
ENUMS = _defined_in(models, lambda cls: issubclass(cls, enum.Enum))


def comments(owner: ModuleType | type) -> dict[str, str]:
    """The `#:` comment lines above each assignment or field in a module's or class's source."""
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(owner).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        name = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*[:=]", stripped)
        if name and pending:
            found[name.group(1)] = " ".join(pending)
        pending = []
    return found


def _doc(thing: Any) -> str:
    """The thing's own docstring (a class without one does not borrow its base class's)."""
    own = thing.__dict__.get("__doc__") if inspect.isclass(thing) else getattr(thing, "__doc__", None)
    return inspect.cleandoc(own or "")


def _first_paragraph(thing: Any) -> str:
    return " ".join(_doc(thing).split("\n\n")[0].split())


def _signature(function: Callable[..., Any]) -> str:
    return str(inspect.signature(function)).replace("'", "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def protocol_section(protocol: type, title: str) -> list[str]:
    """A Protocol's attributes and methods, each with its docstring and the capability it needs."""
    lines = [f"## {title}: `{protocol.__name__}`", "", _doc(protocol), "", "| attribute | type |", "|---|---|"]
    lines += [f"| `{name}` | `{_cell(str(kind))}` |" for name, kind in protocol.__annotations__.items()]
    lines += [""]
    for name, member in protocol.__dict__.items():
        if name.startswith("_") or not callable(member):
            continue
        doc = _doc(member)
        needed = _CAPABILITY.findall(doc)
        prefix = "async def" if inspect.iscoroutinefunction(member) else "def"
        lines += [f"### `{name}`", "", "```python", f"{prefix} {name}{_signature(member)}", "```", "", doc, ""]
        if needed:
            lines += [f"Declared by `Capability.{needed[0]}`; without it the call raises `CapabilityMissing`.", ""]
    return lines


def value_class_section(cls: type) -> list[str]:
    notes = comments(cls)
    lines = [f"### `{cls.__name__}`", ""]
    if _doc(cls) and not _doc(cls).startswith(f"{cls.__name__}("):
        lines += [_doc(cls), ""]
    lines += ["| field | type | default | notes |", "|---|---|---|---|"]
    for field in attrs.fields(cls):
        default = "" if field.default is attrs.NOTHING else (
            "(factory)" if hasattr(field.default, "factory") else f"`{field.default!r}`")
        note = notes.get(field.name, "")
        converter = getattr(field.converter, "__name__", "")
        if converter == "_aware":
            note = (note + " " if note else "") + "Time-zone aware, stored in UTC; a naive time is refused."
        if field.repr is False:
            note = (note + " " if note else "") + "Hidden from repr."
        lines.append(f"| `{field.name}` | `{_cell(str(field.type))}` | {default} | {_cell(note)} |")
    return lines + [""]


def enum_section(kind: type[enum.Enum]) -> list[str]:
    values = ", ".join(f"`{member.value}`" for member in kind)
    return [f"- **`{kind.__name__}`**: {values}" + (f". {_doc(kind)}" if _doc(kind) else ""), ""]


def render_driver() -> str:
    lines = [
        "# The driver contract",
        "",
        "<!-- Generated by `python -m watchkeeper.testing.guides driver` from framework/devices/drivers.py, "
        "framework/devices/http.py and framework/core/models.py; do not edit. -->",
        "",
        _doc(drivers),
        "",
        "Rules speak only to these Protocols; a driver is the only code that speaks a vendor protocol. Every",
        "call honours `endpoint.timeout`. A driver raises nothing but `DeviceError` (a device that is down,",
        "refuses the credentials or answers garbage) and `CapabilityMissing` (a capability it did not",
        "declare). Times cross the boundary time-zone aware, in UTC. Passwords are `Secret`s: never in a URI",
        "a driver returns, a log line, an exception or a repr. The conformance kit",
        "(`watchkeeper.testing`, see `docs/vendor-plugins.md`) checks all of this against the simulator.",
        "",
    ]
    lines += protocol_section(drivers.CameraDriver, "Cameras and recorders")
    lines += protocol_section(drivers.DoorDriver, "Doors and readers")
    lines += ["## The platform record", "", _doc(drivers.Platform), "", "| field | type | default |", "|---|---|---|"]
    for field in attrs.fields(drivers.Platform):
        default = "" if field.default is attrs.NOTHING else f"`{field.default!r}`"
        lines.append(f"| `{field.name}` | `{_cell(str(field.type))}` | {default} |")
    lines += ["", f"`name` must match `{drivers.PLATFORM_NAME.pattern}`.", "",
              "`simulator`: " + comments(drivers).get("SimulatorFactory", ""), ""]
    lines += ["## Value classes", "", _doc(models), ""]
    for cls in VALUE_CLASSES:
        lines += value_class_section(cls)
    lines += ["## Enumerations", ""]
    for enumeration in ENUMS:
        lines += enum_section(enumeration)
    lines += ["## Capabilities", "", _doc(models.Capability), "", "| capability | methods that need it |", "|---|---|"]
    needs: dict[str, list[str]] = {}
    for protocol in (drivers.CameraDriver, drivers.DoorDriver):
        for name, member in protocol.__dict__.items():
            if callable(member) and not name.startswith("_"):
                for capability in _CAPABILITY.findall(_doc(member))[:1]:
                    needs.setdefault(capability, []).append(f"`{name}`")
    for capability in models.Capability:
        methods = ", ".join(needs.get(capability.name, [])) or "(declared for rules that ask the driver directly)"
        lines.append(f"| `{capability.value}` | {methods} |")
    lines += ["", "## Errors", "", f"`DeviceError(kind, reason)`: {_doc(drivers.DeviceError)} "
              f"`CapabilityMissing`: {_doc(drivers.CapabilityMissing)}", "",
              "| kind | means |", "|---|---|"]
    for kind in sorted(drivers.DEVICE_FAILURE_KINDS):
        lines.append(f"| `{kind.value}` | {FINDING_KINDS[FindingKind(kind)].description} |")
    lines += ["", "### Transport failures on the shared client", "",
              f"`watchkeeper.devices.http.DeviceHttp`: {_doc(http.DeviceHttp)}", "",
              _doc(http.transport_error), "", "| failure | when | kind | reason |", "|---|---|---|---|"]
    for row in http.TRANSPORT_FAILURES:
        names = ", ".join(f"`{error.__name__}`" for error in row.errors)
        when = "before any reply" if row.before_reply else (f"message says {row.says.lower()}" if row.says else "")
        lines.append(f"| {names} | {when} | `{row.kind.value}` | {row.reason} |")
    lines += ["", "Replies: 401 and 403 are `auth_failed` (a device offering only Basic is refused, never sent "
              "the password); any other status outside 2xx is `protocol_error`; a body over "
              f"{http.MAX_REPLY_BYTES // 1024 // 1024} MiB, a media type the caller did not expect, a charset "
              "other than UTF-8 or bytes that are not UTF-8 are `protocol_error`.", ""]
    for name in ("request", "text", "xml", "stream"):
        member = getattr(http.DeviceHttp, name)
        lines += [f"- `DeviceHttp.{name}{_signature(member)}` — {_first_paragraph(member)}"]
    return "\n".join(lines).rstrip() + "\n"


def render_simulator() -> str:
    lines = [
        "# Writing a simulator",
        "",
        "<!-- Generated by `python -m watchkeeper.testing.guides simulator` from framework/simulation/ and "
        "framework/testing/; do not edit. -->",
        "",
        "Every vendor plugin ships a simulator of its device that speaks the real protocol on loopback: the",
        "same URLs, documents, authentication, paging and quirks as the device. Tests, the demo, the",
        "benchmarks and `watchkeeper simulate PLATFORM` start it; the conformance kit points the driver at",
        "it and injects faults through it. `watchkeeper new-plugin NAME` writes one to start from.",
        "",
        "## The factory", "", comments(drivers).get("SimulatorFactory", ""), "",
        "## What the kit asks of a running device", "",
    ]
    for protocol in (conformance.SimulatedDevice, doors.SimulatedReader):
        lines += [f"### `{protocol.__name__}`", "", _doc(protocol), ""]
        lines += [f"- `{name}`: `{_cell(str(kind))}`" for name, kind in protocol.__annotations__.items()]
        for name, member in protocol.__dict__.items():
            if callable(member) and not name.startswith("_"):
                prefix = "async " if inspect.iscoroutinefunction(member) else ""
                lines.append(f"- `{prefix}{name}{_signature(member)}` — {_doc(member)}")
        lines.append("")
    lines += ["## The fault profile", "", _doc(faults), "", f"`FaultProfile`: {_doc(faults.FaultProfile)}", "",
              "| field | type | notes |", "|---|---|---|"]
    notes = comments(faults.FaultProfile)
    for field in attrs.fields(faults.FaultProfile):
        lines.append(f"| `{field.name}` | `{_cell(str(field.type))}` | {_cell(notes.get(field.name, ''))} |")
    lines += ["", f"- image faults (`ImageFault`): {', '.join(f'`{f.value}`' for f in faults.ImageFault)}",
              f"- hostile replies (`Hostile`, {_doc(faults.Hostile)}): "
              f"{', '.join(f'`{h.value}`' for h in faults.Hostile)}", "",
              f"`parse_faults` reads the `--faults` option: {_doc(faults.parse_faults)}", ""]
    lines += ["### Time zones the kit sets", "", comments(records).get("ZONE_NOTATIONS", ""), "",
              "| `time_zone` | UTC offset |", "|---|---|"]
    lines += [f"| `{spec}` | {_hours(offset)} |" for spec, offset in records.ZONE_NOTATIONS]
    lines += ["", "### What the kit checks in the simulator's behaviour", "",
              "- `set_faults` takes effect on the next request; a new profile replaces the old one.",
              "- A clock set through the driver stays set (`set_clock` round trip), on top of any `clock_offset`.",
              "- `trigger_event(DeviceEventKind.REBOOT, channel)` drops every event stream and subscription and "
              "refuses connections for a moment; the driver must subscribe again by itself.",
              "- `disk_full` shows as a full disk where the device's storage status can say so "
              "(`reports_full_disk = False` in the kit subclass where it cannot), never as a failed one.",
              "- Clips and replays decode: a clip download is a file FFmpeg reads; `serves_replay = True` with a "
              "`replay_device` fixture has the kit decode the RTSP replay too.", ""]
    lines += ["## Helpers in `watchkeeper.simulation`", ""]
    for module, names in ((simhttp, ("HttpDevice", "DigestAuth", "device_middleware", "send_hostile", "start_site")),
                          (scenes, ("render", "jpeg", "base_scene")),
                          (recordings, ("recorded_intervals", "mjpeg_clip")),
                          (faults, ("zone_offset", "parse_faults"))):
        lines += [f"### `{module.__name__}`", "", _doc(module), ""]
        for name in names:
            member = getattr(module, name)
            signature = "" if inspect.isclass(member) else _signature(member)
            lines.append(f"- `{name}{signature}` — {_first_paragraph(member)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _hours(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


PAGES = {"driver": render_driver, "simulator": render_simulator}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PAGES:
        sys.exit(f"usage: python -m watchkeeper.testing.guides {{{'|'.join(PAGES)}}}")
    sys.stdout.write(PAGES[sys.argv[1]]())

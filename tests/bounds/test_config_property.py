"""Site configs with extreme numbers and shapes: `config check` names the key and exits 2, fast, never a traceback.

A valid site is mutated at one to three places (any key, any table or array) into extreme numbers
(NaN, infinities, 1e308, 2**70), wrong shapes (a table for a number, an array for a table), long
or odd strings, and nesting far deeper than any real config; each case must finish in seconds.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from watchkeeper.faces.cli import make_cli
from watchkeeper.host import load_plugins
from watchkeeper.site.config import Backup, Camera, Door, Policies, Recorder, load_site
from watchkeeper.site.estatelink import EstateLink
from watchkeeper.site.distributed import Distributed
from watchkeeper.site.identityconfig import IdentityConfig
from watchkeeper.site.limits import NUMBER_RANGES

BASE: dict[str, Any] = {
    "site": {"name": "Property", "time_zone": "Asia/Shanghai", "store": "data/wk.db"},
    "policies": {"clock_tolerance_seconds": 30, "retention_days": 30, "inspection_times": ["08:00", "20:00"],
                 "gap_threshold_seconds": 60, "inspection_frames": 5, "frame_interval_seconds": 1.0,
                 "playback_seconds": 10, "escalate_after_hours": 24, "retrieval_valid_hours": 24,
                 "audit_match_seconds": 300, "thresholds": {"night": {"dark_mean_min": 15}}},
    "backup": {"folder": "backups", "passphrase": "env:HOME", "keep": 14},
    "estate": {"url": "https://estate.example.org:8740", "site_id": "property", "key": "env:HOME",
               "interval_seconds": 60, "timeout_seconds": 10},
    "distributed": {"url": "redis://10.0.0.5:6379/0", "queue": "site", "task_seconds": 120, "tries": 3,
                    "worker_jobs": 16},
    "identity": {"session_idle_minutes": 15, "session_hours": 12, "lockout_attempts": 5, "lockout_minutes": 15},
    "recorders": [{"id": "nvr", "platform": "hikvision", "host": "10.0.0.2", "port": 8000, "timeout_seconds": 5}],
    "cameras": [
        {"id": "gate", "location": "gate", "purpose": "plates", "zone": "perimeter", "platform": "hikvision",
         "host": "10.0.0.3", "port": 80, "channel": 1, "timeout_seconds": 5, "retention_days": 30, "profile": "day"},
        {"id": "lobby", "location": "lobby", "purpose": "people", "zone": "inside", "recorder": "nvr",
         "recorder_channel": 2},
    ],
    "doors": [{"id": "room", "platform": "osdp", "serial_port": "/dev/ttyUSB0", "address": 1, "strike_seconds": 5,
               "held_open_seconds": 30, "passback_seconds": 120}],
    "people": [{"id": "li", "name": "Li", "roles": ["operator"], "badges": ["1001"], "trained_on": date(2025, 1, 1),
                "hours": "07:00-19:00", "os_user": "li"}],
    "maintenance": [{"id": "wipe", "title": "Wipe", "every": "daily"}],
}


@attrs.frozen
class Deep:
    """Arrays or inline tables nested `depth` times, emitted without recursion."""

    depth: int
    table: bool


def places(value: Any, path: tuple = ()) -> list[tuple]:
    """Every key path in the document (tables, arrays and leaves)."""
    found = [path] if path else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, child in children:
        found += places(child, path + (name,))
    return found


PLACES = places(BASE)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 10**18, 1e308, -1e308, 5e-324, -0.0,
                     math.inf, -math.inf, math.nan, 65536, 1e9, 1e18]),
)
LEAVES = st.one_of(NUMBERS, st.booleans(), st.text(max_size=40), st.text(min_size=5000, max_size=20000),
                   st.dates(), st.just(""), st.just("file:/dev/zero"), st.just("file:."))
SHAPES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def long_array(pool: list[str], count: int, numbered: bool) -> list[dict[str, str]]:
    """`count` tables with ids from `pool` (repeated, or made unique by their index)."""
    return [{"id": pool[index % len(pool)] + (str(index) if numbered else "")} for index in range(count)]


#: Long arrays of tables are built from a few drawn values: drawing each of up to 3,000 ids from
#: hypothesis took most of this test's time (about 70 of 82 s) and found nothing more.
LONG_ARRAYS = st.builds(long_array, st.lists(st.text(max_size=5), min_size=1, max_size=10),
                        st.integers(min_value=500, max_value=3000), st.booleans())
EXTREMES = st.one_of(SHAPES, st.builds(Deep, st.integers(min_value=2, max_value=3000), st.booleans()), LONG_ARRAYS)


def toml_key(key: Any) -> str:
    key = str(key)
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml(value: Any) -> str:
    """An inline TOML value (tomllib reads what this writes)."""
    if isinstance(value, Deep):
        return ("{a = " * value.depth + "1" + "}" * value.depth) if value.table else "[" * value.depth + "]" * value.depth
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml(v)}" for k, v in value.items()) + "}"


def mutate(document: Any, path: tuple, value: Any) -> Any:
    """The document with `value` at `path`; a path an earlier change removed is left alone."""
    if not path:
        return value
    if not isinstance(document, (dict, list)):
        return document
    copy = dict(document) if isinstance(document, dict) else list(document)
    head = path[0]
    if isinstance(copy, dict) or (isinstance(head, int) and head < len(copy)):
        if isinstance(copy, list) or head in copy:
            copy[head] = mutate(copy[head], path[1:], value)
    return copy


@pytest.fixture(scope="module")
def cli():
    return make_cli(load_plugins(None), Path("unused.toml"))


@settings(max_examples=150, deadline=timedelta(seconds=10), suppress_health_check=list(HealthCheck))
@given(changes=st.lists(st.tuples(st.sampled_from(PLACES), EXTREMES), min_size=1, max_size=3),
       dotted=st.one_of(st.none(), st.integers(min_value=9, max_value=20000)))
def test_extreme_configs_are_refused_naming_the_key(cli, tmp_path_factory, changes, dotted) -> None:
    document = BASE
    for path, value in changes:
        document = mutate(document, path, value)
    text = "\n".join(f"{toml_key(key)} = {toml(value)}" for key, value in document.items())
    if dotted:
        text += "\ndeep." + ".".join(["a"] * dotted) + " = 1"
    folder = tmp_path_factory.mktemp("site")
    config = folder / "site.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["config", "check", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert dotted is None
        assert_within_ranges(load_site(config))
        return
    assert result.exit_code == 2, result.output
    problems = [line for line in result.output.splitlines() if line.startswith(f"{config}: ")][1:]
    assert problems, result.output
    named = {str(part) for path, _ in changes for part in path if isinstance(part, str)} | {"deep", "(syntax)"}
    # A changed id is named where it is referenced (a camera's recorder); anything else by its own key.
    assert any(name in line for line in problems for name in named | {"recorder"}), (changes, result.output)


def assert_within_ranges(site: Any) -> None:
    """What the loader accepts is inside the documented ranges."""
    sections = {"policies": [site.policies], "backup": [site.backup] if site.backup else [],
                "estate": [site.estate] if site.estate else [],
                "distributed": [site.distributed] if site.distributed else [],
                "recorders": site.recorders, "cameras": site.cameras, "doors": site.doors,
                "identity": [site.identity]}
    for key, limit in NUMBER_RANGES.items():
        section, name = key.split(".")
        for item in sections[section]:
            value = getattr(item, name)
            assert value is None or limit.problem(value) is None, (key, value)


@pytest.mark.parametrize("record", [Policies, Backup, EstateLink, Distributed, Recorder, Camera, Door, IdentityConfig])
def test_every_number_in_the_config_has_a_range(record: type) -> None:
    section = {Policies: "policies", Backup: "backup", EstateLink: "estate", Distributed: "distributed",
               Recorder: "recorders", Camera: "cameras", Door: "doors", IdentityConfig: "identity"}[record]
    numeric = {field.name for field in attrs.fields(record)
               if field.type in ("int", "float", "int | None", "float | None")}
    assert numeric and numeric <= {key.split(".")[1] for key in NUMBER_RANGES if key.startswith(section + ".")}


def test_docs_state_every_range() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    for key, limit in NUMBER_RANGES.items():
        row = next((line for line in docs.splitlines() if line.startswith(f"| `{key}` |")), None)
        assert row is not None and limit.text() in row, f"docs/config.md has no range row for {key}"

"""Every number a site config may hold, with its range, and how large and deep the file may be.

The loader checks each number against NUMBER_RANGES (docs/config.md lists the same table, and a
test keeps the two in step), so `timeout_seconds = 1e308`, `frame_interval_seconds = 1e9` or
`retention_days = 1e18` are config errors naming the key, not a hang or an overflow at run time.
"""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from watchkeeper.core.i18n import _

#: A site.toml is text: 10,000 cameras take about 4 MB, which tomllib reads in about 5 s.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: Tables and arrays nested deeper than this are refused; the deepest real key,
#: policies.thresholds.night.dark_mean_min, sits at depth 4.
MAX_DEPTH = 8


@attrs.frozen
class Range:
    """low..high inclusive; with `above`, strictly more than low (0 is not a timeout)."""

    low: float
    high: float
    above: bool = False

    def problem(self, value: float) -> str | None:
        """Why `value` is out of range, or None; NaN and infinities are always out."""
        low_ok = value > self.low if self.above else value >= self.low
        if math.isfinite(value) and low_ok and value <= self.high:
            return None
        return _("must be {range}, not {value!r}").format(range=self.text(), value=value)

    def text(self) -> str:
        if self.above:
            return _("more than {low} and at most {high}").format(low=_number(self.low), high=_number(self.high))
        return _("from {low} to {high}").format(low=_number(self.low), high=_number(self.high))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


#: "section.key" (section: policies, backup, distributed, recorders, cameras, doors) -> its range.
NUMBER_RANGES: dict[str, Range] = {
    "policies.clock_tolerance_seconds": Range(0, 3600, above=True),
    "policies.retention_days": Range(1, 3650),
    "policies.access_retention_days": Range(1, 3650),
    "policies.gap_threshold_seconds": Range(0, 86400, above=True),
    "policies.inspection_frames": Range(2, 50),
    # Frames x interval is how long each camera's live check takes: at most 50 x 10 s.
    "policies.frame_interval_seconds": Range(0, 10, above=True),
    "policies.playback_seconds": Range(0, 600, above=True),
    # Hours and seconds become timedeltas: 1e308 hours would overflow them.
    "policies.escalate_after_hours": Range(0, 720, above=True),
    "policies.retrieval_valid_hours": Range(0, 720, above=True),
    "policies.audit_match_seconds": Range(0, 3600, above=True),
    "policies.transient_grace_seconds": Range(0, 3600),
    "policies.review_interval_days": Range(1, 366),
    # Days become a timedelta added to a training date: 1e18 would overflow it.
    "policies.training_refresher_days": Range(1, 3650),
    "backup.keep": Range(1, 3650),
    "identity.session_idle_minutes": Range(0, 1440, above=True),
    "identity.session_hours": Range(0, 720, above=True),
    "identity.lockout_attempts": Range(1, 100),
    "identity.lockout_minutes": Range(0, 10080, above=True),
    # A push every 5 s at most (an estate of 1,000 sites), once a day at least.
    "estate.interval_seconds": Range(5, 86400),
    "estate.timeout_seconds": Range(0, 300, above=True),
    # A task longer than an hour is a hung camera held by a worker, not an inspection.
    "distributed.task_seconds": Range(1, 3600),
    "distributed.tries": Range(1, 10),
    "distributed.worker_jobs": Range(1, 1000),
    "distributed.window": Range(1, 100000),
    "distributed.worker_clock_seconds": Range(0, 60, above=True),
    "recorders.port": Range(1, 65535),
    "recorders.timeout_seconds": Range(0.1, 300),
    "recorders.channels": Range(1, 1024),
    "cameras.port": Range(1, 65535),
    "cameras.timeout_seconds": Range(0.1, 300),
    "cameras.channel": Range(1, 1024),
    "cameras.recorder_channel": Range(1, 1024),
    "cameras.retention_days": Range(1, 3650),
    "doors.port": Range(1, 65535),
    "doors.address": Range(0, 126),
    "doors.strike_seconds": Range(0, 600, above=True),
    "doors.held_open_seconds": Range(0, 3600, above=True),
    "doors.passback_seconds": Range(0, 86400),
}


#: The estate service's own `estate.toml` (`faces/estate/config.py`), "section.key" -> its range. Kept
#: apart from NUMBER_RANGES: its `[estate]` table is not a site's `[estate]` link, whose keys those are.
#: Its `[identity]` is a site's and takes NUMBER_RANGES' `identity.*`. docs/config.md lists these in its
#: estate.toml section, and a test keeps the two in step.
ESTATE_NUMBER_RANGES: dict[str, Range] = {
    "estate.port": Range(1, 65535),
    # A week: a site silent longer than that is long past "silent" (the flag and the report say so).
    "estate.stale_minutes": Range(1, 10080),
}


def range_problem(table_path: str, key: str, value: float) -> str | None:
    """Why a number read at `table_path.key` (``cameras[3]``, ``policies``) is out of its range."""
    section = table_path.partition("[")[0]
    limit = NUMBER_RANGES.get(f"{section}.{key}")
    return limit.problem(value) if limit is not None else None


def depth_problem(data: Any) -> tuple[str, str] | None:
    """(key path, reason) for the first place nested deeper than MAX_DEPTH, or None.

    Walked with an explicit stack: the document may be deeper than Python's recursion limit.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for name, child in children:
            if not isinstance(child, (dict, list)):
                continue
            child_path = f"{path}[{name}]" if isinstance(value, list) else f"{path}.{name}" if path else str(name)
            if depth + 1 > MAX_DEPTH:
                return child_path[:200], _("nested deeper than {depth} tables or arrays").format(depth=MAX_DEPTH)
            stack.append((child, child_path, depth + 1))
    return None


#: What the nesting scan stops at; everything else is skipped at C speed.
_MARKS = re.compile(r"[\"'#\[\]{}.=,\n]")


def nesting_problem(text: str) -> str | None:
    """Why the TOML text nests too deeply, found before parsing it, or None.

    tomllib recurses into nested arrays and inline tables, and its time grows with the square of a
    dotted key's length (a 20,000-part key takes 10 s): both are refused from a linear scan first.
    Strings and comments are skipped; an unterminated string ends the scan (tomllib reports it).
    """
    depth = dots = position = 0
    while (match := _MARKS.search(text, position)) is not None:
        mark, position = match.group(), match.end()
        if mark in "\"'":
            position = _string_end(text, match.start(), mark)
            if position < 0:
                return None
        elif mark == "#":
            position = text.find("\n", position)
            if position < 0:
                return None
        elif mark in "[{":
            depth, dots = depth + 1, 0
            if depth > MAX_DEPTH:
                return _("arrays or inline tables nested deeper than {depth} (line {line})").format(
                    depth=MAX_DEPTH, line=_line(text, position))
        elif mark in "]}":
            depth, dots = max(depth - 1, 0), 0
        elif mark == ".":
            dots += 1
            if dots >= MAX_DEPTH:
                return _("a dotted key of more than {depth} parts (line {line})").format(
                    depth=MAX_DEPTH, line=_line(text, position))
        else:  # "=", "," or a new line ends a key
            dots = 0
    return None


def _string_end(text: str, start: int, quote: str) -> int:
    """Index just past the string opening at `start`, or -1 if it never closes."""
    closing = quote * 3 if text.startswith(quote * 3, start) else quote
    position = start + len(closing)
    while True:
        end = text.find(closing, position)
        if end < 0 or (len(closing) == 1 and text.find("\n", position, end) >= 0):
            return -1
        escapes = 0  # a literal ('...') string has no escapes; a basic one's quote may be escaped
        while quote == '"' and end - 1 - escapes >= position and text[end - 1 - escapes] == "\\":
            escapes += 1
        if escapes % 2 == 0:
            extra = 0  # a multi-line string may end in one or two quotes of its own: """a"""""
            while len(closing) == 3 and extra < 2 and text.startswith(quote, end + 3):
                end, extra = end + 1, extra + 1
            return end + len(closing)
        position = end + 1


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1

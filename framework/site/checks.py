"""The Check record rule plugins register, what a check returns, and the context it runs in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from watchkeeper.core.findings import Finding, FindingKind

if TYPE_CHECKING:  # pragma: no cover
    from watchkeeper.site.app import App
    from watchkeeper.evidence.findingstore import FindingStore

CLAUSES = ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10")


@attrs.define
class CheckResult:
    """What a check saw, and what it was able to look at (so absent findings can be closed)."""

    findings: list[Finding] = attrs.field(factory=list)
    #: (kind, subject, channel) triples the check evaluated this run.
    scope: set[tuple[str, str, int | None]] = attrs.field(factory=set)
    summary: dict[str, Any] = attrs.field(factory=dict)

    def evaluated(self, kinds: Iterable[FindingKind | str], subject: str, channel: int | None = None) -> None:
        self.scope.update((str(kind), subject, channel) for kind in kinds)

    def merge(self, other: CheckResult) -> None:
        self.findings += other.findings
        self.scope |= other.scope


@attrs.define
class CheckContext:
    app: App
    findings: FindingStore
    actor: str = "watchkeeper"
    #: Limit the check to these device or camera ids; None means all.
    only: frozenset[str] | None = None
    now: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc))
    #: Called with each item's id as it is done (the CLI's progress bar).
    progress: Callable[[str], None] | None = None
    #: Check-specific switches from the command line, e.g. {"playback": False}.
    options: dict[str, Any] = attrs.field(factory=dict)

    def wanted(self, item_id: str) -> bool:
        return self.only is None or item_id in self.only


@attrs.frozen
class Check:
    """A rule's unit of work: run it, get findings. Registered through `register_checks`."""

    name: str
    clause: str = attrs.field(validator=attrs.validators.in_(CLAUSES))
    run: Callable[[CheckContext], Awaitable[CheckResult]]
    description: str = ""

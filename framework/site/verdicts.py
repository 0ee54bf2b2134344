"""What a clause's verdict is: its status, the rule that decided it and the evidence ids behind it."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from watchkeeper.site.checks import CLAUSES

if TYPE_CHECKING:  # pragma: no cover
    from watchkeeper.site.app import App


class Status(enum.StrEnum):
    """A clause's state for a period (DESIGN §9)."""

    MET = "met"
    NOT_MET = "not met"
    NO_EVIDENCE = "no evidence"
    NOT_DUE = "not due"


@attrs.define
class Evidence:
    """Ids of what the store holds behind a verdict, by where they live (journal seqs, run ids...)."""

    ids: dict[str, list[Any]] = attrs.field(factory=dict)

    def add(self, kind: str, *ids: Any) -> None:
        bucket = self.ids.setdefault(kind, [])
        bucket.extend(i for i in ids if i not in bucket)

    def extend(self, kind: str, ids: Iterable[Any]) -> None:
        self.add(kind, *ids)

    def __bool__(self) -> bool:
        return any(self.ids.values())

    def to_dict(self) -> dict[str, list[Any]]:
        return {kind: sorted(ids, key=str) if any(isinstance(i, str) for i in ids) else sorted(ids)
                for kind, ids in sorted(self.ids.items()) if ids}


@attrs.frozen
class Verdict:
    clause: str
    status: Status
    #: Which of the clause rule's branches decided it, e.g. ``"R7.beyond_tolerance"``; docs/clauses.md names each.
    rule: str
    reason: str
    evidence: dict[str, list[Any]] = attrs.field(factory=dict)
    findings: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"clause": self.clause, "status": str(self.status), "rule": self.rule, "reason": self.reason,
                "evidence": self.evidence, "findings": list(self.findings)}


@attrs.define
class VerdictContext:
    """One clause's view of a period: its bounds, the part of it that counts, its findings."""

    app: App
    clause: str
    start: datetime
    end: datetime
    now: datetime
    commissioned_at: datetime
    #: Rows of the `findings` table of this clause open at any time during the period.
    findings: list[dict[str, Any]] = attrs.field(factory=list)
    #: The journal's verification when the caller already has a current one (the dashboard keeps
    #: it per head, walked off the event loop); None: the rule walks the chain itself.
    verification: Any = None

    @property
    def since(self) -> datetime:
        """Duties before the site's journal began are nobody's."""
        return max(self.start, self.commissioned_at)

    @property
    def until(self) -> datetime:
        """Nothing after now is known yet."""
        return min(self.end, self.now)

    @property
    def over(self) -> bool:
        return self.end <= self.now

    def span(self) -> list[str]:
        return [self.since.isoformat(), self.until.isoformat()]

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query; a table a rule plugin did not create reads as empty (no evidence)."""
        table = sql.split(" FROM ", 1)[1].split()[0]
        if not self.app.store.db[table].exists():
            return []
        cursor = self.app.store.conn.execute(sql, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor]


@attrs.frozen
class ClauseRule:
    """A clause's verdict rule, registered through `register_verdicts` by the plugin owning the clause."""

    clause: str = attrs.field(validator=attrs.validators.in_(CLAUSES))
    decide: Callable[[VerdictContext], Verdict]
    description: str = ""

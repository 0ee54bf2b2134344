"""The verdict engine: each clause's status for a period, decided by the rule its plugin registered.

Every rule follows one order (``decide``): an open finding of the clause or a breach the evidence
shows is *not met*; a duty that fell due with nothing in the store to show it done is *no
evidence*; evidence for every duty that fell due is *met*; nothing due is *not due*. A rule reads
only the store and the journal, never a constant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import attrs
import pluggy

from watchkeeper.core.findings import kind_in_text
from watchkeeper.core.i18n import _, format_datetime
from watchkeeper.site.app import App
from watchkeeper.site.checks import CLAUSES
from watchkeeper.site.verdicts import ClauseRule, Evidence, Status, Verdict, VerdictContext

#: How many reasons a verdict spells out before it says "and N more".
REASONS_SHOWN = 3


def collect_clause_rules(pm: pluggy.PluginManager) -> dict[str, ClauseRule]:
    """Every clause's rule from `register_verdicts`; a clause registered twice names both plugins."""
    rules: dict[str, ClauseRule] = {}
    owners: dict[str, str] = {}
    for impl in pm.hook.register_verdicts.get_hookimpls():

        def register(rule: ClauseRule, plugin: str = impl.plugin_name) -> None:
            if not isinstance(rule, ClauseRule):
                raise TypeError(f"plugin '{plugin}': register_verdicts expects a ClauseRule, got {rule!r}")
            if rule.clause in rules:
                raise ValueError(f"plugin '{plugin}': clause {rule.clause} already has a rule from '{owners[rule.clause]}'")
            rules[rule.clause], owners[rule.clause] = rule, plugin

        impl.function(register=register)
    return rules


@attrs.frozen
class Item:
    """One breach or one duty without evidence: the rule branch that names it and why, in words."""

    rule: str
    reason: str


def _joined(items: list[Item]) -> str:
    shown = "; ".join(item.reason for item in items[:REASONS_SHOWN])
    if len(items) > REASONS_SHOWN:
        shown += "; " + _("and {count} more").format(count=len(items) - REASONS_SHOWN)
    return shown


def decide(context: VerdictContext, evidence: Evidence, breaches: Iterable[Item] = (),
           missing: Iterable[Item] = (), kept: str | None = None) -> Verdict:
    """The one order every clause rule follows (module docstring)."""
    breaches, missing = list(breaches), list(missing)
    clause, found = context.clause, tuple(f["id"] for f in context.findings)
    evidence.extend("findings", found)
    if context.findings:
        kinds = sorted({f["kind"] for f in context.findings})
        reason = _("{count} finding(s) open in the period: {kinds}").format(
            count=len(found), kinds=_(", ").join(kind_in_text(kind) for kind in kinds))
        if breaches:
            reason += "; " + _joined(breaches)
        return Verdict(clause, Status.NOT_MET, f"{clause}.findings", reason, evidence.to_dict(), found)
    if breaches:
        return Verdict(clause, Status.NOT_MET, breaches[0].rule, _joined(breaches), evidence.to_dict(), found)
    if missing:
        return Verdict(clause, Status.NO_EVIDENCE, missing[0].rule, _joined(missing), evidence.to_dict(), found)
    if evidence:
        return Verdict(clause, Status.MET, f"{clause}.kept", kept or _("kept"), evidence.to_dict(), found)
    return Verdict(clause, Status.NOT_DUE, f"{clause}.nothing_due", _("nothing fell due in the period"),
                   evidence.to_dict(), found)


def judge(app: App, start: datetime, end: datetime, now: datetime | None = None,
          verification: Any = None) -> list[Verdict]:
    """Every clause's verdict for [start, end), in clause order (`verification`: the journal's, if
    the caller has a current one; see VerdictContext)."""
    now = now or datetime.now(timezone.utc)
    rules = collect_clause_rules(app.pm)
    # Whole seconds: some tables keep seconds only, and an act in the commissioning second is in service.
    commissioned = app.commissioned_at().replace(microsecond=0)
    cursor = app.store.conn.execute(
        "SELECT * FROM findings WHERE opened_at < ? AND (closed_at IS NULL OR closed_at > ?) ORDER BY id",
        [end.isoformat(), start.isoformat()])
    names = [column[0] for column in cursor.description]
    findings = [dict(zip(names, row)) for row in cursor]
    result = []
    for clause in CLAUSES:
        context = VerdictContext(app, clause, start, end, now, commissioned,
                                 [f for f in findings if f["clause"] == clause], verification)
        rule = rules.get(clause)
        if context.since >= context.until:
            result.append(Verdict(clause, Status.NOT_DUE, f"{clause}.outside_service",
                                  _("the period lies before the site was commissioned or after now")))
        elif rule is None:
            result.append(Verdict(clause, Status.NO_EVIDENCE, f"{clause}.no_rule",
                                  _("no installed plugin judges this clause")))
        else:
            result.append(rule.decide(context))
    return result


# --- what rules share -----------------------------------------------------------------------------


@attrs.frozen
class Slot:
    """One occurrence of a recurring duty: a site-local day or week, in UTC."""

    label: str
    start: datetime
    end: datetime
    #: The slot has ended inside the counted part of the period and began after commissioning.
    due: bool


def _slots(context: VerdictContext, first: date, step: timedelta, label: Any) -> Iterator[Slot]:
    zone = context.app.site.zone
    day = first
    while True:
        begin = datetime.combine(day, time(), tzinfo=zone).astimezone(timezone.utc)
        finish = datetime.combine(day + step, time(), tzinfo=zone).astimezone(timezone.utc)
        if begin >= context.end:
            return
        if finish > context.start:
            # The slot in which the site was commissioned is nobody's duty yet: it may be done, not owed.
            yield Slot(label(day), begin, finish, finish <= context.until and begin >= context.commissioned_at)
        day += step


def days(context: VerdictContext) -> list[Slot]:
    """Site-local days overlapping the period."""
    first = context.start.astimezone(context.app.site.zone).date()
    return list(_slots(context, first, timedelta(days=1), lambda d: d.isoformat()))


def weeks(context: VerdictContext) -> list[Slot]:
    """Site-local calendar weeks (Monday to Sunday) overlapping the period."""
    first = context.start.astimezone(context.app.site.zone).date()
    monday = first - timedelta(days=first.weekday())
    return list(_slots(context, monday, timedelta(days=7), lambda d: f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}"))


def local(context: VerdictContext, moment: datetime | str) -> str:
    """A time as the site reads it, for reasons."""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return format_datetime(value, context.app.site.zone)


def journal_rows(context: VerdictContext, where: str = "1", params: Iterable[Any] = (),
                 since: datetime | None = None) -> list[dict[str, Any]]:
    """Journal entries in the counted part of the period matching `where`."""
    begin = (since or context.since).isoformat()
    return context.rows(f"SELECT * FROM journal WHERE time_utc >= ? AND time_utc < ? AND ({where}) ORDER BY seq",
                        [begin, context.until.isoformat(), *params])


#: A device that could not be read, or whose check failed inside watchkeeper (check_failed): either way
#: nothing was learnt about it.
DEVICE_FAILURES = ("unreachable", "auth_failed", "protocol_error", "check_failed")


def unreadable(context: VerdictContext, subjects: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Devices among `subjects` that could not be read in the period: their failure finding, by subject.

    Device failures are R5's findings; R7 and R8 read them to tell *no evidence* from *met*."""
    wanted = set(subjects)
    marks = ",".join("?" for _kind in DEVICE_FAILURES)
    rows = context.rows(f"SELECT * FROM findings WHERE kind IN ({marks}) AND opened_at < ?"
                        " AND (closed_at IS NULL OR closed_at > ?) ORDER BY id",
                        [*DEVICE_FAILURES, context.until.isoformat(), context.since.isoformat()])
    return {row["subject"]: row for row in rows if row["subject"] in wanted}

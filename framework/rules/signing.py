"""Signing the shift inspection (R5): who may sign a run, the note every fault needs, and whether every
shift that fell due had a signed run."""

from __future__ import annotations

import bisect
from datetime import datetime, time, timedelta, timezone


from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.verdicts import Item, decide, local
from watchkeeper.site.checks import CheckContext, CheckResult
from watchkeeper.site.verdicts import Evidence, Verdict, VerdictContext
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.rules import duty, ownership
from watchkeeper.site.app import App
# Where frames come from lives in its own module; these names are used here and by callers of inspection.
from watchkeeper.rules.frames import (Announce as Announce, FrameSeries as FrameSeries,
                                      PlaybackUnavailable as PlaybackUnavailable, decode_jpeg as decode_jpeg,
                                      in_frame_thread as in_frame_thread, live_frames as live_frames,
                                      playback_frames as playback_frames, read_stream as read_stream,
                                      recorder_of as recorder_of, source_of as source_of,
                                      store_intent as store_intent)


#: A shift's inspection counts if it started this long before the shift, or up to SHIFT_GRACE after.
SHIFT_LEAD, SHIFT_GRACE = duty.SHIFT_LEAD, duty.SHIFT_GRACE


def sign(app: App, actor: str, run_id: int | None = None, note: str = "",
         fault_notes: dict[str, tuple[str, str]] | None = None) -> int:
    """An operator on duty signs an inspection run (the latest by default): R5's accountability.

    Refused, and journaled, unless the run covered every camera in scope, the signer is on duty for
    the shift the run serves, and `fault_notes` holds, for every camera with a fault, what was done
    and to whom it was reported: ``{camera: (action, reported_to)}``.
    """
    if run_id is None:
        row = app.store.conn.execute("SELECT id FROM inspection_runs WHERE finished_at IS NOT NULL"
                                     " ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise KeyError("no finished inspection run to sign")
        run_id = row[0]
    subject = f"run-{run_id}"
    app.require(actor, "inspect.sign", subject, kind="inspection")
    run = app.store.row("inspection_runs", run_id, "inspection run")
    if run["signed_by"]:
        raise ValueError(f"run {run_id} was already signed by {run['signed_by']}")
    if not run["finished_at"]:
        raise ValueError(f"run {run_id} has not finished")
    results = list(app.store.db["inspection_results"].rows_where("run = ?", [run_id]))
    missing = sorted({camera.id for camera in app.site.cameras} - {r["camera"] for r in results})
    if missing:
        raise duty.refuse(app, actor, subject, "inspect.sign", N_(
            "run {run} did not inspect every camera in scope: {cameras} missing",
            run=run_id, cameras=", ".join(missing)))
    shift = duty.shift_for(app, datetime.fromisoformat(run["started_at"]))
    rostered = duty.on_duty(app, shift) if shift is not None else ()
    if actor not in rostered:
        label = duty.shift_label(app, shift) if shift is not None else "?"
        raise duty.refuse(app, actor, subject, "inspect.sign", N_(
            "{actor} is not on duty for the shift of {shift} (on duty: {names})",
            actor=actor, shift=label, names=", ".join(rostered) or N_("nobody")))
    fault_notes = {camera: (action.strip(), to.strip()) for camera, (action, to) in (fault_notes or {}).items()}
    faulty = sorted(r["camera"] for r in results if r["status"] == "fault")
    extra = sorted(set(fault_notes) - set(faulty))
    if extra:
        raise ValueError(_("no fault in run {run} for {cameras}").format(run=run_id, cameras=", ".join(extra)))
    unnoted = [camera for camera in faulty if not all(fault_notes.get(camera, ("", "")))]
    if unnoted:
        raise duty.refuse(app, actor, subject, "inspect.sign", N_(
            "every fault needs a note of what was done and to whom it was reported: {cameras}",
            cameras=", ".join(unnoted)))
    now = datetime.now(timezone.utc).isoformat()
    with app.store.transaction():
        app.store.db["inspection_fault_notes"].insert_all(
            [{"run": run_id, "camera": camera, "action": action, "reported_to": to, "noted_by": actor,
              "noted_at": now} for camera, (action, to) in sorted(fault_notes.items())])
        app.store.db["inspection_runs"].update(run_id, {"signed_by": actor, "signed_at": now, "note": note})
    app.journal.append("inspection", actor, subject, {
        "signed": run_id, "note": note, "faults": run["fault"], "warnings": run["warning"],
        "shift": duty.shift_label(app, shift) if shift is not None else None,
        "fault_notes": {camera: {"action": action, "reported_to": to} for camera, (action, to) in fault_notes.items()}})
    return run_id


def shifts_due(app: App, now: datetime, days: int | None = None) -> list[datetime]:
    """Shift starts whose signing window has closed: since commissioning (any age), or in the last `days`."""
    since = app.commissioned_at()
    if days is not None:
        since = max(since, now - timedelta(days=days))
    return duty.shift_starts(app, since, now - SHIFT_GRACE)


async def check_signed(context: CheckContext) -> CheckResult:
    """Every shift since commissioning, however long ago, has a signed inspection; a missed one names
    the operators on duty."""
    app, result = context.app, CheckResult()
    signed = sorted(datetime.fromisoformat(row[0]) for row in app.store.conn.execute(
        "SELECT started_at FROM inspection_runs WHERE signed_by IS NOT NULL"))
    for start in shifts_due(app, context.now):
        subject = f"shift {duty.shift_label(app, start)}"
        if ownership.disposed(app, FindingKind.INSPECTION_UNSIGNED, subject):
            continue
        result.evaluated([FindingKind.INSPECTION_UNSIGNED], subject)
        first = bisect.bisect_left(signed, start - SHIFT_LEAD)
        if first < len(signed) and signed[first] <= start + SHIFT_GRACE:
            continue
        names = duty.on_duty(app, start)
        who = ", ".join(names) if names else N_("nobody was rostered")
        result.findings.append(Finding(FindingKind.INSPECTION_UNSIGNED, subject,
                                       N_("no signed inspection before this shift; on duty: {who}", who=who),
                                       details={"on_duty": list(names), "shift": start.isoformat()}))
    return result


def verdict(context: VerdictContext) -> Verdict:
    """R5: each shift that fell due in the period has a signed inspection run before it."""
    app, zone = context.app, context.app.site.zone
    evidence, missing = Evidence(), []
    if not app.site.cameras:
        return decide(context, evidence)
    runs = context.rows("SELECT id, started_at FROM inspection_runs WHERE signed_by IS NOT NULL AND started_at >= ?"
                        " AND started_at < ? ORDER BY id",
                        [(context.since - SHIFT_LEAD).isoformat(), context.until.isoformat()])
    in_period = [run for run in runs if run["started_at"] >= context.since.isoformat()]
    evidence.extend("inspection_runs", [run["id"] for run in in_period])
    day = context.since.astimezone(zone).date()
    while datetime.combine(day, time(), tzinfo=zone) < context.until:
        for text in app.site.policies.inspection_times:
            shift = datetime.combine(day, time.fromisoformat(text), tzinfo=zone).astimezone(timezone.utc)
            if not (context.since <= shift and shift + SHIFT_GRACE <= context.until):
                continue
            window = [(shift - SHIFT_LEAD).isoformat(), (shift + SHIFT_GRACE).isoformat()]
            covering = [run["id"] for run in runs if window[0] <= run["started_at"] <= window[1]]
            evidence.extend("inspection_runs", covering)
            if not covering:
                missing.append(Item("R5.shift_unsigned", _("no signed inspection before the shift of {shift}").format(
                    shift=local(context, shift))))
        day += timedelta(days=1)
    return decide(context, evidence, (), missing, _("every shift due had a signed inspection"))

"""The chain's rules: how a link is computed, and how a chain, its anchor and its witnesses are checked."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import attrs

from watchkeeper.core.i18n import N_
from watchkeeper.evidence.anchor import GENESIS, Anchor, AnchorError, Head, key_id
from watchkeeper.evidence.witness import WitnessHead

#: Who writes the journal's own records (its start, tampering alarms), and what they are about.
SYSTEM_ACTOR, JOURNAL_SUBJECT = "watchkeeper", "journal"
#: The events of those records: a journal begun with its key id, an older journal given one.
STARTED, UPGRADED = "journal_started", "journal_upgraded"


def link_hash(key: bytes, seq: int, time_utc: str, time_local: str, kind: str, actor: str,
              subject: str, body: str, prev_hash: str) -> str:
    """The HMAC-SHA256 that binds an entry to its position and to the entry before it."""
    message = json.dumps([seq, time_utc, time_local, kind, actor, subject, body, prev_hash],
                         ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


#: What can be wrong, most telling first; a verification names every one it finds.
STATUSES = ("broken", "wrong_key", "store_missing", "store_unreadable", "key_missing", "anchor_missing", "anchor_garbled", "truncated",
            "anchor_older", "anchor_mismatch", "witness_mismatch", "tampered", "restarted")


@attrs.frozen
class Problem:
    seq: int
    reason: str
    status: str = "broken"


@attrs.frozen
class Verification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problem: Problem | None = None
    #: Every problem found, the most telling first (`problem` is the first of them).
    problems: tuple[Problem, ...] = ()
    key_id: str = ""
    head_time: str = ""
    #: The chain records its key id (so its anchor must be MACed): carried to an incremental walk.
    modern: bool = False

    @property
    def status(self) -> str:
        return self.problem.status if self.problem else "ok"


def walk(conn: Any, key: bytes, state: Anchor | AnchorError | None, last: int,
         witness: list[WitnessHead], since: Verification | None = None) -> Verification:
    """Walk the chain up to entry `last`, then hold it against the anchor state and the witnessed heads.

    The first seq that does not hold stops the walk; otherwise every problem is named. `since`, an
    earlier ok walk whose head entry is still in place, is trusted up to its head.
    """
    own_id = key_id(key)
    wanted = {head.seq for head in witness}
    found: dict[int, str] = {}
    notes: list[Problem] = []
    modern, expected_seq, prev_hash, head_time = False, 1, GENESIS, ""
    if since is not None and since.ok and 0 < since.head_seq <= last and conn.execute(
            "SELECT hash FROM journal WHERE seq = ?", [since.head_seq]).fetchone() == (since.head_hash,):
        modern, expected_seq, prev_hash, head_time = since.modern, since.head_seq + 1, since.head_hash, since.head_time
        earlier = sorted(seq for seq in wanted if seq <= since.head_seq)
        for index in range(0, len(earlier), 500):
            chunk = earlier[index:index + 500]
            found.update(conn.execute(f"SELECT seq, hash FROM journal WHERE seq IN ({','.join('?' * len(chunk))})",
                                      chunk).fetchall())
    # A full walk reads every row, even ones numbered below 1 that no append would write.
    after = " AND seq >= ?" if expected_seq > 1 else ""
    cursor = conn.execute("SELECT seq, time_utc, time_local, kind, actor, subject, body, prev_hash, hash"
                          f" FROM journal WHERE seq <= ?{after} ORDER BY seq", [last, expected_seq][:2 if after else 1])
    for seq, time_utc, time_local, kind, actor, subject, body, stored_prev, stored_hash in cursor:
        problem = None
        if seq != expected_seq:
            problem = Problem(expected_seq, N_("entry {seq} is missing (next entry is {next})", seq=expected_seq, next=seq))
        elif stored_prev != prev_hash:
            problem = Problem(seq, N_("link to the previous entry is broken (entry removed, inserted or moved)"))
        elif seq == 1 and is_system_record(kind, actor, subject):
            problem = _key_id_problem(seq, body, own_id)
        if problem is None and not hmac.compare_digest(
            stored_hash,
            link_hash(key, seq, time_utc, time_local, kind, actor, subject, body, stored_prev),
        ):
            problem = Problem(seq, N_("entry content does not match its HMAC (edited, or chain rewritten without the key)"))
        if problem:
            return Verification(False, expected_seq - 1, expected_seq - 1, prev_hash, problem, (problem,),
                                own_id, head_time)
        if is_system_record(kind, actor, subject):
            if seq > 1 and _event(body) == UPGRADED:
                problem = _key_id_problem(seq, body, own_id)
                if problem:
                    return Verification(False, seq - 1, seq - 1, prev_hash, problem, (problem,), own_id, head_time)
            modern = modern or _event(body) in (STARTED, UPGRADED)
            notes += _system_notes(seq, body)
        if seq in wanted:
            found[seq] = stored_hash
        expected_seq, prev_hash, head_time = seq + 1, stored_hash, time_utc
    count = expected_seq - 1
    problems = []
    anchored = head_problem(Head(count, prev_hash), state, modern)
    if anchored is None and isinstance(state, AnchorError):  # an empty chain with no anchor
        anchored = Problem(count, state.reason, state.status)
    if anchored is not None:
        problems.append(anchored)
    problems += _witness_problems(witness, found, count, own_id)
    problems += sorted(notes, key=lambda p: (STATUSES.index(p.status), p.seq))
    return Verification(not problems, count, count, prev_hash, problems[0] if problems else None,
                        tuple(problems), own_id, head_time, modern)


def is_system_record(kind: str, actor: str, subject: str) -> bool:
    """The journal's own records: its start, the upgrade of a journal begun before key ids, alarms."""
    return kind == "operation" and actor == SYSTEM_ACTOR and subject == JOURNAL_SUBJECT


def _event(body: str) -> object:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("event") if isinstance(data, dict) else None


def _key_id_problem(seq: int, body: str, own_id: str) -> Problem | None:
    """A start or upgrade record names the key the chain is under; another key is named, not just 'broken'.

    A journal whose entry 1 is not a start record was begun before key ids were recorded (0.1.0).
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") not in (STARTED, UPGRADED):
        return None
    if data.get("key_id") != own_id:
        return Problem(seq, N_("entry {seq} was written under key id {other}, and the key in use has id {own}: the "
                               "wrong key file, or the chain rewritten under another key", seq=seq,
                               other=str(data.get("key_id")), own=own_id), "wrong_key")
    return None


def _witness_problems(witness: list[WitnessHead], found: dict[int, str], count: int, own_id: str) -> list[Problem]:
    problems = []
    for head in witness:
        if head.key_id and head.key_id != own_id:
            reason = N_("{origin}: the witness saw entry {seq} under key id {other}, and this journal's key is {own}: "
                        "the journal was begun again under a new key", origin=head.origin, seq=head.seq,
                        other=head.key_id, own=own_id)
        elif head.seq > count:
            reason = N_("{origin}: the witness saw entry {seq} ({time}) and the chain ends at {count}: entries were "
                        "deleted", origin=head.origin, seq=head.seq, time=head.time, count=count)
        elif found.get(head.seq) != head.hash:
            reason = N_("{origin}: entry {seq} differs from the head witnessed at {time}: the chain was rewritten",
                        origin=head.origin, seq=head.seq, time=head.time)
        else:
            continue
        problems.append(Problem(head.seq, reason, "witness_mismatch"))
    if len(problems) > 1:  # one per witnessed head would bury the rest
        first = problems[0]
        return [attrs.evolve(first, reason=N_("{reason} (and {count} more witnessed heads disagree)",
                                                  reason=first.reason, count=len(problems) - 1))]
    return problems


def head_problem(tip: Head, state: Anchor | AnchorError | None, modern: bool = True) -> Problem | None:
    """Why the chain's tip is not the anchored head, or None when it is (or there is no anchor).

    `modern`: the chain records its key id (entry 1, or an upgrade record), so its anchor must be MACed.
    """
    if state is None:
        return None
    if isinstance(state, Anchor) and state.legacy and modern:
        return Problem(tip.seq, N_("the head anchor is in the old unauthenticated format, and this journal's anchor "
                                   "has been MACed under its key since it recorded its key id: replaced by hand"),
                       "anchor_garbled")
    if isinstance(state, AnchorError):
        if state.status == "anchor_missing" and tip.seq == 0:
            return None  # nothing to compare: the new journal's first entry says whose key it is
        return Problem(tip.seq, N_("{reason}; the chain's last entry {seq} cannot be confirmed", reason=state.reason,
                                  seq=tip.seq), state.status)
    if state.accepts(tip):
        return None
    # Held against the head the anchor vouches for: the pending one when only it counts (strict) or
    # when the chain is already past the last cleared head.
    anchored = state.pending if state.pending is not None and (state.strict or tip.seq > state.head.seq) \
        else state.head
    if anchored.seq > tip.seq:
        return Problem(tip.seq + 1, N_("entries {first}..{last} were deleted (the head anchor remembers entry {last}, "
                                       "the chain ends at {tip})", first=tip.seq + 1, last=anchored.seq, tip=tip.seq),
                       "truncated")
    if anchored.seq < tip.seq:
        return Problem(anchored.seq + 1, N_("the head anchor remembers entry {seq}, older than the chain's last entry "
                                            "{tip} (an older anchor put back)", seq=anchored.seq, tip=tip.seq),
                       "anchor_older")
    return Problem(anchored.seq, N_("entry {seq} does not match the head anchor (chain rewritten)", seq=anchored.seq),
                   "anchor_mismatch")


def _system_notes(seq: int, body: str) -> list[Problem]:
    """What the journal's own records say about its history: a restart, a recorded alarm."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    if data.get("alarm") == "journal_tampered":
        return [Problem(seq, N_("entry {seq} records that the journal was tampered with: {reason}", seq=seq,
                                reason=str(data.get("reason"))),
                        "tampered")]
    if data.get("event") == "journal_started" and data.get("key") == "existing":
        return [Problem(seq, N_("entry {seq} began a new journal under a key already in use (key id {other}); the "
                                "journal before it was deleted or replaced", seq=seq, other=str(data.get("key_id"))),
                        "restarted")]
    return []

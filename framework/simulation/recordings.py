"""What a simulated recorder holds: continuous recording in fixed slots, cut by gaps, retention and now."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from watchkeeper.simulation.faults import FaultProfile

#: How far back a healthy simulated recorder keeps footage.
DEFAULT_RETENTION_DAYS = 35.0


def recorded_intervals(start: datetime, end: datetime, faults: FaultProfile, now: datetime,
                       slot_seconds: int = 3600) -> list[tuple[datetime, datetime]]:
    """The recorded pieces overlapping [start, end): one per slot (a recorder's file), minus the
    profile's gaps, nothing older than its retention and nothing after now; whole seconds, UTC."""
    retention = faults.retention_days if faults.retention_days is not None else DEFAULT_RETENTION_DAYS
    oldest = now - timedelta(days=retention)
    start, end = max(start, oldest), min(end, now)
    if start >= end:
        return []
    pieces: list[tuple[datetime, datetime]] = []
    first = int(start.timestamp()) // slot_seconds * slot_seconds
    for slot in itertools.count(first, slot_seconds):
        begin = datetime.fromtimestamp(slot, timezone.utc)
        if begin >= end:
            break
        cut = [(max(begin, oldest), min(begin + timedelta(seconds=slot_seconds), now))]
        for gap_start, gap_end in faults.gaps:
            kept = []
            for a, b in cut:
                if gap_end <= a or gap_start >= b:
                    kept.append((a, b))
                    continue
                if a < gap_start:
                    kept.append((a, gap_start))
                if gap_end < b:
                    kept.append((gap_end, b))
            cut = kept
        for a, b in cut:
            a, b = a.replace(microsecond=0), b.replace(microsecond=0)
            if b > a and b > start and a < end:
                pieces.append((a, b))
    return pieces

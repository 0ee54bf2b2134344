"""Finding kinds, severities and the Finding record every rule and driver failure produces."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

import attrs


class Severity(enum.StrEnum):
    """How urgent a finding is: a fault stops the camera being fit for purpose."""

    INFO = "info"
    WARNING = "warning"
    FAULT = "fault"


class FindingKind(enum.StrEnum):
    """Every kind of finding watchkeeper can raise; FINDING_KINDS says what each means."""

    # A device that cannot be used at all.
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    PROTOCOL_ERROR = "protocol_error"
    # A check that could not be completed for a device because of an error inside watchkeeper.
    CHECK_FAILED = "check_failed"
    # Image checks (R5).
    BLURRED = "blurred"
    TOO_DARK = "too_dark"
    OVEREXPOSED = "overexposed"
    COLOUR_CAST = "colour_cast"
    NOISY = "noisy"
    NO_SIGNAL = "no_signal"
    FROZEN = "frozen"
    OCCLUDED = "occluded"
    MOVED = "moved"
    PLAYBACK_UNAVAILABLE = "playback_unavailable"
    # Clock (R7).
    CLOCK_OFFSET = "clock_offset"
    TIME_ZONE_MISMATCH = "time_zone_mismatch"
    # Recording and storage (R8).
    RECORDING_GAP = "recording_gap"
    SHORT_RETENTION = "short_retention"
    DISK_ERROR = "disk_error"
    DISK_FULL = "disk_full"
    RECORDING_FAILURE = "recording_failure"
    # Device events.
    VIDEO_LOSS = "video_loss"
    TAMPER = "tamper"
    # Monitoring room (R3).
    READER_OFFLINE = "reader_offline"
    READER_TAMPER = "reader_tamper"
    SECURE_CHANNEL_FAILED = "secure_channel_failed"
    REPEATED_DENIALS = "repeated_denials"
    DOOR_FORCED = "door_forced"
    DOOR_HELD_OPEN = "door_held_open"
    # The journal (R6).
    JOURNAL_TAMPERED = "journal_tampered"
    # Process clauses (R4, R5).
    MAINTENANCE_OVERDUE = "maintenance_overdue"
    INSPECTION_UNSIGNED = "inspection_unsigned"
    # the appliance's own evidence (R8: recordings kept with no loss include the store's backups)
    BACKUP_FAILED = "backup_failed"
    STORE_FAILED = "store_failed"
    HANDOVER_MISSING = "handover_missing"
    FAULT_ESCALATED = "fault_escalated"
    # Retrieval and deletion seen in a device's own log (R8, R9).
    UNAPPROVED_RETRIEVAL = "unapproved_retrieval"
    RECORDING_DELETED = "recording_deleted"
    # Supervision (R10).
    REVIEW_OVERDUE = "review_overdue"


@attrs.frozen
class KindInfo:
    """What a finding kind means: the clause it serves, its default severity and a description."""

    clause: str
    severity: Severity
    description: str


F, W = Severity.FAULT, Severity.WARNING

#: The table behind every finding kind; the report and the docs read it.
FINDING_KINDS: dict[FindingKind, KindInfo] = {
    FindingKind.UNREACHABLE: KindInfo("R5", F, "device does not answer in time"),
    FindingKind.AUTH_FAILED: KindInfo("R5", F, "device rejects the configured credentials"),
    FindingKind.PROTOCOL_ERROR: KindInfo("R5", F, "device reply is malformed or hostile"),
    FindingKind.CHECK_FAILED: KindInfo("R5", F, "the device could not be checked: an error inside watchkeeper"),
    FindingKind.BLURRED: KindInfo("R5", F, "image is out of focus"),
    FindingKind.TOO_DARK: KindInfo("R5", F, "image is too dark"),
    FindingKind.OVEREXPOSED: KindInfo("R5", F, "image is overexposed"),
    FindingKind.COLOUR_CAST: KindInfo("R5", W, "image has a colour cast"),
    FindingKind.NOISY: KindInfo("R5", W, "image is noisy"),
    FindingKind.NO_SIGNAL: KindInfo("R5", F, "image is black: no video signal"),
    FindingKind.FROZEN: KindInfo("R5", F, "image does not change: the stream hangs"),
    FindingKind.OCCLUDED: KindInfo("R5", F, "view is blocked"),
    FindingKind.MOVED: KindInfo("R5", F, "camera points elsewhere than at commissioning"),
    FindingKind.PLAYBACK_UNAVAILABLE: KindInfo("R5", F, "recorded footage cannot be played back for the check"),
    FindingKind.CLOCK_OFFSET: KindInfo("R7", F, "device clock is off standard time"),
    FindingKind.TIME_ZONE_MISMATCH: KindInfo("R7", F, "device time zone differs from the site's"),
    FindingKind.RECORDING_GAP: KindInfo("R8", F, "recording is missing for a period"),
    FindingKind.SHORT_RETENTION: KindInfo("R8", F, "oldest recording is newer than required"),
    FindingKind.DISK_ERROR: KindInfo("R8", F, "recorder disk reports an error"),
    FindingKind.DISK_FULL: KindInfo("R8", W, "recorder disk is full"),
    FindingKind.RECORDING_FAILURE: KindInfo("R8", F, "device reports recording failed"),
    FindingKind.VIDEO_LOSS: KindInfo("R5", F, "device reports video loss"),
    FindingKind.TAMPER: KindInfo("R5", F, "device reports tampering"),
    FindingKind.READER_OFFLINE: KindInfo("R3", F, "door reader is offline"),
    FindingKind.READER_TAMPER: KindInfo("R3", F, "door reader reports tamper"),
    FindingKind.SECURE_CHANNEL_FAILED: KindInfo("R3", F, "reader secure channel cannot be set up"),
    FindingKind.REPEATED_DENIALS: KindInfo("R3", W, "repeated refused entries at a door"),
    FindingKind.DOOR_FORCED: KindInfo("R3", F, "door opened without a grant"),
    FindingKind.DOOR_HELD_OPEN: KindInfo("R3", W, "door held open too long"),
    FindingKind.JOURNAL_TAMPERED: KindInfo("R6", F, "journal history was deleted, rewritten or begun again"),
    FindingKind.MAINTENANCE_OVERDUE: KindInfo("R4", W, "maintenance task is overdue"),
    FindingKind.INSPECTION_UNSIGNED: KindInfo("R5", F, "shift has no signed inspection"),
    FindingKind.BACKUP_FAILED: KindInfo("R8", F, "the nightly backup of the store could not be taken"),
    FindingKind.STORE_FAILED: KindInfo("R6", F, "the store took no writes (disk full, read-only, corrupt): evidence is not being kept"),
    FindingKind.HANDOVER_MISSING: KindInfo("R5", W, "shift change without a handover signed by both operators"),
    FindingKind.FAULT_ESCALATED: KindInfo("R5", W, "fault left open too long: escalated to the supervisors"),
    FindingKind.UNAPPROVED_RETRIEVAL: KindInfo("R9", F, "footage played back, exported or downloaded without an approved request"),
    FindingKind.RECORDING_DELETED: KindInfo("R8", F, "recordings deleted on the device"),
    FindingKind.REVIEW_OVERDUE: KindInfo("R10", W, "no supervisor's review within the review interval"),
}
del F, W


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@attrs.frozen
class Finding:
    """One observation that a clause is not being kept, with the measurement behind it."""

    kind: FindingKind = attrs.field(converter=FindingKind)
    subject: str
    reason: str
    severity: Severity = attrs.field(converter=Severity)
    channel: int | None = None
    measured: float | str | None = None
    threshold: float | str | None = None
    observed_at: datetime = attrs.field(factory=_utc_now)
    details: dict[str, Any] = attrs.field(factory=dict)

    @severity.default
    def _default_severity(self) -> Severity:
        return FINDING_KINDS[self.kind].severity

    @property
    def clause(self) -> str:
        return FINDING_KINDS[self.kind].clause

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["kind"] = str(self.kind)
        data["severity"] = str(self.severity)
        data["observed_at"] = self.observed_at.isoformat()
        data["clause"] = self.clause
        return data

"""Finding kinds, severities and the Finding record every rule and driver failure produces."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

import attrs

from watchkeeper.core.i18n import N_, Text, localize


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
    FindingKind.UNREACHABLE: KindInfo("R5", F, N_("device does not answer in time")),
    FindingKind.AUTH_FAILED: KindInfo("R5", F, N_("device rejects the configured credentials")),
    FindingKind.PROTOCOL_ERROR: KindInfo("R5", F, N_("device reply is malformed or hostile")),
    FindingKind.CHECK_FAILED: KindInfo("R5", F, N_("the device could not be checked: an error inside watchkeeper")),
    FindingKind.BLURRED: KindInfo("R5", F, N_("image is out of focus")),
    FindingKind.TOO_DARK: KindInfo("R5", F, N_("image is too dark")),
    FindingKind.OVEREXPOSED: KindInfo("R5", F, N_("image is overexposed")),
    FindingKind.COLOUR_CAST: KindInfo("R5", W, N_("image has a colour cast")),
    FindingKind.NOISY: KindInfo("R5", W, N_("image is noisy")),
    FindingKind.NO_SIGNAL: KindInfo("R5", F, N_("image is black: no video signal")),
    FindingKind.FROZEN: KindInfo("R5", F, N_("image does not change: the stream hangs")),
    FindingKind.OCCLUDED: KindInfo("R5", F, N_("view is blocked")),
    FindingKind.MOVED: KindInfo("R5", F, N_("camera points elsewhere than at commissioning")),
    FindingKind.PLAYBACK_UNAVAILABLE: KindInfo("R5", F, N_("recorded footage cannot be played back for the check")),
    FindingKind.CLOCK_OFFSET: KindInfo("R7", F, N_("device clock is off standard time")),
    FindingKind.TIME_ZONE_MISMATCH: KindInfo("R7", F, N_("device time zone differs from the site's")),
    FindingKind.RECORDING_GAP: KindInfo("R8", F, N_("recording is missing for a period")),
    FindingKind.SHORT_RETENTION: KindInfo("R8", F, N_("oldest recording is newer than required")),
    FindingKind.DISK_ERROR: KindInfo("R8", F, N_("recorder disk reports an error")),
    FindingKind.DISK_FULL: KindInfo("R8", W, N_("recorder disk is full")),
    FindingKind.RECORDING_FAILURE: KindInfo("R8", F, N_("device reports recording failed")),
    FindingKind.VIDEO_LOSS: KindInfo("R5", F, N_("device reports video loss")),
    FindingKind.TAMPER: KindInfo("R5", F, N_("device reports tampering")),
    FindingKind.READER_OFFLINE: KindInfo("R3", F, N_("door reader is offline")),
    FindingKind.READER_TAMPER: KindInfo("R3", F, N_("door reader reports tamper")),
    FindingKind.SECURE_CHANNEL_FAILED: KindInfo("R3", F, N_("reader secure channel cannot be set up")),
    FindingKind.REPEATED_DENIALS: KindInfo("R3", W, N_("repeated refused entries at a door")),
    FindingKind.DOOR_FORCED: KindInfo("R3", F, N_("door opened without a grant")),
    FindingKind.DOOR_HELD_OPEN: KindInfo("R3", W, N_("door held open too long")),
    FindingKind.JOURNAL_TAMPERED: KindInfo("R6", F, N_("journal history was deleted, rewritten or begun again")),
    FindingKind.MAINTENANCE_OVERDUE: KindInfo("R4", W, N_("maintenance task is overdue")),
    FindingKind.INSPECTION_UNSIGNED: KindInfo("R5", F, N_("shift has no signed inspection")),
    FindingKind.BACKUP_FAILED: KindInfo("R8", F, N_("the nightly backup of the store could not be taken")),
    FindingKind.STORE_FAILED: KindInfo("R6", F, N_("the store took no writes (disk full, read-only, corrupt): evidence is not being kept")),
    FindingKind.HANDOVER_MISSING: KindInfo("R5", W, N_("shift change without a handover signed by both operators")),
    FindingKind.FAULT_ESCALATED: KindInfo("R5", W, N_("fault left open too long: escalated to the supervisors")),
    FindingKind.UNAPPROVED_RETRIEVAL: KindInfo("R9", F, N_("footage played back, exported or downloaded without an approved request")),
    FindingKind.RECORDING_DELETED: KindInfo("R8", F, N_("recordings deleted on the device")),
    FindingKind.REVIEW_OVERDUE: KindInfo("R10", W, N_("no supervisor's review within the review interval")),
}
del F, W


#: What a person reads for each kind (the stored identifier stays the FindingKind value).
KIND_TITLES: dict[FindingKind, Text] = {
    FindingKind.UNREACHABLE: N_("Device unreachable"),
    FindingKind.AUTH_FAILED: N_("Login refused"),
    FindingKind.PROTOCOL_ERROR: N_("Protocol error"),
    FindingKind.CHECK_FAILED: N_("Check failed"),
    FindingKind.BLURRED: N_("Blurred image"),
    FindingKind.TOO_DARK: N_("Image too dark"),
    FindingKind.OVEREXPOSED: N_("Image overexposed"),
    FindingKind.COLOUR_CAST: N_("Colour cast"),
    FindingKind.NOISY: N_("Noisy image"),
    FindingKind.NO_SIGNAL: N_("No video signal"),
    FindingKind.FROZEN: N_("Frozen image"),
    FindingKind.OCCLUDED: N_("View blocked"),
    FindingKind.MOVED: N_("Camera moved"),
    FindingKind.PLAYBACK_UNAVAILABLE: N_("Playback unavailable"),
    FindingKind.CLOCK_OFFSET: N_("Clock off standard time"),
    FindingKind.TIME_ZONE_MISMATCH: N_("Wrong time zone"),
    FindingKind.RECORDING_GAP: N_("Recording gap"),
    FindingKind.SHORT_RETENTION: N_("Retention too short"),
    FindingKind.DISK_ERROR: N_("Disk error"),
    FindingKind.DISK_FULL: N_("Disk full"),
    FindingKind.RECORDING_FAILURE: N_("Recording failed"),
    FindingKind.VIDEO_LOSS: N_("Video loss"),
    FindingKind.TAMPER: N_("Camera tampered"),
    FindingKind.READER_OFFLINE: N_("Reader offline"),
    FindingKind.READER_TAMPER: N_("Reader tampered"),
    FindingKind.SECURE_CHANNEL_FAILED: N_("Reader secure channel failed"),
    FindingKind.REPEATED_DENIALS: N_("Repeated refused entries"),
    FindingKind.DOOR_FORCED: N_("Door forced"),
    FindingKind.DOOR_HELD_OPEN: N_("Door held open"),
    FindingKind.JOURNAL_TAMPERED: N_("Journal tampered"),
    FindingKind.MAINTENANCE_OVERDUE: N_("Room care overdue"),
    FindingKind.INSPECTION_UNSIGNED: N_("Playback check not signed"),
    FindingKind.BACKUP_FAILED: N_("Backup failed"),
    FindingKind.STORE_FAILED: N_("Store failed"),
    FindingKind.HANDOVER_MISSING: N_("Handover missing"),
    FindingKind.FAULT_ESCALATED: N_("Fault escalated"),
    FindingKind.UNAPPROVED_RETRIEVAL: N_("Retrieval without approval"),
    FindingKind.RECORDING_DELETED: N_("Recordings deleted"),
    FindingKind.REVIEW_OVERDUE: N_("Review overdue"),
}
#: What a person reads for each severity.
SEVERITY_NAMES: dict[Severity, Text] = {
    Severity.INFO: N_("info"), Severity.WARNING: N_("warning"), Severity.FAULT: N_("fault"),
}


def kind_title(kind: str) -> str:
    """A finding kind's name in the current language (a kind from an unknown plugin: its identifier)."""
    try:
        return localize(KIND_TITLES[FindingKind(kind)])
    except ValueError:
        return str(kind)


def kind_in_text(kind: str) -> str:
    """A finding kind named inside a sentence: its identifier in English (what the findings table, the
    JSON and scripts carry), its translated title in a language the catalogue has."""
    try:
        title = KIND_TITLES[FindingKind(kind)]
    except ValueError:
        return str(kind)
    shown = localize(title)
    return shown if shown != str(title) else str(kind)


def severity_name(severity: str) -> str:
    """A severity's name in the current language."""
    try:
        return localize(SEVERITY_NAMES[Severity(severity)])
    except ValueError:
        return str(severity)


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
        """The finding as JSON (a check's journal entry, a worker's reply): its reason in English and,
        when it was written with `N_`, as `reason_msg` (msgid + params) for readers of other languages."""
        data = attrs.asdict(self)
        data["kind"] = str(self.kind)
        data["severity"] = str(self.severity)
        data["observed_at"] = self.observed_at.isoformat()
        data["clause"] = self.clause
        if isinstance(self.reason, Text):
            data["reason"] = str(self.reason)
            data["reason_msg"] = self.reason.to_json()
        return data

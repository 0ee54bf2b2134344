"""A journal body as one line a person reads: its keys and their enum values through one table of labels.

A journal body keeps its English identifiers (keys such as `event`, `decision`, `credential_kind`
and values such as `entry`, `approved`, `card`): scripts and `journal show --json` read them and the
HMAC chain covers them as written. What a person reads — the printed registers, `journal show`, the
xlsx exports' readers — goes through BODY_KEYS here in the reader's language. A reason kept with its
msgid (`reason` next to `reason_msg`, as findings keep theirs, docs/glossary.md) is shown through
`stored_text`; an entry written before it carried one shows its reason as stored (through the
catalogue). A key this table does not know is shown as written, so a plugin's own body still reads.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from watchkeeper.core.findings import kind_title, severity_name
from watchkeeper.core.i18n import N_, Text, _, localize, stored_text

#: The suffix of the key that keeps a human text's msgid and params next to it (`reason` → `reason_msg`).
MESSAGE_SUFFIX = "_msg"


@attrs.frozen
class Key:
    """How one body key reads: its label (a msgid with a `journal body|` context) and how its value does."""

    label: Text
    #: "text" (as stored, a known enum value through `values`), "message" (a human text: its msgid
    #: and params from the `_msg` key next to it, else through the catalogue), "finding kind",
    #: "severity", "findings" (a list of findings), "journal kinds" (counts by journal kind), "by name"
    #: (a mapping of device or camera ids to a value, read through `values` when it is a word),
    #: "omitted" (too long for a line: a config snapshot, read with `journal show --json`; its sha256
    #: is shown next to it) or "bool" (yes or no).
    kind: str = "text"
    values: dict[str, Text] = attrs.field(factory=dict)


#: The journal's kinds as a person reads them (the stored kind stays the identifier).
JOURNAL_KIND_LABELS: dict[str, Text] = {
    "operation": N_("journal kind|operation"), "maintenance": N_("journal kind|maintenance"),
    "inspection": N_("journal kind|inspection"), "retrieval": N_("journal kind|retrieval"),
    "access": N_("journal kind|access"), "clock": N_("journal kind|clock"),
    "retention": N_("journal kind|retention"), "config": N_("journal kind|config")}
_DECISIONS = {"approved": N_("journal value|approved"), "rejected": N_("journal value|rejected"),
              "pending": N_("journal value|pending"), "revoked": N_("journal value|revoked"),
              "checked_out": N_("journal value|checked out"), "exported": N_("journal value|exported")}
_CHECKS = {"inspection": N_("journal value|playback check"), "inspection_signed": N_("journal value|playback check signed"),
           "clock": N_("journal value|clock check"), "retention": N_("journal value|retention check"),
           "maintenance": N_("journal value|room care check"), "device_audit": N_("journal value|device log audit")}
_REFUSED = {"approve own registration": N_("journal value|approving one's own registration"),
            "countersign own tick": N_("journal value|countersigning one's own room care"),
            "view": N_("journal value|viewing footage"), "export": N_("journal value|exporting footage"),
            "approve own request": N_("journal value|approving one's own retrieval request"),
            "decide": N_("journal value|deciding a retrieval request"),
            "delete under hold": N_("journal value|deleting an export under hold"),
            "csrf": N_("journal value|a form without its security token")}
_REGISTERS = {"visitors": N_("Visitor register"), "retrievals": N_("Footage retrieval approval form"),
              "inspections": N_("Playback inspection record"), "handovers": N_("Shift handover record"),
              "journal": N_("Duty journal"), "room-care": N_("Room care record"), "access": N_("Access log"),
              "findings": N_("Findings")}

#: How the person of an entry proved who they were (evidence/journal.py PROVEN; the control socket
#: passes on the proof the command gave).
_PROOFS = {"password": N_("journal value|password"), "os_user": N_("journal value|OS account"),
           "trust_actor": N_("journal value|taken on trust (policies.trust_actor)"),
           "session": N_("journal value|dashboard login"), "api_token": N_("journal value|API token"),
           "backup_passphrase": N_("journal value|the backup's passphrase (restore)")}
_PROOFS.update({f"{name} via control socket": N_("journal value|{proof} via the control socket", proof=text)
                for name, text in list(_PROOFS.items())})

#: Every body key the framework writes that a person reads, with its label and its values' labels.
BODY_KEYS: dict[str, Key] = {
    # the journal itself, the appliance, the config
    "event": Key(N_("journal body|event"), values={
        "journal_started": N_("journal value|journal started"), "journal_upgraded": N_("journal value|journal upgraded"),
        "start": N_("journal value|appliance started"), "stop": N_("journal value|appliance stopped"),
        "entry": N_("journal value|entry"), "exit": N_("journal value|exit"),
        "manual_open": N_("journal value|opened by hand"), "forced": N_("journal value|door forced")}),
    "key": Key(N_("journal body|key"), values={"new": N_("journal value|new"),
                                                "existing": N_("journal value|existing")}),
    "key_id": Key(N_("journal body|key id")),
    "config": Key(N_("journal body|config snapshot"), "omitted"),
    "scope_changes": Key(N_("journal body|scope changes")),
    "before": Key(N_("journal body|before")),
    "after": Key(N_("journal body|after")),
    "pid": Key(N_("journal body|process")),
    "previous_run_stopped_cleanly": Key(N_("journal body|previous run stopped cleanly"), "bool"),
    "reader": Key(N_("journal body|reader"), values={"online": N_("journal value|online"),
                                                      "offline": N_("journal value|offline")}),
    "offline_seconds": Key(N_("journal body|offline (s)")),
    "starting": Key(N_("journal body|at start"), "bool"),
    "watching": Key(N_("journal body|watching"), "bool"),
    # checks (runner.py) and their summaries
    "check": Key(N_("journal body|check"), values=_CHECKS),
    "clause": Key(N_("journal body|clause")),
    "findings": Key(N_("journal body|findings"), "findings"),
    "duration_seconds": Key(N_("journal body|duration (s)")),
    "failed": Key(N_("journal body|failed"), "message"),
    "cameras": Key(N_("journal body|cameras")),
    "devices": Key(N_("journal body|devices")),
    "ok": Key(N_("journal body|normal")),
    "warning": Key(N_("journal body|warning"), "message"),
    "warnings": Key(N_("journal body|warnings")),
    "fault": Key(N_("journal body|faults")),
    "faults": Key(N_("journal body|faults")),
    "tasks": Key(N_("journal body|tasks")),
    "offsets": Key(N_("journal body|clock offsets (s)"), "by name"),
    "reference": Key(N_("journal body|time reference")),
    "servers": Key(N_("journal body|time servers"), "by name", {"ok": N_("journal value|answered")}),
    "run": Key(N_("journal body|playback check no.")),
    "host_offset_seconds": Key(N_("journal body|appliance's own offset (s)")),
    "gaps": Key(N_("journal body|recording gaps")),
    "unmatched": Key(N_("journal body|retrievals without a request")),
    "intents_recovered": Key(N_("journal body|retrievals recovered from the task broker")),
    "baseline": Key(N_("journal body|reference image"), values={"captured": N_("journal value|captured")}),
    "bytes": Key(N_("journal body|bytes")),
    "correcting": Key(N_("journal body|correcting"), "bool"),
    "corrected": Key(N_("journal body|corrected"), "bool"),
    "offset_seconds": Key(N_("journal body|offset (s)")),
    # playback checks, handovers, room care, duty
    "signed": Key(N_("journal body|signed run")),
    "shift": Key(N_("journal body|shift")),
    "fault_notes": Key(N_("journal body|fault notes"), "by name"),
    "action": Key(N_("journal body|action taken")),
    "reported_to": Key(N_("journal body|reported to")),
    "note": Key(N_("journal body|note")),
    "handover": Key(N_("journal body|handover")),
    "handover_accepted": Key(N_("journal body|handover accepted")),
    "to": Key(N_("journal body|to")),
    "open_findings": Key(N_("journal body|open findings")),
    "roster": Key(N_("journal body|on duty")),
    "done": Key(N_("journal body|done")),
    "tick": Key(N_("journal body|room care no.")),
    "countersigned": Key(N_("journal body|countersigned room care no.")),
    "done_by": Key(N_("journal body|done by")),
    "daily_summary": Key(N_("journal body|daily summary")),
    "day": Key(N_("journal body|day")),
    "entries": Key(N_("journal body|entries"), "journal kinds"),
    "head": Key(N_("journal body|journal head")),
    "seq": Key(N_("journal body|entry no.")),
    "hash": Key(N_("journal body|hash")),
    "text": Key(N_("journal body|text")),
    # access (doors, visitors, people)
    "actuated": Key(N_("journal body|door actuated"), "bool"),
    "allowed": Key(N_("journal body|allowed"), "bool"),
    "credential": Key(N_("journal body|credential")),
    "credential_kind": Key(N_("journal body|credential kind"), values={"card": N_("journal value|card"),
                                                                       "pin": N_("journal value|PIN")}),
    "person": Key(N_("journal body|person")),
    "visitor": Key(N_("journal body|visitor"), values=_DECISIONS),
    "reason": Key(N_("journal body|reason"), "message"),
    "visitor_registered": Key(N_("journal body|visitor registered")),
    "badge": Key(N_("journal body|badge")),
    "host": Key(N_("journal body|host")),
    "name": Key(N_("journal body|name")),
    "organisation": Key(N_("journal body|organisation")),
    "pin": Key(N_("journal body|PIN"), "bool"),
    "purpose": Key(N_("journal body|purpose")),
    "valid_from": Key(N_("journal body|allowed from")),
    "valid_to": Key(N_("journal body|allowed until")),
    "person_added": Key(N_("journal body|person added")),
    "person_revoked": Key(N_("journal body|person revoked")),
    "training_recorded": Key(N_("journal body|training recorded")),
    "roles": Key(N_("journal body|roles")),
    # retrievals
    "requested": Key(N_("journal body|requested")),
    "decision": Key(N_("journal body|decision"), values=_DECISIONS),
    "exported": Key(N_("journal body|exported")),
    "export": Key(N_("journal body|export"), values=_REGISTERS),
    "viewed": Key(N_("journal body|viewed")),
    "downloaded": Key(N_("journal body|downloaded export")),
    "deleted": Key(N_("journal body|deleted export")),
    "camera": Key(N_("journal body|camera")),
    "case": Key(N_("journal body|case")),
    "from": Key(N_("journal body|from")),
    "size_bytes": Key(N_("journal body|size (bytes)")),
    "status": Key(N_("journal body|status"), values={**_DECISIONS, "in progress": N_("journal value|in progress")}),
    "exists": Key(N_("journal body|file already there")),
    "holds": Key(N_("journal body|holds")),
    "method": Key(N_("journal body|method")),
    # findings and refusals
    "finding": Key(N_("journal body|finding")),
    "act": Key(N_("journal body|act"), values={
        "acknowledged": N_("journal value|acknowledged"), "assigned": N_("journal value|assigned"),
        "note": N_("journal value|fix note"), "closed": N_("journal value|closed")}),
    "kind": Key(N_("journal body|kind"), "finding kind"),
    "severity": Key(N_("journal body|severity"), "severity"),
    "assignee": Key(N_("journal body|owner")),
    # who wrote an entry, when it is nobody of the site's people
    "actor": Key(N_("journal body|actor"), values={"unknown": N_("journal value|unknown person"),
                                                  "?": N_("journal value|unknown person")}),
    "refused": Key(N_("journal body|refused"), values=_REFUSED),
    "plugin": Key(N_("journal body|plugin")),
    # scope, reviews, reports, forms, backups, logins
    "scope_approved": Key(N_("journal body|scope approved")),
    "scope": Key(N_("journal body|scope")),
    "location": Key(N_("journal body|location")),
    "zone": Key(N_("journal body|zone")),
    "version": Key(N_("journal body|version")),
    "review": Key(N_("journal body|review")),
    "actions": Key(N_("journal body|actions")),
    "comments": Key(N_("journal body|comments")),
    "files": Key(N_("journal body|files")),
    "file": Key(N_("journal body|file")),
    "journal_head": Key(N_("journal body|journal head")),
    "period": Key(N_("journal body|period")),
    "generated": Key(N_("journal body|report entry")),
    "form": Key(N_("journal body|form"), values=_REGISTERS),
    "blank": Key(N_("journal body|blank"), "bool"),
    "format": Key(N_("journal body|format")),
    "rows": Key(N_("journal body|rows")),
    "backup": Key(N_("journal body|backup")),
    "manifest_sha256": Key(N_("journal body|manifest SHA-256")),
    "login": Key(N_("journal body|login"), values={"web": N_("journal value|dashboard")}),
    "logout": Key(N_("journal body|logout"), values={"web": N_("journal value|dashboard")}),
    "via": Key(N_("journal body|via"), values={"web": N_("journal value|dashboard"),
                                               "cli": N_("journal value|command line")}),
    "login_failed": Key(N_("journal body|login failed"), values={
        "wrong_password": N_("journal value|wrong password"), "no_proof": N_("journal value|no proof of identity"),
        "locked": N_("journal value|login locked"), "unknown": N_("journal value|not a current person")}),
    "login_locked": Key(N_("journal body|login locked")),
    "login_unlocked": Key(N_("journal body|login unlocked")),
    "password_set": Key(N_("journal body|password set")),
    "failures": Key(N_("journal body|failed attempts")),
    "minutes": Key(N_("journal body|minutes")),
    "address": Key(N_("journal body|address")),
    "proof": Key(N_("journal body|proof of identity"), values=_PROOFS),
    "proof_uid": Key(N_("journal body|OS user id of the asking process")),
    "command": Key(N_("journal body|command")),
    "os_user": Key(N_("journal body|OS account")),
    "api_token_issued": Key(N_("journal body|API token issued")),
    "api_tokens_revoked": Key(N_("journal body|API tokens revoked")),
    "label": Key(N_("journal body|label")),
}


#: How a key no table row names is read: as written.
_PLAIN = Key(Text(""))


def label(msgid: str) -> str:
    """A `context|text` msgid in the current language, its context dropped (English shows the text)."""
    return localize(msgid).rpartition("|")[2]


def key_label(key: str) -> str:
    known = BODY_KEYS.get(key)
    return label(known.label) if known is not None else key


def value_text(key: str, value: Any, message: Any = None) -> str:
    """One body value as a person reads it; `message` is the msgid+params kept next to a human text."""
    known = BODY_KEYS.get(key, _PLAIN)
    if value is None:
        return ""
    if message is not None or known.kind == "message":
        return stored_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), message)
    if known.kind == "omitted":
        return _("kept in full in the journal (journal show --json)")
    if known.kind == "findings" and isinstance(value, list):
        return _(", ").join(finding_text(item) for item in value) if value else _("none")
    if known.kind == "journal kinds" and isinstance(value, dict):
        return _(", ").join(f"{label(JOURNAL_KIND_LABELS[k]) if k in JOURNAL_KIND_LABELS else k} {v}"
                            for k, v in value.items())
    if known.kind == "by name" and isinstance(value, dict):
        return _(", ").join(f"{name}{_(': ')}{_by_name_item(key, item)}" for name, item in value.items())
    if known.kind == "bool" and isinstance(value, (bool, int)):
        return _("yes") if value else _("no")
    if known.kind == "finding kind" and isinstance(value, str):
        return kind_title(value)
    if known.kind == "severity" and isinstance(value, str):
        return severity_name(value)
    if isinstance(value, str):
        return label(known.values[value]) if value in known.values else value
    if isinstance(value, dict):
        return _("({text})").format(text=describe(value)) if value else ""
    if isinstance(value, list):
        return _(", ").join(value_text(key, item) for item in value)
    return str(value)


def _by_name_item(key: str, item: Any) -> str:
    """One name's value: a word through the key's values, a reason (with its English detail, kept for the
    journal's evidence, left out) in the reader's language, else as any value."""
    if isinstance(item, dict) and "reason" in item:
        return value_text("reason", item["reason"], item.get("reason" + MESSAGE_SUFFIX))
    return value_text(key if isinstance(item, str) else "", item)


def finding_text(item: Any) -> str:
    """A finding in a check's body: subject, kind and reason (in the reader's language if it kept its msgid)."""
    if not isinstance(item, dict):
        return value_text("", item)
    where = str(item.get("subject") or "") + (f"/{item['channel']}" if item.get("channel") is not None else "")
    if item.get("id") is not None:
        where = f"#{item['id']} {where}"
    reason = value_text("reason", item.get("reason") or "", item.get("reason" + MESSAGE_SUFFIX))
    shown = f"{where}{_(': ')}{kind_title(str(item.get('kind')))}"
    return shown + (_("({text})").format(text=reason) if reason else "")


def describe(body: Any) -> str:
    """A journal body (or any JSON text of the store) as one line: `label: value; ...` in the reader's language."""
    try:
        data = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return str(body)
    if isinstance(data, dict) and set(data) == {"text"}:
        return str(data["text"])
    if isinstance(data, dict):
        parts = []
        for key, value in data.items():
            if key.endswith(MESSAGE_SUFFIX) and key[:-len(MESSAGE_SUFFIX)] in data:
                continue  # shown with the text it belongs to
            if value is None or value == "" or value == [] and BODY_KEYS.get(key, _PLAIN).kind != "findings":
                continue
            parts.append(f"{key_label(key)}{_(': ')}{value_text(key, value, data.get(key + MESSAGE_SUFFIX))}")
        return _("; ").join(parts)
    if isinstance(data, list):
        return _("; ").join(finding_text(item) if isinstance(item, dict) and "kind" in item else value_text("", item)
                            for item in data)
    return "" if data is None else str(data)

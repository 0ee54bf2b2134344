"""The push protocol both ends share: the site key, the request's shape, and how a pushed head is judged.

A push is `POST /api/v1/push` with `Authorization: Bearer <site key>` and `X-Watchkeeper-Site: <id>`
over TLS, its body `{"items": [{"seq", "kind", "created_at", "digest", "body"}, ...]}` in outbox
order. The estate answers `{"acked": N}`, the highest seq it holds with none missing before it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import attrs

from watchkeeper.core.i18n import _

PUSH_PATH = "/api/v1/push"
SITE_HEADER = "X-Watchkeeper-Site"
KEY_PREFIX = "wke1_"
#: Items per push, and the largest body the estate reads: a site far behind catches up in batches.
BATCH_ITEMS = 100
MAX_BODY_BYTES = 8 * 1024 * 1024
#: What an outbox item may be.
KINDS = ("head", "verdicts", "findings", "inspections", "reports")


def new_key() -> str:
    """A site key: 256 random bits, shown once at enrolment."""
    return KEY_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


def key_hash(key: str) -> str:
    """What the estate stores of a key. A key is 256 random bits, not a password: one SHA-256 is
    enough to make the stored value useless to someone who copies the estate's database."""
    return hashlib.sha256(b"watchkeeper estate site key\n" + key.encode("utf-8")).hexdigest()


def key_matches(key: str, stored: str) -> bool:
    return hmac.compare_digest(key_hash(key), stored)


def canonical(value: Any) -> str:
    """The one JSON text of a value both ends agree on (sorted keys, no spaces, UTF-8 as is)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(kind: str, body: Any) -> str:
    """An item's identity: the same kind and body give the same digest on both ends."""
    return text_digest(kind, canonical(body))


def text_digest(kind: str, text: str) -> str:
    """`digest` from the body's canonical text, made once and also stored: the canonical JSON of the
    list [kind, body] is "[", kind's, ",", body's and "]" (no spaces between)."""
    return hashlib.sha256(f"[{canonical(kind)},{text}]".encode("utf-8")).hexdigest()


@attrs.frozen
class Tip:
    seq: int
    hash: str


@attrs.frozen
class HeadCheck:
    """How a pushed head relates to the chain the estate already holds for the site."""

    status: str  # "first", "extends", "same", "rewritten", "truncated", "gap", "garbled", "key_changed"
    reason: str
    tip: Tip | None

    @property
    def ok(self) -> bool:
        return self.status in ("first", "extends", "same")


def check_head(tip: Tip | None, key_id: str | None, body: dict[str, Any]) -> HeadCheck:
    """Judge a pushed head against the estate's tip for the site.

    A head carries the chain's links since the previous head the site pushed (`links`: [seq,
    prev_hash, hash] in order). They must start right after the estate's tip and continue from its
    hash: a site whose journal was rewritten (even under its own key, with its anchor rewritten to
    match, so that its own `journal verify` passes) cannot push a head that extends the chain the
    estate accepted. The estate holds no journal key, so it checks links, not entries' HMACs.
    """
    try:
        seq, head_hash = int(body["seq"]), str(body["hash"])
        links = [(int(s), str(p), str(h)) for s, p, h in body.get("links", [])]
    except (KeyError, TypeError, ValueError):
        return HeadCheck("garbled", _("the head is not a JSON object of seq, hash and links"), tip)
    new_tip = Tip(seq, head_hash)
    if links and (links[-1][0], links[-1][2]) != (seq, head_hash):
        return HeadCheck("garbled", _("the links end at entry {last}, not at the head {seq}").format(
            last=links[-1][0], seq=seq), tip)
    for before, after in zip(links, links[1:]):
        if after[0] != before[0] + 1 or after[1] != before[2]:
            return HeadCheck("garbled", _("the pushed links break between entries {before} and {after}").format(
                before=before[0], after=after[0]), new_tip)
    if key_id is not None and body.get("key_id") not in (None, key_id):
        return HeadCheck("key_changed", _("the journal is now under key id {new}, not {old}: begun again under a"
                                          " new key").format(new=body.get("key_id"), old=key_id), new_tip)
    if tip is None:
        return HeadCheck("first", _("first head: entry {seq}").format(seq=seq), new_tip)
    if seq == tip.seq:
        if head_hash == tip.hash:
            return HeadCheck("same", _("entry {seq}, as before").format(seq=seq), tip)
        return HeadCheck("rewritten", _("entry {seq} differs from the one accepted before: the chain was"
                                        " rewritten").format(seq=seq), new_tip)
    if seq < tip.seq:
        return HeadCheck("truncated", _("the chain ends at entry {seq}, and the estate accepted entry {tip}: entries"
                                        " were deleted or the journal begun again").format(seq=seq, tip=tip.seq),
                         new_tip)
    if not links or links[0][0] != tip.seq + 1:
        return HeadCheck("gap", _("the links start at entry {first}, not after the accepted entry {tip}").format(
            first=links[0][0] if links else seq, tip=tip.seq), new_tip)
    if links[0][1] != tip.hash:
        return HeadCheck("rewritten", _("entry {next} does not follow the accepted entry {tip}: the chain up to it"
                                        " was rewritten").format(next=tip.seq + 1, tip=tip.seq), new_tip)
    return HeadCheck("extends", _("entries {first}..{seq} extend the accepted chain").format(
        first=tip.seq + 1, seq=seq), new_tip)

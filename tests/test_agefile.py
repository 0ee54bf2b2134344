"""The age v1 scrypt format backups seal with: the age testkit's vectors, and rage reading what we write."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyrage
import pytest

from watchkeeper.site.agefile import MAX_WORK_FACTOR, Problem, SealError, open_sealed, seal

KIT = Path(__file__).parent / "fixtures" / "age-testkit"
VECTORS = sorted(path for path in KIT.iterdir() if path.name.startswith("scrypt"))


def _vector(path: Path) -> tuple[dict[str, str], bytes]:
    head, body = path.read_bytes().split(b"\n\n", 1)
    return dict(line.split(": ", 1) for line in head.decode().splitlines()), body


@pytest.mark.parametrize("path", VECTORS, ids=[path.name for path in VECTORS])
def test_testkit_vector(path: Path) -> None:
    meta, body = _vector(path)
    if meta["expect"] == "success":
        assert hashlib.sha256(open_sealed(body, meta["passphrase"])).hexdigest() == meta["payload"]
        return
    with pytest.raises(SealError) as refused:
        open_sealed(body, meta["passphrase"])
    # "no match" is the stanza not opening under this passphrase (or an unknown stanza type); a
    # header failure is anything else, never reported as a wrong passphrase.
    if meta["expect"] == "header failure":
        assert refused.value.problem in (Problem.NOT_SEALED, Problem.TOO_COSTLY)
    else:
        assert meta["expect"] == "no match"
        assert refused.value.problem in (Problem.WRONG_PASSPHRASE, Problem.NOT_SEALED)


def test_vectors_are_all_here() -> None:
    assert len(VECTORS) == 25


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 64 * 1024 + 1, 3 * 64 * 1024])
def test_rage_opens_what_we_seal(size: int) -> None:
    plaintext = (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]
    assert pyrage.passphrase.decrypt(seal(plaintext, "pässword", work_factor=10), "pässword") == plaintext


@pytest.mark.parametrize("size", [0, 2 * 64 * 1024])
def test_we_open_what_rage_seals(size: int) -> None:
    """What backups before this format held: rage's own seal, at the factor it timed."""
    plaintext = bytes(range(256)) * (size // 256)
    assert open_sealed(pyrage.passphrase.encrypt(plaintext, "pässword"), "pässword") == plaintext


def test_each_failure_says_what_happened() -> None:
    sealed = seal(b'{"journal_key": "00"}', "right", work_factor=10)
    with pytest.raises(SealError) as wrong:
        open_sealed(sealed, "wrong")
    assert wrong.value.problem is Problem.WRONG_PASSPHRASE and wrong.value.work_factor == 10

    costly = sealed.replace(b" 10\n", f" {MAX_WORK_FACTOR + 1}\n".encode(), 1)
    with pytest.raises(SealError) as refused:
        open_sealed(costly, "right")
    assert refused.value.problem is Problem.TOO_COSTLY and refused.value.work_factor == MAX_WORK_FACTOR + 1

    mac_at = sealed.index(b"\n--- ") + 5
    for altered in (sealed[:mac_at] + bytes([sealed[mac_at] ^ 1]) + sealed[mac_at + 1:],  # the header's MAC
                    sealed[:-1] + bytes([sealed[-1] ^ 1]),  # the content
                    sealed[:-1]):  # truncated
        with pytest.raises(SealError) as changed:
            open_sealed(altered, "right")
        assert changed.value.problem in (Problem.ALTERED, Problem.NOT_SEALED)
        assert changed.value.problem is not Problem.WRONG_PASSPHRASE
    with pytest.raises(SealError) as other:
        open_sealed(b"SQLite format 3\x00" + bytes(100), "right")
    assert other.value.problem is Problem.NOT_SEALED

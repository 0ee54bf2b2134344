"""Passphrase-sealed files in the age v1 format (scrypt recipient), at a fixed, documented cost.

Backups seal the config and journal key in age's format so the `age`/`rage` tools can open them by
hand. rage (and pyrage, which wraps it) picks the scrypt work factor by timing scrypt on the machine
at hand and refuses, on opening, any file costing more than 16 times what it just measured: the same
backup opens on a quiet machine and is refused on a busy one, with the correct passphrase. Here the
work factor is a constant when sealing and a constant ceiling when opening, so whether a file opens
depends only on the file and the passphrase. The format is https://age-encryption.org/v1 (C2SP
age); the primitives are pyca/cryptography's. Old backups (sealed by rage at whatever factor it
measured) are the same format and open here too.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: scrypt's N = 2**18 (256 MiB, a few seconds on a small appliance): age's own default for a passphrase.
SEAL_WORK_FACTOR = 18
#: The most costly file this opens: 2**22 (4 GiB), the ceiling age's reference implementation uses.
#: Files rage sealed on a fast machine (it aims at one second there) stay well below it.
MAX_WORK_FACTOR = 22

VERSION_LINE = b"age-encryption.org/v1"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
CHUNK = 64 * 1024
TAG = 16
COLUMNS = 64


class Problem(enum.Enum):
    """Why a sealed file did not open; each says something different to the person restoring."""

    NOT_SEALED = "not_sealed"          # not an age v1 file with one scrypt stanza (damaged, or another kind)
    TOO_COSTLY = "too_costly"          # its work factor is above MAX_WORK_FACTOR: refused before computing
    NO_MEMORY = "no_memory"            # this machine could not give scrypt the memory the work factor needs
    WRONG_PASSPHRASE = "wrong_passphrase"  # the stanza does not authenticate under this passphrase
    ALTERED = "altered"                # the passphrase opened the key, but the header or content was changed


class SealError(Exception):
    """A sealed file that did not open: `problem` says why, `work_factor` what the file asks for."""

    def __init__(self, problem: Problem, detail: str = "", work_factor: int | None = None) -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail
        self.work_factor = work_factor


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    """Canonical unpadded base64 only: the format forbids any other spelling of the same bytes."""
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SealError(Problem.NOT_SEALED, "bad base64") from None
    if _b64(data) != text:
        raise SealError(Problem.NOT_SEALED, "non-canonical base64")
    return data


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def _scrypt(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    n = 1 << work_factor
    try:
        return hashlib.scrypt(passphrase.encode("utf-8"), salt=SCRYPT_LABEL + salt, n=n, r=8, p=1, dklen=32,
                              maxmem=128 * 8 * (n + 3) + (1 << 20))
    except (MemoryError, ValueError) as error:
        # OpenSSL says ValueError when it cannot allocate the table the work factor asks for.
        raise SealError(Problem.NO_MEMORY, str(error), work_factor) from None


def _stream(key: bytes, data: bytes, seal: bool) -> bytes:
    """age's STREAM: 64 KiB chunks, nonce = 11-byte counter and a last-chunk flag."""
    aead = ChaCha20Poly1305(key)
    size = CHUNK if seal else CHUNK + TAG
    pieces = [data[start:start + size] for start in range(0, len(data), size)] or [b""]
    out = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        nonce = index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        if seal:
            out.append(aead.encrypt(nonce, piece, None))
            continue
        if len(piece) < TAG or (last and index > 0 and len(piece) == TAG):
            raise SealError(Problem.ALTERED, "truncated or padded content")
        try:
            out.append(aead.decrypt(nonce, piece, None))
        except InvalidTag:
            raise SealError(Problem.ALTERED, f"content chunk {index} does not authenticate") from None
    return b"".join(out)


def seal(plaintext: bytes, passphrase: str, work_factor: int = SEAL_WORK_FACTOR) -> bytes:
    """`plaintext` sealed under `passphrase` as an age v1 file (binary, one scrypt stanza)."""
    file_key, salt, nonce = os.urandom(16), os.urandom(16), os.urandom(16)
    wrap = ChaCha20Poly1305(_scrypt(passphrase, salt, work_factor)).encrypt(b"\x00" * 12, file_key, None)
    body = _b64(wrap)
    lines = [body[start:start + COLUMNS] for start in range(0, len(body), COLUMNS)]
    if not lines or len(lines[-1]) == COLUMNS:
        lines.append(b"")  # a stanza body ends with a line shorter than 64 columns
    header = b"\n".join([VERSION_LINE, b"-> scrypt " + _b64(salt) + b" " + str(work_factor).encode(), *lines,
                         b"---"])
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    payload = _stream(_hkdf(file_key, nonce, b"payload"), plaintext, seal=True)
    return header + b" " + _b64(mac) + b"\n" + nonce + payload


def _header(data: bytes) -> tuple[bytes, bytes, int, bytes, bytes, bytes]:
    """(header up to ---, salt, work factor, wrapped key, mac, rest) of a one-scrypt-stanza age file."""
    lines: list[bytes] = []
    position = 0
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            raise SealError(Problem.NOT_SEALED, "the header does not end")
        line = data[position:end]
        if line.startswith(b"---"):
            covered, mac_line, rest = data[:position + 3], line, data[end + 1:]
            break
        lines.append(line)
        position = end + 1
    if not lines or lines[0] != VERSION_LINE:
        raise SealError(Problem.NOT_SEALED, "not an age v1 file")
    stanza = lines[1:]
    if not stanza or not stanza[0].startswith(b"-> ") or any(line.startswith(b"-> ") for line in stanza[1:]):
        raise SealError(Problem.NOT_SEALED, "not exactly one recipient stanza")
    arguments = stanza[0][3:].split(b" ")
    if arguments[0] != b"scrypt" or len(arguments) != 3:
        raise SealError(Problem.NOT_SEALED, "not sealed with a passphrase (scrypt)")
    salt, factor = _unb64(arguments[1]), arguments[2]
    if len(salt) != 16 or not factor.isdigit() or factor.startswith(b"0") or len(factor) > 2:
        raise SealError(Problem.NOT_SEALED, "malformed scrypt stanza")
    body_lines = stanza[1:]
    if not body_lines or any(len(line) != COLUMNS for line in body_lines[:-1]) or len(body_lines[-1]) >= COLUMNS:
        raise SealError(Problem.NOT_SEALED, "malformed stanza body")
    wrapped = _unb64(b"".join(body_lines))
    if len(wrapped) != 32 or len(mac_line) != 4 + 43 or mac_line[3:4] != b" ":
        raise SealError(Problem.NOT_SEALED, "malformed header")
    # The MAC covers everything up to and including "---", not the space after it.
    return covered, salt, int(factor), wrapped, _unb64(mac_line[4:]), rest


def open_sealed(data: bytes, passphrase: str, max_work_factor: int = MAX_WORK_FACTOR) -> bytes:
    """The plaintext of an age v1 scrypt file; SealError says precisely why not (no timing involved)."""
    covered, salt, work_factor, wrapped, mac, rest = _header(data)
    if not 1 <= work_factor <= max_work_factor:
        raise SealError(Problem.TOO_COSTLY, f"work factor {work_factor} above {max_work_factor}", work_factor)
    try:
        file_key = ChaCha20Poly1305(_scrypt(passphrase, salt, work_factor)).decrypt(b"\x00" * 12, wrapped, None)
    except InvalidTag:
        raise SealError(Problem.WRONG_PASSPHRASE, work_factor=work_factor) from None
    expected = hmac.new(_hkdf(file_key, b"", b"header"), covered, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise SealError(Problem.ALTERED, "the header's MAC does not match", work_factor)
    if len(rest) < 16:
        raise SealError(Problem.ALTERED, "the content is missing", work_factor)
    return _stream(_hkdf(file_key, rest[:16], b"payload"), rest[16:], seal=False)

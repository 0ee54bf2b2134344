"""SIP as GB/T 28181 uses it (RFC 3261 subset): messages, stream framing and HTTP Digest (RFC 2617, MD5)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

import attrs

#: One SIP message, headers and body together; GB/T 28181 bodies are small XML (a long
#: RecordInfo page is a few kilobytes), so anything bigger is refused before it is parsed.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_HEADERS = 64
#: RFC 3261 compact header forms.
COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "l": "content-length", "c": "content-type",
           "m": "contact", "k": "supported", "s": "subject", "e": "content-encoding"}
STATUS_REASONS = {100: "Trying", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                  404: "Not Found", 408: "Request Timeout", 413: "Request Entity Too Large",
                  481: "Call/Transaction Does Not Exist", 488: "Not Acceptable Here", 500: "Server Internal Error",
                  503: "Service Unavailable"}
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3}) ?(.*)$")
_REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+) SIP/2\.0$")
_DIGEST_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class SipError(ValueError):
    """A message that is not SIP, is too big, or lacks what the exchange needs."""


@attrs.define
class SipMessage:
    """A request (method and URI) or a response (status), with ordered headers and a raw body."""

    start: str
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        match = _REQUEST_LINE.match(self.start)
        return match.group(1) if match else ""

    @property
    def uri(self) -> str:
        match = _REQUEST_LINE.match(self.start)
        return match.group(2) if match else ""

    @property
    def status(self) -> int:
        match = _STATUS_LINE.match(self.start)
        return int(match.group(1)) if match else 0

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if COMPACT.get(key.lower(), key.lower()) == wanted:
                return value
        return None

    def all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if COMPACT.get(key.lower(), key.lower()) == wanted]

    def set(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if COMPACT.get(k.lower(), k.lower()) != name.lower()]
        self.headers.append((name, value))

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.header("CSeq") or "").partition(" ")
        return (int(number) if number.isdigit() else 0), method.strip()

    def encode(self) -> bytes:
        lines = [self.start] + [f"{k}: {v}" for k, v in self.headers if k.lower() not in ("content-length", "l")]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def parse(data: bytes) -> SipMessage:
    """One SIP message from a datagram or a framed stream chunk; SipError for anything else."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipError(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError("SIP headers are not UTF-8") from None
    lines = [line for line in re.split(r"\r?\n", text)]
    if not lines or not (_STATUS_LINE.match(lines[0]) or _REQUEST_LINE.match(lines[0])):
        raise SipError("not a SIP/2.0 request or status line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation
            key, value = headers[-1]
            headers[-1] = (key, value + " " + line.strip())
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            raise SipError(f"malformed header line {line[:40]!r}")
        headers.append((key.strip(), value.strip()))
        if len(headers) > MAX_HEADERS:
            raise SipError(f"more than {MAX_HEADERS} headers")
    message = SipMessage(lines[0], headers, body)
    length = message.header("Content-Length")
    if length is not None:
        if not length.isdigit() or int(length) > len(body):
            raise SipError(f"Content-Length {length!r} does not match a body of {len(body)} bytes")
        message.body = body[: int(length)]
    return message


def frames(buffer: bytearray) -> Iterable[bytes]:
    """Cut whole messages off the front of a TCP stream buffer (RFC 3261 §18.3: Content-Length frames)."""
    while True:
        while buffer[:2] == b"\r\n":  # keep-alive CRLFs between messages
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_MESSAGE_BYTES:
                raise SipError("headers longer than the message limit")
            return
        match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)\s*$", bytes(buffer[:end]))
        if match is None:
            raise SipError("a stream message without Content-Length")
        total = end + 4 + int(match.group(1))
        if total > MAX_MESSAGE_BYTES:
            raise SipError(f"message of {total} bytes is over {MAX_MESSAGE_BYTES}")
        if len(buffer) < total:
            return
        yield bytes(buffer[:total])
        del buffer[:total]


def tag() -> str:
    return secrets.token_hex(6)


def branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def response_to(request: SipMessage, status: int, to_tag: str = "", extra: Iterable[tuple[str, str]] = (),
                body: bytes = b"") -> SipMessage:
    """A response that copies what RFC 3261 §8.2.6 says it must: Via, From, To (+tag), Call-ID, CSeq."""
    headers = [(k, v) for k, v in request.headers if k.lower() in ("via", "v")]
    to = request.header("To") or ""
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    headers += [("From", request.header("From") or ""), ("To", to), ("Call-ID", request.call_id),
                ("CSeq", request.header("CSeq") or ""), *extra]
    return SipMessage(f"SIP/2.0 {status} {STATUS_REASONS.get(status, 'Unknown')}", headers, body)


def uri_tag(value: str) -> str:
    """The tag parameter of a From/To header value."""
    match = re.search(r";\s*tag=([^;\s>]+)", value)
    return match.group(1) if match else ""


def uri_user(value: str) -> str:
    """The user part of the first SIP URI in a header value: `<sip:34020000001320000001@3402000000>`."""
    match = re.search(r"sips?:([^@;>\s]+)@", value)
    return match.group(1) if match else ""


# --- HTTP Digest, as GB/T 28181 devices and platforms do it (MD5, qop optional) ------------------


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def digest_response(username: str, realm: str, password: str, method: str, uri: str, nonce: str,
                    qop: str = "", nc: str = "", cnonce: str = "") -> str:
    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    if qop:
        return md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5(f"{ha1}:{nonce}:{ha2}")


def digest_params(header: str) -> dict[str, str]:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {key.lower(): quoted if quoted else bare for key, quoted, bare in _DIGEST_PARAM.findall(rest)}


def authorization(username: str, password: str, method: str, uri: str, challenge: str) -> str:
    """The Authorization header answering a WWW-Authenticate challenge."""
    params = digest_params(challenge)
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    qop = "auth" if "auth" in params.get("qop", "").split(",") else ""
    nc, cnonce = ("00000001", secrets.token_hex(8)) if qop else ("", "")
    response = digest_response(username, realm, password, method, uri, nonce, qop, nc, cnonce)
    text = (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5')
    if qop:
        text += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
    return text


def verify(header: str, password: str, method: str, nonce: str, realm: str, username: str) -> bool:
    """Whether an Authorization header proves the password for this nonce, realm and user (the
    device's ID: a digest made under another name never registers this device)."""
    params = digest_params(header)
    if params.get("nonce") != nonce or params.get("realm") != realm or params.get("username") != username:
        return False
    if params.get("algorithm", "MD5").upper() != "MD5":
        return False
    expected = digest_response(params.get("username", ""), realm, password, method, params.get("uri", ""),
                               nonce, params.get("qop", ""), params.get("nc", ""), params.get("cnonce", ""))
    return secrets.compare_digest(expected, params.get("response", ""))

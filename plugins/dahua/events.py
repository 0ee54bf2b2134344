"""The eventManager.cgi attach stream: event codes, part framing, and a bounded part reader."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from watchkeeper.core.models import DeviceEvent, DeviceEventKind
from watchkeeper.core.i18n import N_
from watchkeeper.devices.safeparse import protocol_error

BOUNDARY = "myboundary"

#: The label of this call in a reason.
STREAM = N_("event stream")
#: Dahua event codes the driver subscribes to, and what each means to the regulation.
CODE_KINDS: dict[str, DeviceEventKind] = {
    "VideoLoss": DeviceEventKind.VIDEO_LOSS,
    "VideoBlind": DeviceEventKind.TAMPER,
    "VideoAbnormalDetection": DeviceEventKind.SCENE_CHANGE,
    "SceneChange": DeviceEventKind.SCENE_CHANGE,
    "StorageFailure": DeviceEventKind.DISK_ERROR,
    "StorageNotExist": DeviceEventKind.DISK_ERROR,
    "StorageLowSpace": DeviceEventKind.DISK_FULL,
    "RecordFailure": DeviceEventKind.RECORDING_FAILURE,
    "LoginFailure": DeviceEventKind.ILLEGAL_ACCESS,
    "VideoMotion": DeviceEventKind.MOTION,
}
#: The simulator's choice of code when asked to raise an event of a kind.
KIND_CODES: dict[DeviceEventKind, str] = {}
for _code, _kind in CODE_KINDS.items():
    KIND_CODES.setdefault(_kind, _code)

#: One part's headers and body together stay far below this on any device.
MAX_PART_BYTES = 64 * 1024
_FIELD = re.compile(r";(?=[A-Za-z]+=)")


def encode_part(body: str) -> bytes:
    """One multipart part exactly as firmware frames it: Content-Length counts the body alone."""
    data = body.encode()
    return (f"--{BOUNDARY}\r\nContent-Type: text/plain\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data + b"\r\n\r\n"


def event_body(code: str, action: str, index: int, data: dict | None = None) -> str:
    body = f"Code={code};action={action};index={index}"
    return body + (f";data={json.dumps(data)}" if data is not None else "")


class PartReader:
    """Feeds on stream bytes, yields part bodies; a part that breaks framing is PROTOCOL_ERROR."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        bodies = []
        while True:
            body = self._next_part()
            if body is None:
                break
            bodies.append(body)
        if len(self._buffer) > MAX_PART_BYTES:
            raise protocol_error(N_("{what}: part larger than any device sends", what=STREAM))
        return bodies

    def _next_part(self) -> str | None:
        buffer = self._buffer
        # Skip blank lines and the boundary; what is left must start a header block.
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        header_lines = bytes(buffer[:head_end]).split(b"\r\n")
        length = None
        for line in header_lines:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                if not value.strip().isdigit():
                    raise protocol_error(N_("{what}: bad Content-Length", what=STREAM))
                length = int(value.strip())
            elif line.strip() and not line.startswith(b"--") and name.strip().lower() != b"content-type":
                raise protocol_error(N_("{what}: unexpected line between parts", what=STREAM))
        if length is None:
            if any(line.startswith(b"--") for line in header_lines):
                raise protocol_error(N_("{what}: part without Content-Length", what=STREAM))
            del buffer[: head_end + 4]
            return self._next_part()
        if length > MAX_PART_BYTES:
            raise protocol_error(N_("{what}: part larger than any device sends", what=STREAM))
        start = head_end + 4
        if len(buffer) < start + length:
            return None
        body = bytes(buffer[start:start + length])
        del buffer[: start + length]
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise protocol_error(N_("{what}: part is not UTF-8", what=STREAM)) from None


def parse_event(body: str, now: datetime | None = None) -> DeviceEvent | None:
    """`Code=VideoLoss;action=Start;index=0` → DeviceEvent; heartbeats and unknown codes → None."""
    body = body.strip()
    if body == "Heartbeat" or not body:
        return None
    fields: dict[str, str] = {}
    for item in _FIELD.split(body):
        key, sep, value = item.partition("=")
        if not sep:
            raise protocol_error(N_("{what}: malformed event field", what=STREAM))
        fields[key.strip()] = value.strip()
    code = fields.get("Code")
    if code is None:
        raise protocol_error(N_("{what}: event without Code", what=STREAM))
    when = now or datetime.now(timezone.utc)
    if "data" in fields:
        try:
            data = json.loads(fields["data"])
            stamp = data.get("UTC") if isinstance(data, dict) else None
            if isinstance(stamp, (int, float)) and 0 < stamp < 2**33:
                when = datetime.fromtimestamp(stamp, timezone.utc)
        except ValueError:
            raise protocol_error(N_("{what}: data is not JSON", what=STREAM)) from None
    index = fields.get("index", "")
    channel = int(index) + 1 if index.isdigit() else None
    kind = CODE_KINDS.get(code, DeviceEventKind.OTHER)
    return DeviceEvent(kind=kind, time=when, channel=channel,
                       active=fields.get("action", "Start") != "Stop", raw=body[:500])

"""Image sizes read from the file header before decoding, so no picture can make the decoder allocate without bound.

A camera's snapshot and a file given to `watchkeeper analyze` are untrusted: a 4 MB JPEG can claim
16000 x 16000 pixels and a 50 kB PNG can inflate to gigabytes. OpenCV allocates the whole picture
from the header's numbers before it reads a pixel, so the numbers are checked here first, for every
format accepted (JPEG, PNG, BMP, TIFF, WebP, PNM); any other format is refused rather than handed to
a decoder whose header we cannot read.
"""

from __future__ import annotations

import struct
from pathlib import Path

import attrs
import cv2
import numpy as np

from watchkeeper.analysis import frames as _kernel
from watchkeeper.analysis.errors import AnalysisError
from watchkeeper.core.files import FileReadError, read_regular_file

#: 8K UHD (7680 x 4320, 33.2 MP) and a 12 MP fisheye fit; nothing a CCTV camera sends is larger.
MAX_PIXELS = 40_000_000
#: What one decode may allocate (the picture, plus a progressive JPEG's coefficient buffer).
MAX_DECODED_BYTES = 128 * 1024 * 1024
#: Largest image file `analyze` reads: a 33 MP PNG of a busy scene is about 60 MB.
MAX_FILE_BYTES = 128 * 1024 * 1024
FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WebP", "PNM")

_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})


class ImageBoundsError(AnalysisError):
    """An image is refused before decoding: too large, a format we cannot size, or not a regular file."""


@attrs.frozen
class ImageHeader:
    """What a header says the decoded picture will be; `extra_bytes` is decoder working memory."""

    format: str
    width: int
    height: int
    channels: int
    bytes_per_sample: int = 1
    extra_bytes: int = 0

    def decoded_bytes(self, color: bool = False) -> int:
        """Bytes the decoder allocates: forced to 8-bit BGR when `color`, else the stored layout."""
        per_pixel = 3 if color else self.channels * self.bytes_per_sample
        return self.width * self.height * per_pixel + self.extra_bytes


def check_size(width: int, height: int, channels: int = 3, bytes_per_sample: int = 1, extra_bytes: int = 0,
               what: str = "image") -> None:
    """Refuse a picture of these dimensions before anything is allocated for it."""
    if width <= 0 or height <= 0:
        raise ImageBoundsError(f"{what} header gives no size ({width}x{height})")
    if max(width, height) > _kernel.MAX_SIDE:
        raise ImageBoundsError(f"{what} claims {width}x{height} pixels; at most {_kernel.MAX_SIDE} a side are accepted")
    if width * height > MAX_PIXELS:
        raise ImageBoundsError(f"{what} claims {width}x{height} pixels ({width * height / 1e6:.0f} MP); "
                               f"at most {MAX_PIXELS / 1e6:.0f} MP are accepted")
    needed = width * height * channels * bytes_per_sample + extra_bytes
    if needed > MAX_DECODED_BYTES:
        raise ImageBoundsError(f"{what} of {width}x{height} pixels would take {needed / 2**20:.0f} MiB to decode; "
                               f"at most {MAX_DECODED_BYTES // 2**20} MiB are accepted")


def _jpeg(data: bytes) -> ImageHeader:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ImageBoundsError("JPEG header is malformed (no marker where one must be)")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        if marker in _JPEG_SOF:
            if length < 8 or position + 10 > len(data):
                break
            precision, height, width, components = struct.unpack_from(">BHHB", data, position + 4)
            # libjpeg keeps every DCT coefficient (2 bytes each) of a progressive picture until the end.
            extra = width * height * components * 2 if marker in _JPEG_PROGRESSIVE else 0
            return ImageHeader("JPEG", width, height, max(components, 1), 2 if precision > 8 else 1, extra)
        if marker in (0xDA, 0xD9):
            raise ImageBoundsError("JPEG has no frame header before its scan data")
        position += 2 + length
    raise ImageBoundsError("JPEG header is truncated before its frame size")


def _png(data: bytes) -> ImageHeader:
    if len(data) < 26 or data[12:16] != b"IHDR":
        raise ImageBoundsError("PNG has no IHDR header")
    width, height, depth, colour = struct.unpack_from(">IIBB", data, 16)
    # Palette, grey+alpha and RGBA all come out of OpenCV as 3 or 4 channels: count the most.
    channels = {0: 1, 2: 3}.get(colour, 4)
    return ImageHeader("PNG", width, height, channels, 2 if depth == 16 else 1)


def _bmp(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise ImageBoundsError("BMP header is truncated")
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size == 12:
        width, height, _planes, bits = struct.unpack_from("<HHHH", data, 18)
    elif len(data) >= 30:
        width, height, _planes, bits = struct.unpack_from("<iiHH", data, 18)
    else:
        raise ImageBoundsError("BMP header is truncated")
    return ImageHeader("BMP", width, abs(height), 4 if bits == 32 else 3)


def _tiff(data: bytes) -> ImageHeader:
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8 or struct.unpack_from(order + "H", data, 2)[0] != 42:
        raise ImageBoundsError("TIFF header is not classic TIFF (BigTIFF is not accepted)")
    (offset,) = struct.unpack_from(order + "I", data, 4)
    if offset + 2 > len(data):
        raise ImageBoundsError("TIFF directory lies beyond the end of the file")
    (count,) = struct.unpack_from(order + "H", data, offset)
    tags: dict[int, int] = {}
    for index in range(min(count, 1024)):
        at = offset + 2 + 12 * index
        if at + 12 > len(data):
            break
        tag, kind, values = struct.unpack_from(order + "HHI", data, at)
        # A SHORT value sits in the first two bytes of the field, a LONG fills it; more than two
        # SHORTs (bits per sample, one per channel) are stored at an offset, and the first is enough.
        if kind == 3 and values > 2:
            (where,) = struct.unpack_from(order + "I", data, at + 8)
            value = struct.unpack_from(order + "H", data, where)[0] if where + 2 <= len(data) else 16
        else:
            value = struct.unpack_from(order + ("H" if kind == 3 else "I"), data, at + 8)[0]
        tags[tag] = value
    if 256 not in tags or 257 not in tags:
        raise ImageBoundsError("TIFF directory gives no image size")
    bits = tags.get(258, 8)
    return ImageHeader("TIFF", tags[256], tags[257], max(tags.get(277, 1), 1), 2 if bits > 8 else 1)


def _webp(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageHeader("WebP", width, height, 4)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, 21)
        return ImageHeader("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return ImageHeader("WebP", width & 0x3FFF, height & 0x3FFF, 3)
    raise ImageBoundsError("WebP header is malformed or truncated")


def _pnm(data: bytes) -> ImageHeader:
    kind = data[1:2]
    fields: list[int] = []
    wanted = 2 if kind in (b"1", b"4") else 3
    for line in data[2:4096].split(b"\n"):
        for word in line.split(b"#")[0].split():
            if not word.isdigit() or len(word) > 10:
                raise ImageBoundsError("PNM header has a field that is not a number")
            fields.append(int(word))
        if len(fields) >= wanted:
            break
    if len(fields) < wanted:
        raise ImageBoundsError("PNM header is truncated")
    depth = 2 if wanted == 3 and fields[2] > 255 else 1
    return ImageHeader("PNM", fields[0], fields[1], 3 if kind in (b"3", b"6") else 1, depth)


def read_header(data: bytes) -> ImageHeader:
    """The decoded size a picture's header announces; ImageBoundsError for a format we cannot size."""
    try:
        return _read_header(data)
    except struct.error:
        raise ImageBoundsError("image header is truncated") from None


def _read_header(data: bytes) -> ImageHeader:
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data)
    if data[:2] == b"BM":
        return _bmp(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:1] == b"P" and data[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6"):
        return _pnm(data)
    raise ImageBoundsError(f"not a readable image: watchkeeper reads {', '.join(FORMATS)}")


def decode_image(data: bytes, color: bool = False, what: str = "image") -> np.ndarray:
    """Decode a picture after checking its announced size: 8-bit BGR when `color`, else as stored."""
    try:
        header = read_header(data)
    except ImageBoundsError as error:
        raise ImageBoundsError(f"{what}: {error}") from None
    check_size(header.width, header.height, 3 if color else header.channels,
               1 if color else header.bytes_per_sample, header.extra_bytes, what=f"{what} ({header.format})")
    flags = cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as error:
        raise AnalysisError(f"{what}: not a readable image ({error.err or 'OpenCV error'})") from None
    if image is None:
        raise AnalysisError(f"{what}: not a readable image (truncated or corrupt {header.format})")
    # EXIF orientation may swap the sides; the pixel count is what the check bounded.
    if image.shape[0] * image.shape[1] > header.width * header.height:
        raise ImageBoundsError(f"{what} decoded larger than its header said")
    return image


def read_image_file(path: Path) -> bytes:
    """A regular file's bytes, at most MAX_FILE_BYTES; a FIFO, device or folder is refused unopened."""
    try:
        return read_regular_file(path, MAX_FILE_BYTES)
    except FileReadError as error:
        raise ImageBoundsError(str(error)) from None

"""Hostile pictures built without holding their pixels: PNG bombs and PNGs that lie about their size."""

from __future__ import annotations

import struct
import zlib

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: bytes, colour: int = 6, depth: int = 8) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def png_bomb(width: int, height: int, colour: int = 6, depth: int = 8) -> bytes:
    """A valid PNG of zero pixels: every row really is there, deflated about 1000:1."""
    row = bytes(1 + width * CHANNELS[colour] * depth // 8)
    deflate = zlib.compressobj(9)
    return png(width, height, b"".join([deflate.compress(row) for _ in range(height)] + [deflate.flush()]),
               colour, depth)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims this size over a single row of data."""
    return png(width, height, zlib.compress(bytes(1 + 4 * 16)))

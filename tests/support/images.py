"""Images for upload tests."""

from __future__ import annotations

import struct
import zlib


def make_png(width: int = 120, height: int = 80) -> bytes:
    """A real PNG photo stand-in: a sky-blue top over a grey "road" with an orange
    "cone" in the middle, so a thumbnail is recognisable in the screenshots."""

    def pixel(x: int, y: int) -> bytes:
        if abs(x - width // 2) < width // 10 and height // 3 < y < height * 5 // 6:
            return bytes((240, 120, 20))
        return bytes((135, 190, 235)) if y < height // 2 else bytes((110, 110, 110))

    raw = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )

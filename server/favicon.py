"""/favicon.ico: browsers ask for it whatever the page says, so answer with a real icon (the
tally marks of /static/favicon.svg, drawn again as a 32 px PNG inside an ICO) instead of a 404."""

from __future__ import annotations

import struct
import zlib
from functools import cache

from aiohttp import web

__all__ = ["favicon"]

SIZE = 32
INK, WHITE, GOLD = (0x1D, 0x24, 0x30), (0xFF, 0xFF, 0xFF), (0xF0, 0xB4, 0x29)


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    corner = min(x, SIZE - 1 - x) < 3 and min(y, SIZE - 1 - y) < 3 and (min(x, SIZE - 1 - x) + min(y, SIZE - 1 - y)) < 3
    if corner:
        return (0, 0, 0, 0)  # rounded corners
    if abs((y - 21) + (x - 4) * 11 / 23) < 1.6 and 3 <= x <= 28:
        return (*GOLD, 255)  # the stroke across: five
    if x in (7, 8, 12, 13, 17, 18, 22, 23) and 7 <= y <= 25:
        return (*WHITE, 255)  # four marks
    return (*INK, 255)


def _png() -> bytes:
    rows = b"".join(b"\x00" + b"".join(bytes(_pixel(x, y)) for x in range(SIZE)) for y in range(SIZE))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


@cache
def icon() -> bytes:
    """One 32x32 image in an ICO container (a PNG inside, as every current browser reads)."""
    png = _png()
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(png), 6 + 16) + png


async def favicon(request: web.Request) -> web.Response:
    return web.Response(body=icon(), content_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})

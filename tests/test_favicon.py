"""/favicon.ico answers with a real icon (browsers ask for it on every site), and pages name the SVG one."""

from __future__ import annotations

import struct
import zlib

from .conftest import Api


async def test_favicon__an_ico_with_a_32px_png_inside(api: Api) -> None:
    reply = await api.client.get("/favicon.ico")
    assert reply.status == 200 and reply.headers["Content-Type"] == "image/x-icon"
    body = await reply.read()
    reserved, kind, count = struct.unpack("<HHH", body[:6])
    assert (reserved, kind, count) == (0, 1, 1)  # an icon file with one image
    width, height, _, _, _, _, size, offset = struct.unpack("<BBBBHHII", body[6:22])
    png = body[offset:offset + size]
    assert (width, height) == (32, 32) and png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) == size
    assert struct.unpack(">II", png[16:24]) == (32, 32)
    pixels = zlib.decompress(png[png.index(b"IDAT") + 4:-16])
    assert len(pixels) == 32 * (1 + 32 * 4)  # every row: a filter byte and 32 RGBA pixels
    svg = await api.client.get("/static/favicon.svg")
    assert svg.status == 200 and "<svg" in await svg.text()
    page = await api.client.get("/signin", headers={"Accept": "text/html"})
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in await page.text()

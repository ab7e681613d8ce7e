"""Promotion beacons (issue 20, item 4): what a promoter's snippet points at.

`GET /promo/i/{signed}` answers a 1x1 transparent GIF whether or not the view counted (a page
showing the snippet must not break, and a forger learns nothing from the answer); `GET
/promo/c/{signed}` redirects to the campaign's link, counted or not, and is 404 for a beacon
this server did not sign. Both call the registry's operations (models/operations/promotions.py),
which check the signature, the nonce, the limits and the budget.
"""

from __future__ import annotations

from aiohttp import web

from models.registry import REGISTRY

from .appkeys import CTX

__all__ = ["PIXEL", "add_promo_routes"]

# The smallest transparent GIF: 1x1, one colour, fully transparent.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


async def impression_beacon(request: web.Request) -> web.Response:
    await REGISTRY.call(request[CTX], "promotions.impression", {"signed": request.match_info["signed"][:200]})
    return web.Response(body=PIXEL, content_type="image/gif", headers=NO_STORE)


async def click_beacon(request: web.Request) -> web.StreamResponse:
    result = await REGISTRY.call(request[CTX], "promotions.click", {"signed": request.match_info["signed"][:200]})
    if result["link"] is None:
        raise web.HTTPNotFound(text="This promotion link is not valid.", headers=NO_STORE)
    raise web.HTTPFound(result["link"], headers=NO_STORE)


def add_promo_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/promo/i/{signed}", impression_beacon, name="promo_impression")
    router.add_get("/promo/c/{signed}", click_beacon, name="promo_click")

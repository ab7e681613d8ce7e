"""Every typed key for application and request state, in one place."""

from __future__ import annotations

from aiohttp import web

from models.context import Context, Site

from .settings import Settings

__all__ = ["SETTINGS", "SITE", "OPENAPI", "CTX"]

SETTINGS = web.AppKey("settings", Settings)
SITE = web.AppKey("site", Site)
OPENAPI = web.AppKey("openapi", dict)
CTX = web.RequestKey("ctx", Context)  # the operation Context for this request

"""Every typed key for application and request state, in one place."""

from __future__ import annotations

from aiohttp import web

from models.context import Context, Site

from .ratelimit import RateLimiter
from .settings import Settings

__all__ = ["ANONYMOUS_LIMITER", "CTX", "OPENAPI", "SETTINGS", "SIGNED_LIMITER", "SITE"]

SETTINGS = web.AppKey("settings", Settings)
SITE = web.AppKey("site", Site)
OPENAPI = web.AppKey("openapi", dict)
ANONYMOUS_LIMITER = web.AppKey("anonymous_limiter", RateLimiter)  # routes anonymous clients may call
SIGNED_LIMITER = web.AppKey("signed_limiter", RateLimiter)  # the same routes, for servers that sign
CTX = web.RequestKey("ctx", Context)  # the operation Context for this request

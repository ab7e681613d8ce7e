"""Application factory: settings -> aiohttp app with middlewares, routes and the database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from aiohttp.typedefs import Handler

import federation.operations  # noqa: F401  (registers every operation)
from federation.discovery import load_discovery_plugins
from federation.follows import find_remote_actor
from federation.inbox import drain as drain_inbox
from federation.onward import ask_origin
from federation.remote_contracts import use_remote_contract
from federation.ssrf import check_callback_url
from models.context import Site
from models.login_throttle import LoginThrottle
from models.registry import REGISTRY

from .activitypub import add_activitypub_routes
from .api import json_response, operation_handler
from .appkeys import ANONYMOUS_LIMITER, OPENAPI, SETTINGS, SIGNED_LIMITER, SITE
from .database import close_database, open_database
from .formats import load_format_plugins
from .jobs import WORKERS, WorkerPool
from .middlewares import auth_middleware, body_timeout_middleware, error_middleware
from .oauth import add_oauth_routes
from .openapi import build_openapi, path_item
from .pages import add_page_routes, html_error_pages
from .promo import add_promo_routes
from .ratelimit import RateLimiter
from .routes import ROUTES
from .settings import Settings
from .wellknown import add_wellknown_routes

__all__ = ["create_app", "VERSION"]

log = logging.getLogger("tallystick")

try:
    VERSION = version("tallystick")
except PackageNotFoundError:  # running from a source tree without installing
    VERSION = "0.0.0"


def site_from(settings: Settings) -> Site:
    """The domain's view of the instance: the loaded settings sections, not copies of their fields."""
    return Site(
        base_url=settings.base_url,
        domain=settings.domain,
        data_dir=settings.data_dir.resolve(),
        limits=settings.limits,
        federation=settings.federation,
        jobs=settings.jobs,
        mail=settings.mail,
        accounts=settings.accounts,
        login_throttle=LoginThrottle(settings.limits),
        check_url_host=check_callback_url,  # DNS: a saved webhook URL must resolve to public addresses
        find_remote_actor=find_remote_actor,  # a give to user@host not seen yet looks it up
        remote_ledger=ask_origin,  # a give of units of another server's type asks that server
        remote_contracts=use_remote_contract,  # deriving from, and minting under, a contract held on another server
    )


async def _openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


def _options_handler(path: str, methods: list[str]) -> Handler:
    """OPTIONS on a resource answers its part of the OpenAPI document."""

    async def handle(request: web.Request) -> web.Response:
        allow = ", ".join(sorted({*methods, "OPTIONS"}))
        return json_response(
            {"path": path, "methods": path_item(request.app[OPENAPI], path)},
            headers={"Allow": allow},
        )

    return handle


def create_app(settings: Settings, *, with_database: bool = True) -> web.Application:
    """Build the app; the database opens on startup and closes on cleanup."""
    missing = [route.operation for route in ROUTES if route.operation not in REGISTRY]
    if missing:
        raise RuntimeError(f"routes name unregistered operations: {missing}")
    app = web.Application(
        middlewares=[body_timeout_middleware(settings.limits.body_timeout), html_error_pages, error_middleware, auth_middleware],
        client_max_size=max(settings.limits.max_body_bytes, settings.limits.max_media_bytes),
    )
    app[SETTINGS] = settings
    if not settings.mail.configured:
        log.warning("no SMTP server is configured ([mail] host): account mail (verification, password reset) is not sent")
    app[SITE] = site_from(settings)
    app[ANONYMOUS_LIMITER] = RateLimiter(settings.limits.anonymous_requests_per_minute)
    app[SIGNED_LIMITER] = RateLimiter(settings.limits.signed_requests_per_minute)
    app[OPENAPI] = build_openapi(ROUTES, settings.base_url, VERSION)
    load_format_plugins()  # entry points -> models.formats, for the operation sets.format
    load_discovery_plugins()  # entry points -> models.discovery, for the operation networks.discover

    by_path: dict[str, list[str]] = {}
    named: dict[str, str] = {}  # operation -> the path its route name points at (its first path)
    for route in ROUTES:
        name = route.operation if named.setdefault(route.operation, route.path) == route.path else None
        app.router.add_route(route.method, route.path, operation_handler(route), name=name)
        by_path.setdefault(route.path, []).append(route.method)
    for path, methods in by_path.items():
        app.router.add_route("OPTIONS", path, _options_handler(path, methods))
    app.router.add_get("/api/v1/openapi.json", _openapi)
    add_wellknown_routes(app.router)  # discovery and ActivityPub documents (federation)
    add_activitypub_routes(app.router)
    add_page_routes(app.router)  # web pages for browsers (sessions, forms)
    add_oauth_routes(app.router)
    add_promo_routes(app.router)  # promotion beacons a promoter's snippet points at

    if with_database:
        if settings.embedded_workers and settings.jobs.workers > 0:
            app[WORKERS] = WorkerPool(app[SITE], settings.jobs)

        async def database(app: web.Application) -> AsyncIterator[None]:
            orm = await open_database(settings)
            # Workers are tasks started here, so they inherit the ORM context just opened.
            pool = app.get(WORKERS)
            if pool is not None:
                pool.start()
            yield
            if pool is not None:
                await pool.stop()
            await drain_inbox()  # rows of requests cancelled mid-insert are written before the close
            await close_database(orm)

        app.cleanup_ctx.append(database)
    return app

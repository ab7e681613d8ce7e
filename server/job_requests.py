"""Asynchronous calls over HTTP: any route can become a job.

A request runs as a job when it sends `Prefer: respond-async`, `Prefer: wait=N`, the query
`?run=async` or a body field `"run": "async"`, or `X-On-Behalf-Of` (every act on behalf of
someone is recorded as a job with both users). Input and rights are checked before the job is
queued, so bad requests still get their 400/401/403/404 at once. The answer is
`202 Accepted` with `Location: /api/v1/jobs/{id}`, `Retry-After` and the job record.

`X-Callback-Url: https://...` (implies async): when the job finishes, its record is POSTed
there, signed with the caller's webhook secret (Standard Webhooks; see federation/callbacks.py).
The URL must be public (SSRF guard): 422 callback-url-refused otherwise.

`Idempotency-Key` (async calls only): the same key with the same request (method, path and
input) names the same job: 200 with it once it has finished, 409 while it is still queued or
running; the same key with a different request is 422.

Users with the tester role may send `Prefer: wait=N` to have the response held up to N
seconds (capped by settings.jobs.max_wait_seconds): a finished job answers like a direct
call (its status, result or problem), with the job in `Link: <...>; rel="monitor"` (and in
`Location` unless the route already uses it for a created object). Others get the 202.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from federation.ssrf import check_callback_url
from models.actors import Role
from models.errors import BadInput, Unprocessable
from models.jobs import Job, JobState, job_location
from models.operations.jobs import JobRequest, enqueue, render_job
from models.registry import REGISTRY

from .appkeys import CTX, SETTINGS
from .jobs import WORKERS
from .middlewares import problem_response

if TYPE_CHECKING:
    from .routes import Route

__all__ = ["preferences", "wants_async", "respond_async"]

WAIT_POLL_SECONDS = 0.05


def preferences(request: web.Request) -> dict[str, str]:
    """RFC 7240 Prefer tokens, lower-cased names: `respond-async, wait=5` -> {..., "wait": "5"}."""
    found: dict[str, str] = {}
    for header in request.headers.getall("Prefer", []):
        for part in header.split(","):
            token = part.split(";", 1)[0].strip()
            if token:
                name, _, value = token.partition("=")
                found[name.strip().lower()] = value.strip().strip('"')
    return found


def wants_async(request: web.Request, raw: dict[str, Any]) -> bool:
    """Whether to queue this call; removes the `run` option from the operation's input."""
    run = raw.pop("run", None)
    if run is None:
        run = request.query.get("run")
    if run is not None and run not in ("async", "sync"):
        raise BadInput('run must be "async" or "sync"', code="invalid-run")
    prefs = preferences(request)
    return run == "async" or "respond-async" in prefs or "wait" in prefs or any(
        name in request.headers for name in ("X-On-Behalf-Of", "X-Callback-Url")
    )


def _fingerprint(request: web.Request, raw: dict[str, Any]) -> str:
    data = {
        "method": request.method,
        "path": request.path,
        "input": raw,
        "on_behalf_of": request.headers.get("X-On-Behalf-Of"),
        "callback_url": request.headers.get("X-Callback-Url"),
    }
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _tester_wait(request: web.Request, prefs: dict[str, str]) -> float | None:
    """Seconds a tester asked to wait; None for everyone else or an unusable value (ignored)."""
    user = request[CTX].user
    if "wait" not in prefs or user is None or not user.has_role(Role.TESTER):
        return None
    try:
        seconds = float(prefs["wait"])
    except ValueError:
        return None
    if not seconds >= 0:  # also refuses NaN
        return None
    return min(seconds, request.app[SETTINGS].jobs.max_wait_seconds)


async def _wait_for(job: Job, seconds: float) -> Job:
    deadline = asyncio.get_running_loop().time() + seconds
    while not job.finished and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(WAIT_POLL_SECONDS)
        job = await Job.get(id=job.id)
    return job


def _json(data: Any, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


async def respond_async(
    request: web.Request,
    route: Route,
    raw: dict[str, Any],
    render: Callable[[web.Request, Route, Any], web.StreamResponse],
) -> web.StreamResponse:
    """Queue the call and answer 202 with the job (or, for a tester who waits, the outcome)."""
    if route.body == "raw":
        raise Unprocessable(
            "uploads cannot run as jobs: send this request without asking for async", code="async-not-supported"
        )
    if route.operation == "jobs.submit":
        return await _submit_chain(request, route, raw, render)
    settings = request.app[SETTINGS]
    await _check_callback(request, request.headers.get("X-Callback-Url"))
    job, created = await enqueue(
        request[CTX],
        JobRequest(
            operation=route.operation,
            input=raw,
            on_behalf_of=request.headers.get("X-On-Behalf-Of"),
            idempotency_key=request.headers.get("Idempotency-Key"),
            fingerprint=_fingerprint(request, raw),
            max_attempts=settings.jobs.max_attempts,
            callback_url=request.headers.get("X-Callback-Url"),
        ),
    )
    if created and WORKERS in request.app:
        request.app[WORKERS].wake()
    location = job_location(job.id)
    prefs = preferences(request)
    wait = _tester_wait(request, prefs)
    if wait is not None:
        job = await _wait_for(job, wait)
        if job.state in (JobState.SUCCEEDED.value, JobState.FAILED.value):
            return _inline(request, route, job, render)
    if not created:
        return _json(await render_job(job), 200, {"Location": location})
    headers = {"Location": location, "Retry-After": "1"}
    if "respond-async" in prefs:
        headers["Preference-Applied"] = "respond-async"
    return _json(await render_job(job), 202, headers)


async def _submit_chain(
    request: web.Request,
    route: Route,
    raw: dict[str, Any],
    render: Callable[[web.Request, Route, Any], web.StreamResponse],
) -> web.StreamResponse:
    """POST /api/v1/jobs is always queued: async preferences are already met, X-Callback-Url is
    the body's callback_url; acting on behalf of someone is not supported for chains."""
    if "X-On-Behalf-Of" in request.headers:
        raise Unprocessable("chains cannot run on behalf of another user", code="on-behalf-of-not-supported")
    if "X-Callback-Url" in request.headers:
        raw.setdefault("callback_url", request.headers["X-Callback-Url"])
    await _check_callback(request, raw.get("callback_url"))
    return render(request, route, await REGISTRY.call(request[CTX], route.operation, raw))


async def _check_callback(request: web.Request, url: Any) -> None:
    """The DNS half of the SSRF guard, at the edge (the operation checks the syntax itself)."""
    if isinstance(url, str):
        await check_callback_url(url, allow_private=request[CTX].site.federation.allow_private_addresses)


_NO_REASON: dict[str, Any] = {
    "type": "https://tallystick.dev/problems/job-failed", "code": "job-failed", "title": "Job failed", "status": 500,
    "detail": "the job failed without a recorded reason",
}


def _inline(
    request: web.Request, route: Route, job: Job, render: Callable[[web.Request, Route, Any], web.StreamResponse]
) -> web.StreamResponse:
    """A finished job answered like the direct call would have been."""
    location = job_location(job.id)
    headers = {"Link": f'<{location}>; rel="monitor"', "Preference-Applied": "wait"}
    if job.state == JobState.FAILED.value:
        # A job marked failed by hand (job-write) may carry no problem document.
        return problem_response(job.error or _NO_REASON, {**headers, "Location": location})
    response = render(request, route, job.result)
    response.headers.update(headers)
    response.headers.setdefault("Location", location)
    return response

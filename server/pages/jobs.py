"""Your jobs in words: the list, one job's detail (its steps as "step x of n" with a progress
bar, its result or problem, an export's download link), and cancel, forget and resend-callback."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from markupsafe import Markup

from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Segment, stacked_bar
from .base import FormError, call, page, page_size, redirect, render, require_signed_in
from .wording import HELPERS, JOB_STATES, duration, job_title, moment_of, words

__all__ = ["job_action", "job_page", "jobs_page"]

ACTIVE_JOB_STATES = ("queued", "running")
_ACTIONS = {"cancel": "jobs.cancel", "delete": "jobs.delete", "redeliver": "jobs.redeliver"}
_DONE = {"cancel": "Job cancelled.", "delete": "Job forgotten.", "redeliver": "Callback sent again."}
DONE_COLOUR, FAILED_COLOUR, LEFT_COLOUR = "#2e7d32", "#b3261e", "#d6dbe1"


# Where a finished operation's result can be seen: (what to call it, its page), from its result's id.
_RESULT_PAGES = {
    "types.create": ("the new token type", "/app/types/{id}"),
    "types.update": ("the token type", "/app/types/{id}"),
    "tokens.create": ("the new token", "/app/tokens/{id}"),
    "tokens.update": ("the token", "/app/tokens/{id}"),
    "sets.create": ("the new set", "/app/sets/{id}"),
    "sets.update": ("the set", "/app/sets/{id}"),
    "ledger.create": ("the entry", "/app/entries/{id}"),
    "ledger.give": ("the entry", "/app/entries/{id}"),
    "ledger.burn": ("the entry", "/app/entries/{id}"),
}


def result_link(operation: str, state: str | None, result: Any) -> dict[str, str] | None:
    """A link to what a succeeded job or step made or changed ("See the new set"), when it has a page."""
    known = _RESULT_PAGES.get(operation)
    if known is None or state != "succeeded" or not isinstance(result, dict) or not isinstance(result.get("id"), str):
        return None
    what, path = known
    name = result.get("name")
    return {"text": f"See {what}" + (f" {name}" if isinstance(name, str) and name else ""),
            "href": path.format(id=result["id"])}


def _problem(job: dict[str, Any]) -> str:
    """What went wrong, in the problem's own sentence (never its JSON)."""
    error = job.get("error")
    if isinstance(error, dict):
        return str(error.get("detail") or error.get("title") or "it failed")
    return str(error) if error else ""


def _outcome(job: dict[str, Any]) -> str:
    """A finished job's result in one sentence."""
    state, result = job["state"], job.get("result")
    failed_step = _failed_step(job)
    if state == "failed" and failed_step is not None:  # the chain's own problem names operations; say it in words
        number, step = failed_step
        later = sum(other.get("state") == "failed_dependency" for other in job.get("steps") or [])
        after = f"; {later} later step(s) did not run" if later else ""
        return f"It failed at step {number} ({job_title(str(step.get('operation')))}): {_problem(step)}{after}."
    if state == "failed":
        return f"It failed: {_problem(job)}"
    if state == "cancelled":
        return f"It was cancelled{': ' + _problem(job) if _problem(job) else ''}."
    if state != "succeeded":
        return ""
    if job["operation"] == "exports.build" and isinstance(result, dict):
        return f"The export holds {result.get('token_count', 0)} token(s)."
    if job["operation"] == "chain":
        return f"All {len(job.get('steps') or [])} steps are done."
    if isinstance(result, dict) and isinstance(result.get("amount"), str):
        return f"Done: {result['amount']}."
    return "Done."


def _failed_step(job: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """A chain's first failed step and its number (counting from 1)."""
    for number, step in enumerate(job.get("steps") or [], 1):
        if step.get("state") == "failed":
            return number, step
    return None


def _download(job: dict[str, Any]) -> str | None:
    """An export's file, for a finished export job."""
    result = job.get("result")
    if job["operation"] == "exports.build" and job["state"] == "succeeded" and isinstance(result, dict):
        return f"/api/v1/exports/{result['id']}"
    return None


def _progress(job: dict[str, Any], *, single: bool = False) -> dict[str, Any] | None:
    """A chain's steps: how many finished of how many, and the bar that shows it; with `single`,
    a job of one operation is step 1 of 1 (its page shows where it is; the list needs no bar)."""
    steps = job.get("steps") or []
    if not steps and single:
        steps = [{key: job.get(key) for key in ("operation", "state", "result", "error")}]
    if not steps:
        return None
    done = sum(step.get("state") == "succeeded" for step in steps)
    failed = sum(step.get("state") in ("failed", "failed_dependency", "cancelled") for step in steps)
    left = len(steps) - done - failed
    current = next((index for index, step in enumerate(steps, 1) if step.get("state") in ACTIVE_JOB_STATES), None)
    stopped = _failed_step(job)
    at = current or (stopped[0] if stopped else len(steps))
    summary = f"Step {at} of {len(steps)}: {done} done, {failed} failed or not run, {left} to go"
    elapsed = _elapsed(job)
    summary += f"; {elapsed}" if elapsed else ""
    bar = Markup(stacked_bar(
        [
            Segment("done", Decimal(done), DONE_COLOUR),
            Segment("failed", Decimal(failed), FAILED_COLOUR),
            Segment("to go", Decimal(left), LEFT_COLOUR),
        ],
        title=f"Step {at} of {len(steps)}",
        description=summary,
    ))
    rows = [
        {
            "number": index,
            "title": job_title(str(step.get("operation", ""))),
            "state": words("step", step.get("state")),
            "problem": _problem(step),
            "link": result_link(str(step.get("operation", "")), step.get("state"), step.get("result")),
        }
        for index, step in enumerate(steps, 1)
    ]
    return {"at": at, "of": len(steps), "summary": summary, "bar": bar, "rows": rows}


def _elapsed(job: dict[str, Any]) -> str:
    started, finished = moment_of(job.get("started_at")), moment_of(job.get("finished_at"))
    if started is None:
        return ""
    if finished is None:
        return f"running for {duration((datetime.now(UTC) - started).total_seconds())}"
    return f"took {duration((finished - started).total_seconds())}"


@page
async def jobs_page(request: web.Request) -> web.StreamResponse:
    """Your jobs; while any is queued or running the page refreshes itself (no JavaScript needed)."""
    require_signed_in(request)
    raw: dict[str, Any] = {"page_size": page_size(request[CTX])}
    state = request.query.get("state", "")
    if state in JOB_STATES:
        raw["state"] = state
    jobs = await REGISTRY.call(request[CTX], "jobs.list", raw)
    shown = [
        {**job, "outcome": _outcome(job), "download": _download(job), "progress": _progress(job)} for job in jobs.items
    ]
    active = any(job["state"] in ACTIVE_JOB_STATES for job in jobs.items)
    return render(request, "jobs.html.j2", jobs=shown, active=active, state=state, **HELPERS)


async def _job_page(request: web.Request, job_id: str, *, error: str = "", status: int = 200) -> web.Response:
    job = await REGISTRY.call(request[CTX], "jobs.get", {"id": job_id})
    return render(
        request,
        "job.html.j2",
        status=status,
        job=job,
        outcome=_outcome(job),
        link=result_link(job["operation"], job["state"], job.get("result")),
        download=_download(job),
        progress=_progress(job, single=True),
        elapsed=_elapsed(job),
        active=job["state"] in ACTIVE_JOB_STATES,
        error=error,
        **HELPERS,
    )


@page
async def job_page(request: web.Request) -> web.StreamResponse:
    """One job: what it does, where it is, what came of it."""
    require_signed_in(request)
    return await _job_page(request, request.match_info["id"])


@page
async def job_action(request: web.Request) -> web.StreamResponse:
    """Cancel a waiting or running job, forget a finished one, or send its callback again."""
    require_signed_in(request)
    job_id, action = request.match_info["id"], request.match_info["action"]
    try:
        await call(request, _ACTIONS[action], {"id": job_id})
    except FormError as error:
        if error.status == 404:
            raise error.problem from None  # another's job: the same 404 as a job that never was
        return await _job_page(request, job_id, error=error.problem.detail, status=error.status)
    raise redirect("/app/jobs" if action == "delete" else f"/app/jobs/{job_id}", _DONE[action])


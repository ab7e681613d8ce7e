"""Chains: several operations queued as one job, later steps using earlier results.

`POST /api/v1/jobs` takes `{steps: [{id, operation, input}], callback_url?}`. Anywhere in a
step's input, `{"$ref": "step_id#/json/pointer"}` (RFC 6901; `step_id` alone is the whole
result) is replaced by that earlier step's result value just before the step runs.

Everything that can be checked without running is checked at submission, and a bad chain
queues nothing: operation names and rights, step ids, every $ref (syntax, unknown, itself,
later steps, cycles), and each step's input against its operation, ignoring fields that
hold a $ref (their value is not known yet).

Each step commits on its own (server/jobs.py), together with its recorded result: a later
failure does NOT undo earlier steps. The failed step's own changes roll back, the steps
after it are marked `failed_dependency`, and the job is `failed`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationError
from tortoise.transactions import in_transaction

from ..context import Context
from ..errors import BadInput, TooLarge, Unprocessable
from ..job_callbacks import JobCallback
from ..jobs import Job
from ..outputs import JobOut
from ..registry import REGISTRY, Input, Transaction
from ..urls import check_callback_syntax
from .jobs import NOT_QUEUEABLE, record_job_event, refuse_job_token, render_job

__all__ = ["MAX_STEPS", "CHAIN_OPERATION", "checked_steps", "parse_ref", "resolve_refs", "StepInput", "ChainInput"]

MAX_STEPS = 20
CHAIN_OPERATION = "chain"  # Job.operation of a chain; the steps name the real operations
STEP_ID = r"^[A-Za-z0-9_.-]{1,64}$"
Path = tuple[str | int, ...]


class RefError(Exception):
    """A $ref that does not resolve when its step runs."""


def parse_ref(value: Any) -> tuple[str, list[str]]:
    """`"mint#/id"` -> ("mint", ["id"]); BadInput for anything that is not such a reference."""
    if not isinstance(value, str):
        raise BadInput("a $ref must be a string such as \"step_id#/json/pointer\"", code="malformed-ref")
    step, _, pointer = value.partition("#")
    if not re.match(STEP_ID, step):
        raise BadInput(f"$ref {value!r} does not start with a step id", code="malformed-ref")
    if pointer and not pointer.startswith("/"):
        raise BadInput(f"$ref {value!r}: a JSON pointer starts with /", code="malformed-ref")
    tokens = pointer.split("/")[1:] if pointer else []
    if any(re.search(r"~(?![01])", token) for token in tokens):
        raise BadInput(f"$ref {value!r}: ~ must be followed by 0 or 1 (RFC 6901)", code="malformed-ref")
    return step, [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def find_refs(value: Any, path: Path = ()) -> list[tuple[Path, str, list[str]]]:
    """Every $ref object in a JSON value: (where it is, step id, pointer tokens)."""
    if isinstance(value, dict):
        if "$ref" in value:
            if len(value) != 1:
                raise BadInput("a $ref object must have no other keys", code="malformed-ref")
            return [(path, *parse_ref(value["$ref"]))]
        return [found for key, item in value.items() for found in find_refs(item, (*path, key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in find_refs(item, (*path, index))]
    return []


def _point(document: Any, tokens: list[str], ref: str) -> Any:
    for token in tokens:
        if isinstance(document, dict) and token in document:
            document = document[token]
        elif isinstance(document, list) and re.fullmatch(r"0|[1-9][0-9]*", token) and int(token) < len(document):
            document = document[int(token)]
        else:
            raise RefError(f"$ref {ref!r}: the result has nothing at {token!r}")
    return document


def resolve_refs(value: Any, results: dict[str, Any]) -> Any:
    """The value with every $ref replaced by the referenced step's result (RefError if absent)."""
    if isinstance(value, dict):
        if "$ref" in value:
            step, tokens = parse_ref(value["$ref"])
            if step not in results:
                raise RefError(f"$ref {value['$ref']!r}: step {step!r} has no result")
            return _point(results[step], tokens, value["$ref"])
        return {key: resolve_refs(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_refs(item, results) for item in value]
    return value


class StepInput(Input):
    id: str = Field(pattern=STEP_ID, description="unique within the chain; other steps refer to it")
    operation: str = Field(min_length=1, max_length=100)
    input: dict[str, Any] = Field(default_factory=dict)


class ChainInput(Input):
    steps: list[StepInput] = Field(min_length=1)
    callback_url: str | None = Field(None, min_length=1, max_length=2048)


def _refused(step: str, detail: str, code: str, status: type[Unprocessable | BadInput] = Unprocessable) -> Exception:
    return status(f"step {step!r}: {detail}", code=code, extra={"step": step})


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def _check_refs(steps: list[StepInput]) -> dict[str, list[Path]]:
    """Each step's $ref locations, after refusing unknown, self, forward and cyclic refs."""
    order = {step.id: index for index, step in enumerate(steps)}
    found: dict[str, list[tuple[Path, str, list[str]]]] = {}
    for step in steps:
        try:
            found[step.id] = find_refs(step.input)
        except BadInput as error:
            raise _refused(step.id, error.detail, error.code, BadInput) from None
    graph = {step_id: {target for _, target, _ in refs} for step_id, refs in found.items()}
    for index, step in enumerate(steps):
        for _, target, _ in found[step.id]:
            if target == step.id:
                raise _refused(step.id, "a step cannot refer to its own result", "ref-to-self")
            if target not in order:
                raise _refused(step.id, f"$ref names {target!r}, which is not a step of this chain", "ref-unknown-step")
            if order[target] > index:
                if _reaches(graph, target, step.id):
                    raise _refused(step.id, f"$ref to {target!r} makes a cycle: {target!r} refers back", "ref-cycle")
                raise _refused(step.id, f"$ref to {target!r}, which runs later: move it before", "ref-to-later-step")
    return {step_id: [path for path, _, _ in refs] for step_id, refs in found.items()}


def _check_input(ctx: Context, step: StepInput, ref_paths: list[Path]) -> None:
    """Authorize the step and validate its input, except where a $ref will supply the value."""
    operation = REGISTRY.get(step.operation) if step.operation in REGISTRY else None
    if operation is None:
        raise _refused(step.id, f"there is no operation named {step.operation!r}", "unknown-operation")
    if operation.name in NOT_QUEUEABLE or "password" in operation.input.model_fields or operation.name.startswith(
        "jobs."
    ):
        raise _refused(step.id, f"{operation.name} cannot run in a chain: call it directly", "async-not-supported")
    REGISTRY.authorize(ctx, operation)
    try:
        operation.input.model_validate(step.input, context={"site": ctx.site})
    except ValidationError as error:
        remaining = [
            item
            for item in error.errors(include_url=False)
            if not any(tuple(item["loc"][: len(path)]) == path for path in ref_paths)
        ]
        if remaining:
            fields = [
                {
                    "field": ".".join(["steps", step.id, "input", *(str(part) for part in item["loc"])]),
                    "message": item["msg"],
                    "type": item["type"],
                }
                for item in remaining
            ]
            summary = "; ".join(f"{entry['field']}: {entry['message']}" for entry in fields[:5])
            raise BadInput(
                f"step {step.id!r}: the input is not valid: {summary}",
                code="validation-failed",
                errors=fields,
                extra={"step": step.id},
            ) from None


@REGISTRY.operation("jobs.submit", ChainInput, output=JobOut, transaction=Transaction.NONE)
async def submit_chain(ctx: Context, params: ChainInput) -> dict[str, Any]:
    """Queue a chain of operations; a step may use an earlier step's result with {"$ref": "step#/pointer"}."""
    user = ctx.require_user()
    refuse_job_token(ctx)
    steps = checked_steps(ctx, params.steps)
    if params.callback_url is not None:
        check_callback_syntax(params.callback_url, allow_private=ctx.site.federation.allow_private_addresses)
    async with in_transaction():
        job = await Job.create(
            caller=user,
            operation=CHAIN_OPERATION,
            input={},
            steps=steps,
        )
        if params.callback_url:
            await JobCallback.create(id=job.id, job=job, url=params.callback_url)
        await record_job_event(job, "job.queued", {"steps": [step.id for step in params.steps]})
    return await render_job(job)


def checked_steps(ctx: Context, given: list[StepInput]) -> list[dict[str, Any]]:
    """A chain's steps as a job stores them, after every check that needs no run (a watcher's
    chain is checked so when it is saved, and queued as it fires)."""
    params = ChainInput(steps=given)
    if len(params.steps) > MAX_STEPS:
        raise TooLarge(f"a chain has at most {MAX_STEPS} steps, this one has {len(params.steps)}", code="chain-too-long")
    seen: set[str] = set()
    for step in params.steps:
        if step.id in seen:
            raise _refused(step.id, "step ids must be unique within the chain", "duplicate-step-id")
        seen.add(step.id)
    ref_paths = _check_refs(params.steps)
    for step in params.steps:
        _check_input(ctx, step, ref_paths[step.id])
    return [
        {"id": step.id, "operation": step.operation, "input": step.input, "state": "queued", "result": None, "error": None}
        for step in params.steps
    ]

"""docs/operations.md from the operation registry: one row per operation, for newcomers.

    python -m server.opsdoc          # write docs/operations.md
    python -m server.opsdoc --check  # exit 1 if the checked-in file is not current

tests/test_opsdoc.py runs the check, so a new or changed operation fails CI until the map is
regenerated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from models.oauth import required_scope
from models.operations.jobs import NOT_QUEUEABLE
from models.registry import REGISTRY, UNDECLARED, Access, Operation
from models.results import FileResult, Rendered

from . import app as _app  # noqa: F401  (imports every module that registers operations)
from .api import Route
from .routes import ROUTES

__all__ = ["DOC_PATH", "REGENERATE", "render", "main"]

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
REGENERATE = "python -m server.opsdoc"

_HEADER = f"""# Operations

Every public action is an operation in the registry (`models/registry.py`); HTTP routes, jobs,
chains, the inbox and the web pages all call them by name. This table is generated from the
registry: do not edit it, run `{REGENERATE}` (a test fails when it is not current).

- **access**: who may call it (`public`, `user`: signed in, `write`: signed in and it writes,
  `system`: internal periodic work); a role, when one is needed, follows it.
- **effect**: what it does (`read`, `write`, `relinquish`: gives up the caller's own access);
  it decides the OAuth **scope** an app's token needs (`models/oauth.py` `required_scope`) and
  whether a frozen account may call it.
- **async**: whether it may run as a job (`Prefer: respond-async`, a chain step, or
  `X-On-Behalf-Of`); `periodic` ones are queued by the scheduler; `no` ones handle passwords
  or tokens, or upload raw bytes.
- **output**: its output model (OpenAPI's response schema); `Paged[X]` is a page of X;
  `204` answers no body.

"""


def _routes(operation: Operation, routes: list[Route]) -> list[Route]:
    return [route for route in routes if route.operation == operation.name]


def async_capable(operation: Operation, routes: list[Route]) -> str:
    """Whether the job queue accepts it (models/operations/jobs.py `enqueue`, chains)."""
    if operation.access is Access.SYSTEM:
        return "periodic"
    if operation.name in NOT_QUEUEABLE or "password" in operation.input.model_fields:
        return "no"
    mine = _routes(operation, routes)
    if mine and all(route.body == "raw" for route in mine):
        return "no"
    return "yes"


def _output(operation: Operation) -> str:
    output: Any = operation.output
    if output is UNDECLARED:
        return "**undeclared**"
    if output is None:
        return "204"
    if output is Rendered:
        return "Rendered (text)"
    if output is FileResult:
        return "FileResult (file)"
    metadata = getattr(output, "__pydantic_generic_metadata__", None) or {}
    origin, args = metadata.get("origin"), metadata.get("args") or ()
    if origin is not None and args:
        return f"{origin.__name__}[{', '.join(arg.__name__ for arg in args)}]"
    return str(output.__name__)


def _access(operation: Operation) -> str:
    role = f" ({operation.role.value})" if operation.role is not None else ""
    return f"{operation.access.value}{role}"


def render(routes: list[Route] | None = None) -> str:
    """The whole document, from the registry and the route table."""
    routes = ROUTES if routes is None else routes
    lines = [
        "| operation | function | HTTP | access | effect | scope | async | output |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for operation in REGISTRY.all():
        http = "<br>".join(f"`{route.method} {route.path}`" for route in _routes(operation, routes)) or "—"
        cells = [
            f"`{operation.name}`",
            f"`{operation.run.__module__}:{operation.run.__name__}`",
            http,
            _access(operation),
            operation.effect.value,
            f"`{required_scope(operation)}`",
            async_capable(operation, routes),
            f"`{_output(operation)}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return _HEADER + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description="Write docs/operations.md from the registry.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is not current; write nothing")
    args = parser.parse_args(argv)
    text = render()
    current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    if args.check:
        if current != text:
            print(f"{DOC_PATH} is not current: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH} ({len(REGISTRY.all())} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

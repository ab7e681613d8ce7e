"""docs/operations.md, the map of operations, is generated from the registry and kept current."""

from __future__ import annotations

from models.registry import REGISTRY
from server.opsdoc import DOC_PATH, REGENERATE, async_capable, render
from server.routes import ROUTES


def test_opsdoc__checked_in_file_is_current() -> None:
    """A new or changed operation changes the map: regenerate it in the same commit."""
    current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    assert current == render(), f"{DOC_PATH.name} is not current: run `{REGENERATE}` and commit it"


def test_opsdoc__one_row_per_operation() -> None:
    text = render()
    for operation in REGISTRY.all():
        assert text.count(f"| `{operation.name}` |") == 1, operation.name
    assert "| `ledger.give` | `models.operations.ledger:give` | `POST /api/v1/ledger/give` |" in text
    assert "| `tokens.delete` |" in text and "`204` |" in text.split("| `tokens.delete` |")[1].split("\n")[0]


def test_opsdoc__async_column_follows_the_job_queue() -> None:
    """What the queue refuses (passwords, uploads) is `no`; internal periodic work is `periodic`."""
    verdict = {op.name: async_capable(op, ROUTES) for op in REGISTRY.all()}
    assert verdict["ledger.give"] == "yes"
    assert verdict["auth.login"] == "no" and verdict["users.me.delete"] == "no"
    assert verdict["media.upload"] == "no"
    assert verdict["system.jobs.sweep"] == "periodic"

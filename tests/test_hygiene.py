"""Rules for the tests themselves, checked on their source: a setup call asserts its status."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
# Calls that answer with a status a test must look at: HTTP methods on any client or helper
# (Api, Browser, the live Instance.call, a raw aiohttp client) and the helpers that wrap them.
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "call", "request"}
REPLY_HELPERS = {"add", "signed_post"}


def _is_raises(item: ast.withitem) -> bool:
    call = item.context_expr
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "raises"


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute) and call.func.attr in HTTP_METHODS:
        return call.func.attr
    if isinstance(call.func, ast.Name) and call.func.id in REPLY_HELPERS:
        return call.func.id
    return None


def bare_calls(source: str) -> list[tuple[int, str]]:
    """(line, code) of each `await <x>.post(...)`-like statement whose reply is dropped unchecked.

    Allowed: an `expect=` argument (the helper asserts the status), or a call inside
    `with pytest.raises(...)` (the exception is the check).
    """
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_raises: bool) -> None:
        if isinstance(node, (ast.With, ast.AsyncWith)) and any(_is_raises(item) for item in node.items):
            in_raises = True
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Await) and isinstance(node.value.value, ast.Call):
            call = node.value.value
            if _called_name(call) and not in_raises and not any(kw.arg == "expect" for kw in call.keywords):
                found.append((node.lineno, ast.unparse(node)[:120]))
        for child in ast.iter_child_nodes(node):
            visit(child, in_raises)

    visit(ast.parse(source), False)
    return found


def test_hygiene__the_scan_finds_bare_setup_calls_and_allows_checked_ones() -> None:
    source = (
        "async def test_x(api, browser, a):\n"
        "    await api.post('/api/v1/types', COIN, token=t)\n"
        "    await a.call('PATCH', '/x', 'alice', json={})\n"
        "    await add(api, t, s, token_id)\n"
        "    await api.post('/api/v1/types', COIN, token=t, expect=201)\n"
        "    reply = await api.delete('/x')\n"
        "    assert (await api.put('/x', {})).status == 200\n"
        "    with pytest.raises(BadInput):\n"
        "        await REGISTRY.call(ctx, name, raw)\n"
        "    await asyncio.sleep(0)\n"
    )
    assert [line for line, _ in bare_calls(source)] == [2, 3, 4]


def test_hygiene__setup_calls_assert_their_status() -> None:
    """A setup call whose status nobody checks lets a failed setup pass a negative assertion."""
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}: {code}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, code in bare_calls(path.read_text())
    ]
    assert not offenders, "pass expect=<status> (or assert the reply):\n" + "\n".join(offenders)


# Where each of these may appear: the one helper that starts local peers (tests/loopback.py) and
# the one that starts live servers (tests/livesrv.py). Not yet moved, in files other work owns
# now: the callbacks Receiver (test_callbacks.py) and the fuzz server (test_openapi_fuzz.py).
ONE_HELPER = {
    "web.AppRunner(": {"loopback.py", "test_callbacks.py"},
    "web.TCPSite(": {"loopback.py", "test_callbacks.py"},
    "HTTPServer(": {"loopback.py"},
    "LiveServer(": {"livesrv.py", "test_openapi_fuzz.py"},
}


def test_hygiene__peers_and_live_servers_are_started_by_one_helper_each() -> None:
    offenders = [
        f"{path.name}: {needle}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        for needle, allowed in ONE_HELPER.items()
        if needle in path.read_text() and path.name not in allowed
    ]
    assert not offenders, "use tests/loopback.py (peers) or livesrv.live_server (servers):\n" + "\n".join(offenders)

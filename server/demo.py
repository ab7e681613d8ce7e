"""A small demo instance for `make run`: an admin and two users with tokens."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from models.actors import User
from models.errors import DomainError
from models.operations.accounts import authenticate_token
from models.tokens import TokenType

from .settings import Settings
from .system import system_call

__all__ = ["load_demo", "DEMO_USERS", "DEMO_TOKENS_FILE"]

DEMO_TOKENS_FILE = "demo-tokens.json"

DEMO_USERS = [
    ("admin", "admin-demo-password", ["admin"]),
    ("alice", "alice-demo-password", []),
    ("bob", "bob-demo-password", []),
]


async def load_demo(settings: Settings) -> int:
    """Create the demo users once and print their passwords and bearer tokens, every time the same.

    Tokens are stored hashed, so to print them again the demo keeps the plaintext of the demo
    accounts' tokens (and only those: throwaway accounts with published passwords) in
    `<data dir>/demo-tokens.json`, readable by the owner only (0600). A token is issued again
    only when that file is missing or its token no longer works (revoked, or the account was
    recreated), so a second `make run` does not revoke what the first one printed.
    """
    saved = _saved_tokens(settings)
    tokens: dict[str, str] = {}
    for username, password, roles in DEMO_USERS:
        if await User.filter(username=username).exists():
            if await _still_valid(saved.get(username), username):
                tokens[username] = saved[username]
                continue
            result = await system_call(settings, "admin.users.regenerate_token", {"username": username})
        else:
            result = await system_call(
                settings,
                "admin.users.create",
                {"username": username, "password": password, "email": f"{username}@example.org", "roles": roles},
            )
        tokens[username] = result["token"]
    if tokens != saved:
        _save_tokens(settings, tokens)
    await _demo_tokens(settings)
    print("\nTallystick demo instance ready at", settings.base_url)
    for username, password, roles in DEMO_USERS:
        print(f"  {username:6} password={password:22} token={tokens[username]}  roles={roles}")
    print()
    return 0


def _tokens_path(settings: Settings) -> Path:
    return settings.data_dir / DEMO_TOKENS_FILE


def _saved_tokens(settings: Settings) -> dict[str, str]:
    try:
        found = orjson.loads(_tokens_path(settings).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}


def _save_tokens(settings: Settings, tokens: dict[str, str]) -> None:
    path = _tokens_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps(tokens))
    path.chmod(0o600)  # an older file may have been created with other permissions


async def _still_valid(token: str | None, username: str) -> bool:
    if not token:
        return False
    try:
        user, _ = await authenticate_token(token)
    except DomainError:
        return False
    return user.username == username


async def _demo_tokens(settings: Settings) -> None:
    """Alice mints Demo Coins and gives some to Bob (only on the first run)."""
    from models.context import Context
    from models.registry import REGISTRY

    from .app import site_from

    alice = await User.get(username="alice")
    actor = await alice.actor
    if await TokenType.filter(owner=actor).exists():
        return
    ctx = Context(site=site_from(settings), user=alice, actor=actor)
    coin = await REGISTRY.call(
        ctx,
        "types.create",
        {"name": "Demo Coin", "symbol": "DMC", "fungible": True, "smallest_unit": 2,
         "description": "Coins for trying Tallystick out"},
    )
    await REGISTRY.call(ctx, "ledger.create", {"type": coin["id"], "amount": "1000.00", "description": "first mint"})
    await REGISTRY.call(ctx, "ledger.give", {"type": coin["id"], "amount": "25.00", "to": "bob"})

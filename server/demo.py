"""A small demo instance for `make run`: an admin and two users with tokens."""

from __future__ import annotations

from models.actors import User
from models.tokens import TokenType

from .cli import system_call
from .settings import Settings

__all__ = ["load_demo", "DEMO_USERS"]

DEMO_USERS = [
    ("admin", "admin-demo-password", ["admin"]),
    ("alice", "alice-demo-password", []),
    ("bob", "bob-demo-password", []),
]


async def load_demo(settings: Settings) -> int:
    """Create the demo users once; print their passwords and fresh tokens every time."""
    tokens: dict[str, str] = {}
    for username, password, roles in DEMO_USERS:
        if await User.filter(username=username).exists():
            result = await system_call(settings, "admin.users.regenerate_token", {"username": username})
        else:
            result = await system_call(
                settings,
                "admin.users.create",
                {"username": username, "password": password, "email": f"{username}@example.org", "roles": roles},
            )
        tokens[username] = result["token"]
    await _demo_tokens(settings)
    print("\nTallystick demo instance ready at", settings.base_url)
    for username, password, roles in DEMO_USERS:
        print(f"  {username:6} password={password:22} token={tokens[username]}  roles={roles}")
    print()
    return 0


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

"""Helpers shared by the set and format tests: types, tokens and sets through the API."""

from __future__ import annotations

from typing import Any


from models.events import Event
from models.sets import SetLink, SetMember, TokenSet


from .conftest import Api

SETS = "/api/v1/sets"

ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "label", "type": "string"},
    {"name": "colour", "type": "enum", "enum": ["red", "blue"]},
    {"name": "weight", "type": "decimal"},
    {"name": "count", "type": "integer"},
    {"name": "active", "type": "boolean"},
    {"name": "minted_at", "type": "datetime"},
    {"name": "secret", "type": "string", "private": True},
]


async def make_type(api: Api, token: str, attributes: list[dict[str, Any]] | None = None, **body: Any) -> str:
    payload = {"name": "Gem", "symbol": "GEM", "fungible": False, "smallest_unit": 0,
               "attributes": ATTRIBUTES if attributes is None else attributes, **body}
    reply = await api.post("/api/v1/types", payload, token=token)
    assert reply.status == 201, reply
    return reply.body["id"]


async def make_token(api: Api, token: str, type_id: str, shareable: bool = False, **attributes: Any) -> str:
    reply = await api.post("/api/v1/tokens", {"type": type_id, "attributes": attributes, "shareable": shareable},
                           token=token)
    assert reply.status == 201, reply
    return reply.body["id"]


async def make_set(api: Api, token: str, name: str = "Shelf", **body: Any) -> dict[str, Any]:
    reply = await api.post(SETS, {"name": name, **body}, token=token)
    assert reply.status == 201, reply
    return reply.body


async def add(api: Api, token: str, set_id: str, *token_ids: str, expect: int | None = None) -> Any:
    return await api.post(f"{SETS}/{set_id}/tokens", {"tokens": list(token_ids)}, token=token, expect=expect)


async def set_counts() -> tuple[int, int, int, int]:
    """Sets, memberships, links and events: what a refused call must leave unchanged."""
    return (
        await TokenSet.all().count(),
        await SetMember.all().count(),
        await SetLink.all().count(),
        await Event.all().count(),
    )

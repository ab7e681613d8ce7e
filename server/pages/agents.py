"""Agents (issue 23, item 1): the programs I allow to report changes to my tokens, and the changes
they reported that wait for me. An agent is an account (here or on another server) that sees a
token off the server, such as a warehouse scanner; I allow it one token or a set's tokens, and
say whether its changes apply at once or wait for my yes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.context import Context
from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, redirect, render, require_signed_in
from .wording import moment

__all__ = ["agents_page", "create_grant", "decide", "withdraw_grant"]

MINE = "/app/agents"
_LABEL_NAMES = ("name", "title", "label")
_FIELDS = ("agent", "target", "attributes", "needs_approval")


def token_label(token: dict[str, Any], type_names: dict[str, str]) -> str:
    """A token as a person names it: its type and its name-like value, not its id."""
    kind = type_names.get(token["type"], "Token")
    values = token.get("attributes") or {}
    named = next((values[key] for key in _LABEL_NAMES if isinstance(values.get(key), str) and values[key]), None)
    named = named or next((value for value in values.values() if isinstance(value, str) and value), None)
    return f"{kind} “{named}”" if named else f"{kind} made {moment(token['created_at']).striptags()}"


def change_words(attributes: dict[str, Any]) -> list[str]:
    """A reported change as lines: "label becomes cut", "colour is removed"."""
    return [f"{name} is removed" if value is None else f"{name} becomes {value}" for name, value in attributes.items()]


class _Names:
    """Labels for the caller's tokens and sets, and for any other token a grant or report names."""

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.tokens, self.sets, self.types = ctx, dict[str, str](), dict[str, str](), dict[str, str]()

    async def load(self) -> _Names:
        username = self.ctx.require_user().username
        size = page_size(self.ctx)
        types = await REGISTRY.call(self.ctx, "types.list", {"owner": username, "page_size": size})
        self.types = {item["id"]: item["name"] for item in types.items}
        tokens = await REGISTRY.call(self.ctx, "tokens.list", {"owner": username, "page_size": size})
        self.tokens = {item["id"]: token_label(item, self.types) for item in tokens.items}
        sets = await REGISTRY.call(self.ctx, "sets.list", {"owner": username, "page_size": size})
        self.sets = {item["id"]: item["name"] for item in sets.items}
        return self

    async def token(self, token_id: str) -> str:
        if token_id not in self.tokens:
            try:
                found = await REGISTRY.call(self.ctx, "tokens.get", {"id": token_id})
            except DomainError:  # deleted, or no longer visible to us
                return "a token that is gone"
            self.tokens[token_id] = token_label(found, self.types)
        return self.tokens[token_id]

    async def target(self, item: dict[str, Any]) -> str:
        if item.get("set"):
            return f"the tokens in the set {self.sets.get(item['set'], 'that is gone')}"
        return await self.token(item["token"])


def _who(actor: dict[str, Any]) -> str:
    return str(actor.get("display_name") or actor["handle"])


async def _page(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    names = await _Names(ctx).load()
    size = page_size(ctx)
    grants = (await REGISTRY.call(ctx, "agents.grants.list", {"role": "owner", "page_size": size})).items
    acting = (await REGISTRY.call(ctx, "agents.grants.list", {"role": "agent", "page_size": size})).items
    waiting = (await REGISTRY.call(ctx, "agents.reports.list", {"role": "owner", "state": "pending",
                                                                 "page_size": size})).items
    decided = [item for item in (await REGISTRY.call(ctx, "agents.reports.list",
                                                      {"role": "owner", "page_size": page_size(ctx, 20)})).items
               if item["state"] != "pending"]
    for item in grants:
        item["what"], item["who"] = await names.target(item), _who(item["agent"])
    for item in acting:
        item["what"] = "the tokens in one of their sets" if item.get("set") else "one of their tokens"
        item["who"] = _who(item["owner"])
    for report in [*waiting, *decided]:
        report["what"], report["who"] = await names.token(report["token"]), _who(report["agent"])
        report["changes"] = change_words(report["attributes"])
    return render(request, "agents.html.j2", status=status, grants=grants, acting=acting, waiting=waiting,
                  decided=decided, tokens=names.tokens, sets=names.sets, values=values or {}, errors=errors or {},
                  error=error, confirm=request.query.get("confirm", ""), chosen=request.query.get("grant", ""),
                  moment=moment)


@page
async def agents_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _page(request)


@page
async def create_grant(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await request.post()
    values = {name: str(form.get(name, "")).strip() for name in _FIELDS}
    kind, _, target = values["target"].partition(":")
    data: dict[str, Any] = {"agent": values["agent"],
                            "attributes": [name for name in values["attributes"].replace(",", " ").split() if name],
                            "needs_approval": bool(values["needs_approval"])}
    missing = {}
    if not values["agent"]:
        missing["agent"] = "Enter the agent's username, or user@server for an agent elsewhere."
    if kind not in ("token", "set") or not target:
        missing["target"] = "Pick the token or the set the agent may report on."
    if missing:
        return await _page(request, values=values, errors=missing, status=400)
    data[kind] = target
    try:
        made = await call(request, "agents.grants.create", data, {"token": "target", "set": "target"})
    except FormError as problem:
        fields = dict(problem.fields)
        code = problem.problem.code
        if code in ("agent-not-found", "not-an-agent", "self-grant"):
            fields["agent"] = problem.problem.detail
        elif code in ("token-not-found", "set-not-found"):
            fields["target"] = problem.problem.detail
        fields = {name.split(".")[0]: message for name, message in fields.items()}
        return await _page(request, values=values, errors=fields, error="" if fields else problem.general,
                           status=problem.status)
    raise redirect(MINE, f"{_who(made['agent'])} may now report changes. You can withdraw this at any time.")


@page
async def withdraw_grant(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    try:
        await call(request, "agents.grants.delete", {"id": request.match_info["id"]})
    except FormError as problem:
        raise problem.problem from None  # not yours (or gone): the plain 404 page
    raise redirect(MINE, "Withdrawn: the agent may no longer report changes, and its waiting changes were refused.")


@page
async def decide(request: web.Request) -> web.StreamResponse:
    """Apply or refuse a change an agent reported; a token changed since then cannot take it."""
    require_signed_in(request)
    approve = request.match_info["action"] == "approve"
    try:
        report = await call(request, "agents.reports.approve" if approve else "agents.reports.reject",
                            {"id": request.match_info["id"]})
    except FormError as problem:
        if problem.status == 404:
            raise problem.problem from None
        code = problem.problem.code
        message = {
            "version-mismatch": "The token changed after the agent reported this, so the change may no longer "
                                "fit. Refuse it, and ask the agent to report again if it still holds.",
            "owner-changed": "The token has a new owner since the agent reported this; it is theirs to decide now.",
        }.get(code, problem.general)
        return await _page(request, error=message, status=problem.status)
    if approve:
        raise redirect(MINE, f"Applied: the token's {', '.join(report['attributes'])} changed as the agent reported.")
    raise redirect(MINE, "Refused: the token stays as it is.")

"""My webhooks (issue 23, item 1): subscribe an address to events, see each one's delivery log in
words, change, turn off and on, delete after a confirm step; and the signing secret, shown only
in answer to a "show" form (never on a GET page) and replaced after a confirm step."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, redirect, render, require_signed_in
from .wording import moment, until
from .wording import since as ago

__all__ = [
    "act",
    "create_webhook",
    "my_webhooks_page",
    "reveal_secret",
    "rotate_secret",
    "update_webhook",
    "webhook_page",
]

MINE = "/app/webhooks"

# Event families a person picks from; anything else goes in "other events".
FAMILIES = {
    "ledger.*": "Gives, mints and burns",
    "token.*": "Tokens made, changed or deleted",
    "type.*": "Token types made or changed",
    "set.*": "Sets and what is in them",
    "job.*": "Your jobs starting and finishing",
    "market.*": "Market lots, bids and sales",
    "contract.*": "Contracts and their payments",
    "pool.*": "Pools and reservations",
    "group.*": "Groups and their members",
    "organization.*": "Organizations, shares and votes",
    "follow.*": "Follows",
    "watcher.*": "Your watchers firing",
    "agent.*": "Agents' reports",
}
# What the commonest events mean; the log shows these words, with the name the program receives beside them.
EVENT_WORDS = {
    "ledger.create": "Units minted",
    "ledger.give": "A give",
    "ledger.burn": "Units burned",
    "token.created": "A token made",
    "token.updated": "A token changed",
    "token.deleted": "A token deleted",
    "type.created": "A token type made",
    "type.updated": "A token type changed",
    "set.created": "A set made",
    "set.tokens_added": "Tokens added to a set",
    "market.sale": "A sale",
    "watcher.fired": "A watcher found something",
    "group.member_added": "Someone joined a group",
    "webhook.created": "A webhook added",
    "webhook.updated": "A webhook changed",
}
OBJECT_TYPES = {
    "": "Anything",
    "token": "One token",
    "type": "One token type",
    "set": "One set",
    "ledger_entry": "One ledger entry",
    "job": "One job",
    "user": "One user",
    "group": "One group",
    "watcher": "One watcher",
}
DELIVERY_STATES = {"": "All", "pending": "Waiting", "delivered": "Delivered", "failed": "Failed"}
_NAMES = {"events": "other_events", "object_id": "object_id", "object_type": "object_type"}


def events_words(events: list[str]) -> str:
    """What a webhook receives, in words: "everything", or the families and names it lists."""
    if not events or "*" in events:
        return "every event you may see"
    return "; ".join(FAMILIES.get(name, name) for name in events)


def delivery_words(delivery: dict[str, Any]) -> str:
    """A delivery's state as a person would say it."""
    tries = delivery["attempts"]
    if delivery["state"] == "delivered":
        return f"Delivered {ago(delivery['delivered_at'])}" if delivery["delivered_at"] else "Delivered"
    if delivery["state"] == "failed":
        return f"Failed: gave up after {tries} tr{'y' if tries == 1 else 'ies'}"
    if not tries:
        return "Waiting to be sent"
    again = until(delivery["next_attempt_at"])
    return f"Not delivered yet: {tries} tr{'y' if tries == 1 else 'ies'} so far, trying again {again}"


def answer_words(delivery: dict[str, Any]) -> str:
    """What the receiving server last said (or why it could not be reached)."""
    status, error = delivery["last_status"], delivery["last_error"]
    if status and error:
        return f"It answered {status}: {error}"
    if status:
        return f"It answered {status}"
    return error or ""


def _form_values(hook: dict[str, Any]) -> dict[str, Any]:
    known = [name for name in hook["events"] if name in FAMILIES]
    return {
        "url": hook["url"],
        "description": hook["description"],
        "events": known,
        "other_events": ", ".join(name for name in hook["events"] if name not in FAMILIES),
        "object_type": hook["object_type"] or "",
        "object_id": hook["object_id"] or "",
        "version": str(hook["version"]),
    }


async def _read(request: web.Request) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The posted form: what to show back, what to send, and messages for fields left empty."""
    form = await request.post()
    text = {name: str(form.get(name, "")).strip() for name in ("url", "description", "other_events", "object_type",
                                                              "object_id", "version")}
    picked = [value for value in form.getall("events", []) if isinstance(value, str) and value in FAMILIES]
    others = [name for name in text["other_events"].replace(",", " ").split() if name]
    values: dict[str, Any] = {**text, "events": picked}
    data: dict[str, Any] = {"url": text["url"], "description": text["description"], "events": picked + others,
                            "object_type": text["object_type"] or None, "object_id": text["object_id"] or None}
    missing = {}
    if not text["url"]:
        missing["url"] = "Enter the address (a URL starting with https://) that should receive the events."
    if text["object_id"] and not text["object_type"]:
        missing["object_type"] = "Say what kind of thing the id names, or leave the id empty."
    return values, data, missing


def _refused(problem: FormError) -> tuple[dict[str, str], str]:
    """Field messages and the general one; a refused address belongs beside the address field."""
    if problem.problem.code == "callback-url-refused":
        return {**problem.fields, "url": problem.problem.detail}, ""
    return problem.fields, problem.general


async def _mine(request: web.Request, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200, secret: dict[str, Any] | None = None) -> web.Response:
    ctx = request[CTX]
    hooks = await REGISTRY.call(ctx, "webhooks.list", {"page_size": page_size(ctx, 20)})
    return render(request, "webhooks.html.j2", status=status, hooks=hooks.items, values=values or {"events": []},
                  errors=errors or {}, error=error, secret=secret, confirm=request.query.get("confirm", ""),
                  families=FAMILIES, object_types=OBJECT_TYPES, events_words=events_words, moment=moment)


@page
async def my_webhooks_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _mine(request)


@page
async def create_webhook(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    values, data, missing = await _read(request)
    if missing:
        return await _mine(request, values=values, errors=missing, status=400)
    try:
        made = await call(request, "webhooks.create", data, _NAMES)
    except FormError as problem:
        fields, general = _refused(problem)
        return await _mine(request, values=values, errors=fields, error=general, status=problem.status)
    raise redirect(f"{MINE}/{made['id']}", "Webhook saved. Events from now on are sent to it.")


@page
async def reveal_secret(request: web.Request) -> web.StreamResponse:
    """The secret in the answer to a POST only: a GET page (history, caches, a shoulder) never holds it."""
    require_signed_in(request)
    secret = await call(request, "webhooks.secret.get", {})
    return await _mine(request, secret=secret)


@page
async def rotate_secret(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    secret = await call(request, "webhooks.secret.rotate", {})
    return await _mine(request, secret={**secret, "new": True})


async def _detail(request: web.Request, hook_id: str, *, values: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    hook = await REGISTRY.call(ctx, "webhooks.get", {"id": hook_id})
    state = request.query.get("state", "")
    number = request.query.get("page", "1")
    query: dict[str, Any] = {"id": hook_id, "page_size": page_size(ctx, 20),
                             "page": int(number) if number.isdigit() and int(number) > 0 else 1}
    if state in DELIVERY_STATES and state:
        query["state"] = state
    deliveries = await REGISTRY.call(ctx, "webhooks.deliveries", query)
    for delivery in deliveries.items:
        delivery["words"], delivery["answer"] = delivery_words(delivery), answer_words(delivery)
        delivery["what"] = EVENT_WORDS.get(delivery["event"] or "", "An event")
    return render(request, "webhook.html.j2", status=status, hook=hook, deliveries=deliveries, state=state,
                  states=DELIVERY_STATES, values=values or _form_values(hook), errors=errors or {}, error=error,
                  confirm=request.query.get("confirm", ""), families=FAMILIES, object_types=OBJECT_TYPES,
                  events_words=events_words, moment=moment)


@page
async def webhook_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _detail(request, request.match_info["id"])


@page
async def update_webhook(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    hook_id = request.match_info["id"]
    values, data, missing = await _read(request)
    if missing:
        return await _detail(request, hook_id, values=values, errors=missing, status=400)
    request[CTX].if_match = values["version"] or None
    try:
        await call(request, "webhooks.update", {"id": hook_id, **data}, _NAMES)
    except FormError as problem:
        if problem.problem.code == "version-mismatch":
            message = ("Someone changed this webhook while you were editing; here it is as it is now. "
                       "Make your change again.")
            return await _detail(request, hook_id, error=message, status=409)
        if problem.status == 404:
            raise problem.problem from None  # not theirs: the plain 404 page
        fields, general = _refused(problem)
        return await _detail(request, hook_id, values=values, errors=fields, error=general, status=problem.status)
    raise redirect(f"{MINE}/{hook_id}", "Webhook saved.")


_ACTIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "on": ("webhooks.update", {"enabled": True}, "Webhook on: events from now on are sent to it."),
    "off": ("webhooks.update", {"enabled": False}, "Webhook off: nothing is sent to it until you turn it on."),
    "delete": ("webhooks.delete", {}, "Webhook deleted: nothing more is sent to it."),
}


@page
async def act(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    hook_id = request.match_info["id"]
    operation, data, done = _ACTIONS[request.match_info["action"]]
    try:
        await call(request, operation, {"id": hook_id, **data})
    except FormError as problem:
        if problem.status == 404:
            raise problem.problem from None  # not theirs: the plain 404 page
        return await _detail(request, hook_id, error=problem.general, status=problem.status)
    raise redirect(MINE if operation == "webhooks.delete" else f"{MINE}/{hook_id}", done)

"""ActivityPub documents over HTTP: actors, their collections, and object URLs.

The same URL serves ActivityPub JSON to servers and a small HTML page to browsers (DESIGN.md,
"API conventions"). Negotiation follows the Accept header with its q-values; ActivityPub
wins ties and answers `*/*` or a missing Accept, because machine clients often send those
while browsers always name text/html. Handlers stay thin: parse, call one operation, render.
"""

from __future__ import annotations

import html
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from aiohttp import web

from federation.documents import OBJECT_PATHS, actor_url, tombstone, vocabulary_document
from federation.httpsig_core import IncomingRequest
from federation.inbox import receive
from federation.onward import receive_ledger_request
from federation.remote_actors import signing_actor
from federation.remote_contracts import receive_contract_request
from federation.remote_stores import receive_store_request
from models.errors import BadInput, DomainError, Gone, TooLarge
from models.registry import REGISTRY

from .appkeys import CTX, SITE
from .jobs import WORKERS
from .pages.base import public_page
from .pages.pictures import supply_picture

__all__ = ["ACTIVITY_JSON", "LD_JSON", "activity_response", "add_activitypub_routes", "negotiate", "reject_nul"]

ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
Choice = Literal["activity", "ld", "html"]


class NotAcceptable(DomainError):
    status, code, title = 406, "not-acceptable", "Not acceptable"


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """(type/subtype, parameters, q) for each media range of an Accept header (RFC 9110 12.5.1)."""
    ranges = []
    for part in accept.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        ranges.append((pieces[0].lower(), params, q))
    return ranges


def _quality(ranges: list[tuple[str, dict[str, str], float]], wanted: str) -> tuple[int, float]:
    """(specificity, q) of the most specific range matching `wanted`; (-1, 0) when none does."""
    best = (-1, 0.0)
    major = wanted.split("/")[0]
    for media, params, q in ranges:
        if media == wanted:
            specificity = 2
        elif media == f"{major}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[0]:
            best = (specificity, q)
    return best


def negotiate(accept: str | None) -> Choice:
    """Which representation to send; 406 when the client accepts none of ours."""
    if not accept or not accept.strip():
        return "activity"
    ranges = _media_ranges(accept)
    scores: dict[Choice, tuple[int, float]] = {
        # plain application/json and JSON-LD without the profile get ActivityPub too (lenient for interop)
        "activity": max(_quality(ranges, ACTIVITY_JSON), _quality(ranges, "application/json")),
        "ld": _quality(ranges, "application/ld+json"),
        "html": max(_quality(ranges, "text/html"), _quality(ranges, "application/xhtml+xml")),
    }
    choice: Choice = max(scores, key=lambda name: (scores[name][1], scores[name][0] == 2, name != "html"))
    if scores[choice][1] <= 0:
        raise NotAcceptable(
            f"this resource is available as {ACTIVITY_JSON}, {LD_JSON} or text/html", code="not-acceptable"
        )
    return choice


def reject_nul(request: web.Request) -> None:
    """NUL cannot be stored or looked up (PostgreSQL refuses it): 400, as the API does."""
    if "\x00" in request.path or "\x00" in request.query_string or "%00" in request.raw_path:
        raise BadInput("NUL characters are not allowed in text", code="nul-character")


def activity_response(document: dict[str, Any], choice: Choice = "activity", *, status: int = 200) -> web.Response:
    content_type = LD_JSON if choice == "ld" else ACTIVITY_JSON
    return web.Response(
        body=orjson.dumps(document), status=status, headers={"Content-Type": content_type, "Vary": "Accept"}
    )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value) or "none"
    return orjson.dumps(value).decode()


# What a person reads on an object's page: our vocabulary's fields, in words.
_FACTS = {
    "TokenType": [("symbol", "Symbol"), ("fungible", "Divisible into units"), ("smallestUnit", "Decimal places"),
                  ("supplyLimit", "Supply limit"), ("minted", "Minted so far"), ("version", "Version")],
    "TokenSet": [("totalItems", "Tokens in the set"), ("version", "Version")],
    "LedgerEntry": [("entryKind", "Kind"), ("amount", "Amount"), ("tokenType", "Token type"), ("target", "To"),
                    ("flags", "Flags")],
    "Token": [("tokenType", "Token type"), ("version", "Version"), ("contentHash", "Content hash")],
    "Contract": [("contractState", "State"), ("tokenType", "Licensed type"), ("licensee", "Licensee"),
                 ("offer", "Offer"), ("derivedTypes", "Derived types"), ("startTime", "Started"), ("endTime", "Ended")],
    "ContractOffer": [("offerState", "State"), ("tokenType", "Licensed type")],
}
_APP_PATHS = {"TokenType": "types", "TokenSet": "sets", "Token": "tokens", "ContractOffer": "offers"}  # the same object in the app


async def _object_page(request: web.Request, document: dict[str, Any]) -> web.Response:
    kind = str(document["type"])
    facts = [(label, _shown(document.get(name))) for name, label in _FACTS.get(kind, []) if name in document]
    if kind == "Token":
        facts += [(name, _shown(value)) for name, value in sorted((document.get("attributes") or {}).items())]
    summary = html.unescape(document.get("summary") or "")  # escaped text in the document; markdown for types and sets
    app_path = f"/app/{_APP_PATHS[kind]}/{str(document['id']).rsplit('/', 1)[1]}" if kind in _APP_PATHS else None
    return await public_page(
        request, "object.html.j2", document=document, summary=summary, facts=facts, app_path=app_path,
        markdown_summary=kind in ("TokenType", "TokenSet"), kind_words=_KINDS.get(kind, kind),
        supply=_supply(document) if kind == "TokenType" else None,
    )


def _supply(document: dict[str, Any]) -> dict[str, str] | None:
    """A type document's supply gauge, as the app's type page draws it (none if its figures are missing)."""
    try:
        return supply_picture({"fungible": document["fungible"], "minted": document["minted"],
                               "supply_limit": document.get("supplyLimit"), "symbol": document["symbol"],
                               "name": document["name"]})
    except (KeyError, TypeError, ArithmeticError):
        return None


_KINDS = {
    "TokenType": "Token type", "TokenSet": "Set of tokens", "LedgerEntry": "Ledger operation", "Token": "Token",
    "Contract": "Contract", "ContractOffer": "Contract offer",
}


async def _actor(request: web.Request) -> web.StreamResponse:
    reject_nul(request)
    choice = negotiate(request.headers.get("Accept"))
    username = request.match_info.get("username")
    try:
        document = await REGISTRY.call(request[CTX], "federation.actor", {"username": username} if username else {})
    except Gone:
        if choice == "html" or not username:
            raise
        # A deleted account: servers get 410 with a Tombstone, so they drop it instead of retrying.
        gone = tombstone(actor_url(request.app[SITE].base_url, username.lower()), "Person")
        return activity_response(gone, choice, status=410)
    if choice == "html":
        handle = f"{document['preferredUsername']}@{request.app[SITE].domain}"
        return await public_page(request, "actor.html.j2", actor=document, handle=handle)
    return activity_response(document, choice)


async def _collection(request: web.Request) -> web.StreamResponse:
    reject_nul(request)
    choice = negotiate(request.headers.get("Accept"))
    raw: dict[str, Any] = {"collection": request.match_info["collection"]}
    if "username" in request.match_info:
        raw["username"] = request.match_info["username"]
    if "page" in request.query:
        raw["page"] = request.query["page"]
    signed = "Signature" in request.headers or "Signature-Input" in request.headers
    if signed and raw["collection"] == "outbox":  # a board's outbox shows a members board to members' servers
        signer = await signing_actor(request.app[SITE], await signed_request(request))
        request[CTX].extra["signed_by"] = signer.uri
    document = await REGISTRY.call(request[CTX], "federation.collection", raw)
    return activity_response(document, "ld" if choice == "ld" else "activity")


async def _objects(request: web.Request) -> web.StreamResponse:
    """An actor's current public objects, signed, paged oldest first (federation/backfill.py)."""
    reject_nul(request)
    choice = negotiate(request.headers.get("Accept"))
    raw: dict[str, Any] = {"username": request.match_info["username"]}
    raw.update({key: request.query[key] for key in ("page", "after", "object") if key in request.query})
    document = await REGISTRY.call(request[CTX], "federation.objects", raw)
    return activity_response(document, "ld" if choice == "ld" else "activity")


async def _proposal(request: web.Request) -> web.StreamResponse:
    """An organization's proposal (a Question) for its members: a fetch must be signed by a member
    elsewhere or their server (federation/org_votes.py); a signature that does not check is 401."""
    reject_nul(request)
    choice = negotiate(request.headers.get("Accept"))
    if "Signature" in request.headers or "Signature-Input" in request.headers:
        signer = await signing_actor(request.app[SITE], await signed_request(request))
        request[CTX].extra["signed_by"] = signer.uri
    document = await REGISTRY.call(request[CTX], "federation.proposal", {"id": request.match_info["id"]})
    return activity_response(document, "ld" if choice == "ld" else "activity")


def _object_handler(kind: str) -> Any:
    if kind == "proposal":
        return _proposal

    async def handle(request: web.Request) -> web.StreamResponse:
        reject_nul(request)
        choice = negotiate(request.headers.get("Accept"))
        raw = {"kind": kind, "id": request.match_info["id"]}
        document = await REGISTRY.call(request[CTX], "federation.signed_object", raw)  # with the owner's proof
        if choice == "html" and kind in ("lot", "store", "store_item"):  # a person opening its id gets its page
            raise web.HTTPSeeOther(str(document["url"]))
        if choice == "html":
            return await _object_page(request, document)
        return activity_response(document, choice)

    handle.__name__ = f"ap_{kind}"
    return handle


async def _board_entry(request: web.Request) -> web.StreamResponse:
    """One of our board entries (federation/board_groups.py): a Note or Page for servers, its
    thread's page for people; a deleted one is a Tombstone with 410."""
    reject_nul(request)
    choice = negotiate(request.headers.get("Accept"))
    board, entry = request.match_info["board"], request.match_info["id"]
    if choice == "html":
        raise web.HTTPSeeOther(f"/app/posts/{entry}")
    if "Signature" in request.headers or "Signature-Input" in request.headers:
        signer = await signing_actor(request.app[SITE], await signed_request(request))
        request[CTX].extra["signed_by"] = signer.uri
    try:
        document = await REGISTRY.call(request[CTX], "federation.board_entry", {"board": board, "id": entry})
    except Gone:
        gone = tombstone(f"{request.app[SITE].base_url}/boards/{board}/entries/{entry}", "Note")
        return activity_response(gone, choice, status=410)
    return activity_response(document, choice)


async def _trace(request: web.Request) -> web.StreamResponse:
    """A ledger entry and its ancestors, each signed by the type's owner: JSON for any client,
    as it is a file to keep and check (`tallystick verify`), not a page."""
    reject_nul(request)
    choice = negotiate(request.headers.get("Accept"))
    raw: dict[str, Any] = {"id": request.match_info["id"]}
    if "limit" in request.query:
        raw["limit"] = request.query["limit"]
    document = await REGISTRY.call(request[CTX], "federation.signed_trace", raw)
    return activity_response(document, "ld" if choice == "ld" else "activity")


async def signed_request(request: web.Request) -> IncomingRequest:
    """What an HTTP signature covers, as received (body read), with our public scheme: the same
    behind a TLS-terminating proxy."""
    scheme = request.app[SITE].base_url.split("://", 1)[0]
    return IncomingRequest.build(request.method, request.raw_path, request.headers.items(), await request.read(), scheme)


async def _inbox(request: web.Request) -> web.StreamResponse:
    """An inbox POST: verified and stored by federation.inbox, answered 202, processed later."""
    reject_nul(request)
    site = request.app[SITE]
    limit = site.federation.inbox_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the activity is {request.content_length} bytes; the limit is {limit}")
    outcome = await receive(site, request.match_info.get("username"), await signed_request(request))
    pool = request.app.get(WORKERS)
    if pool is not None and outcome == "accepted":
        pool.wake_federation()
    return web.Response(status=202, text=outcome)


async def _ledger_request(request: web.Request) -> web.StreamResponse:
    """A remote holder's signed request to give or burn its units of one of our types, answered
    at once with the entry (federation/onward.py)."""
    reject_nul(request)
    site = request.app[SITE]
    limit = site.federation.inbox_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the request is {request.content_length} bytes; the limit is {limit}")
    status, document = await receive_ledger_request(site, await signed_request(request))
    response = activity_response(document, status=status)
    response.headers["Location"] = str(document["id"])
    return response


async def _contract_request(request: web.Request) -> web.StreamResponse:
    """A remote licensee's signed request about a contract here (accept an offer, derive or mint
    under it, pay it), answered at once with the contract (federation/remote_contracts.py)."""
    reject_nul(request)
    site = request.app[SITE]
    limit = site.federation.inbox_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the request is {request.content_length} bytes; the limit is {limit}")
    status, answer = await receive_contract_request(site, await signed_request(request))
    response = activity_response(answer, status=status)
    response.headers["Location"] = str(answer["contract"]["id"])
    return response


async def _store_request(request: web.Request) -> web.StreamResponse:
    """A remote buyer's signed request to a store here (a basket, a move on their order, reading
    it), answered at once with the order (federation/remote_stores.py)."""
    reject_nul(request)
    site = request.app[SITE]
    limit = site.federation.inbox_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the request is {request.content_length} bytes; the limit is {limit}")
    status, answer = await receive_store_request(site, await signed_request(request))
    response = activity_response(answer, status=status)
    response.headers["Location"] = str(answer["order"]["id"])
    return response


async def _activity(request: web.Request) -> web.StreamResponse:
    reject_nul(request)
    choice = negotiate(request.headers.get("Accept"))
    document = await REGISTRY.call(request[CTX], "federation.activity", {"id": request.match_info["id"]})
    return activity_response(document, "ld" if choice == "ld" else "activity")


async def _vocabulary(request: web.Request) -> web.StreamResponse:
    """The JSON-LD context of our token vocabulary (its URL is in every object's @context)."""
    return web.Response(body=orjson.dumps(vocabulary_document()), content_type="application/ld+json")


async def _remote_follow(request: web.Request) -> web.StreamResponse:
    """The follow form on our public pages: off to the visitor's own server to confirm."""
    reject_nul(request)
    raw = {key: request.query[key] for key in ("handle", "target") if key in request.query}
    answer = await REGISTRY.call(request[CTX], "federation.remote_follow", raw)
    raise web.HTTPFound(answer["location"])


async def _authorize_interaction(request: web.Request) -> web.StreamResponse:
    """Our WebFinger subscribe template: someone of ours wants to follow `uri` (anywhere)."""
    reject_nul(request)
    uri = request.query.get("uri", "")
    if not uri.startswith(("https://", "http://")) or len(uri) > 2048:
        raise BadInput("uri must be the http(s) URL of an actor or object to follow", code="invalid-uri")
    raise web.HTTPFound(f"/app/actors?{urlencode({'target': uri})}")


def add_activitypub_routes(router: web.UrlDispatcher) -> None:
    collections = "{collection:inbox|outbox|followers|following}"
    router.add_get("/actor", _actor, name="ap_instance_actor")
    router.add_get(f"/actor/{collections}", _collection)
    router.add_get("/users/{username}", _actor, name="ap_actor")
    router.add_get(f"/users/{{username}}/{collections}", _collection)
    router.add_get("/users/{username}/objects", _objects, name="ap_objects")
    for kind, path in OBJECT_PATHS.items():
        router.add_get(f"/{path}/{{id}}", _object_handler(kind), name=f"ap_{kind}")
    router.add_get("/ledger/{id}/trace", _trace, name="ap_ledger_trace")
    router.add_get("/boards/{board}/entries/{id}", _board_entry, name="ap_board_entry")
    router.add_get("/ns", _vocabulary, name="ap_vocabulary")
    router.add_post("/inbox", _inbox, name="ap_shared_inbox")
    router.add_post("/ledger", _ledger_request, name="ap_ledger_requests")
    router.add_post("/contracts", _contract_request, name="ap_contract_requests")
    router.add_post("/store-orders", _store_request, name="ap_store_requests")
    router.add_post("/actor/inbox", _inbox, name="ap_instance_inbox")
    router.add_post("/users/{username}/inbox", _inbox, name="ap_inbox")
    router.add_get("/activities/{id}", _activity, name="ap_activity")
    router.add_get("/remote-follow", _remote_follow, name="remote_follow")
    router.add_get("/authorize_interaction", _authorize_interaction, name="authorize_interaction")

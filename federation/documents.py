"""ActivityStreams 2.0 JSON-LD documents for what other servers read about us.

Pure functions: they take plain dicts (the public views of our rows, which federation/objects.py
reads by id, plus the actor URLs it computed from the rows) and return JSON-LD dicts. No database, no network, so they are easy to test and to
reuse for outgoing activities later.

Objects carry `name`, `summary` and an HTML `content` besides our own vocabulary, so that a
generic ActivityPub server that knows nothing about tokens still has something readable to
show (ActivityStreams 2.0 section 4: `name`/`summary`/`content` are plain display fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

__all__ = [
    "AS_CONTEXT",
    "MULTIKEY_CONTEXT",
    "PUBLIC",
    "SECURITY_CONTEXT",
    "actor_document",
    "actor_url",
    "board_entry_attachments",
    "collection_page",
    "contract_document",
    "entry_document",
    "instance_actor_url",
    "object_url",
    "offer_document",
    "ordered_collection",
    "question_document",
    "set_document",
    "token_document",
    "tombstone",
    "trace_document",
    "trace_url",
    "type_document",
    "vocabulary_document",
    "vocabulary_url",
]

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
NAMESPACE = "https://tallystick.dev/ns#"  # stable term IRIs, whichever instance serves the context
ACTOR_TYPES = {"Person", "Service", "Organization", "Group", "Application"}
OBJECT_PATHS = {
    "token": "tokens", "type": "types", "set": "sets", "ledger": "ledger", "lot": "market/lots",
    "contract": "contracts", "offer": "contract-offers", "proposal": "proposals",
    "store": "stores", "store_item": "store-items",
}
STORE_ORDERS_PATH = "/store-orders"  # where a buyer of another server sends its signed order requests

_TERMS = {
    "ts": NAMESPACE,
    "Token": "ts:Token",
    "TokenType": "ts:TokenType",
    "TokenSet": "ts:TokenSet",
    "LedgerEntry": "ts:LedgerEntry",
    "tokenType": {"@id": "ts:tokenType", "@type": "@id"},
    "tokenOwner": {"@id": "ts:tokenOwner", "@type": "@id"},
    "traceOf": {"@id": "ts:traceOf", "@type": "@id"},
    "truncated": "ts:truncated",
    "parentToken": {"@id": "ts:parentToken", "@type": "@id"},
    "parentTypes": {"@id": "ts:parentTypes", "@type": "@id", "@container": "@list"},
    "parentSet": {"@id": "ts:parentSet", "@type": "@id"},
    "linkedSets": {"@id": "ts:linkedSets", "@type": "@id", "@container": "@set"},
    "token": {"@id": "ts:token", "@type": "@id"},
    "sources": {"@id": "ts:sources", "@container": "@list"},
    "attributes": {"@id": "ts:attributes", "@type": "@json"},
    "attributeDefinitions": {"@id": "ts:attributeDefinitions", "@type": "@json"},
    "symbol": "ts:symbol",
    "fungible": "ts:fungible",
    "smallestUnit": "ts:smallestUnit",
    "supplyLimit": "ts:supplyLimit",
    "minted": "ts:minted",
    "amount": "ts:amount",
    "entryKind": "ts:entryKind",
    "flags": "ts:flags",
    "flagDetails": {"@id": "ts:flagDetails", "@type": "@json"},
    "shareable": "ts:shareable",
    "version": "ts:version",
    "contentHash": "ts:contentHash",
    "commitments": {"@id": "ts:commitments", "@type": "@json"},
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    # the actor's current public objects, signed, oldest first (federation/backfill.py)
    "objects": {"@id": "ts:objects", "@type": "@id"},
    # a market lot, in FEP-0837's ValueFlows terms where they fit (models/market.py)
    "vf": "https://w3id.org/valueflows/ont/vf#",
    "om2": "http://www.ontology-of-units-of-measure.org/resource/om-2/",
    "Proposal": "vf:Proposal",
    "Intent": "vf:Intent",
    "purpose": "vf:purpose",
    "publishes": {"@id": "vf:publishes", "@type": "@id"},
    "reciprocal": {"@id": "vf:reciprocal", "@type": "@id"},
    "unitBased": "vf:unitBased",
    "action": "vf:action",
    "resourceConformsTo": {"@id": "vf:resourceConformsTo", "@type": "@id"},
    "resourceQuantity": "vf:resourceQuantity",
    "hasUnit": "om2:hasUnit",
    "hasNumericalValue": "om2:hasNumericalValue",
    "tokens": {"@id": "ts:tokens", "@type": "@id", "@container": "@list"},
    "lotKind": "ts:lotKind",
    "lotState": "ts:lotState",
    "bidCount": "ts:bidCount",
    "bestBid": "ts:bestBid",
    "nextMinimum": "ts:nextMinimum",
    "soldPrice": "ts:soldPrice",
    "winner": {"@id": "ts:winner", "@type": "@id"},
    "bidEndpoint": {"@id": "ts:bidEndpoint", "@type": "@id"},
    "bidAmount": "ts:bidAmount",
    # contracts across servers (models/contracts.py, federation/remote_contracts.py)
    "Contract": "ts:Contract",
    "ContractOffer": "ts:ContractOffer",
    "ContractUse": "ts:ContractUse",
    "ContractPayment": "ts:ContractPayment",
    "contract": {"@id": "ts:contract", "@type": "@id"},
    "offer": {"@id": "ts:offer", "@type": "@id"},
    "licensee": {"@id": "ts:licensee", "@type": "@id"},
    "contractState": "ts:contractState",
    "offerState": "ts:offerState",
    "terms": {"@id": "ts:terms", "@type": "@json"},
    "derivedTypes": "ts:derivedTypes",
    "derivedType": {"@id": "ts:derivedType", "@type": "@id"},
    "useKind": "ts:useKind",
    "units": "ts:units",
    "parentContracts": {"@id": "ts:parentContracts", "@type": "@json"},
    "contractEndpoint": {"@id": "ts:contractEndpoint", "@type": "@id"},
    # an organization's proposal as a Mastodon-shaped poll (docs/federation-organizations.md)
    "toot": "http://joinmastodon.org/ns#",
    "votersCount": "toot:votersCount",
    "proposalState": "ts:proposalState",
    "outcome": "ts:outcome",
    "outcomeError": {"@id": "ts:outcomeError", "@type": "@json"},
    "totalShares": "ts:totalShares",
    "quorumPercent": "ts:quorumPercent",
    "shareType": {"@id": "ts:shareType", "@type": "@id"},
    # stores and buyers on other servers (docs/stores.md)
    "Store": "ts:Store",
    "StoreItem": "ts:StoreItem",
    "StoreOrder": "ts:StoreOrder",
    "StoreOrderStep": "ts:StoreOrderStep",
    "store": {"@id": "ts:store", "@type": "@id"},
    "escrow": {"@id": "ts:escrow", "@type": "@id"},
    "orderEndpoint": {"@id": "ts:orderEndpoint", "@type": "@id"},
    "price": "ts:price",
    "priceType": {"@id": "ts:priceType", "@type": "@id"},
    "stock": "ts:stock",
    "unique": "ts:unique",
    "category": "ts:category",
    "categories": {"@id": "ts:categories", "@container": "@set"},
    "returnsPolicy": "ts:returnsPolicy",
    "storeOpen": "ts:storeOpen",
    "variantOf": {"@id": "ts:variantOf", "@type": "@id"},
    "variant": {"@id": "ts:variant", "@type": "@json"},
    "rating": {"@id": "ts:rating", "@type": "@json"},
    "orderState": "ts:orderState",
    "orderLines": {"@id": "ts:orderLines", "@type": "@json"},
    "orderHistory": {"@id": "ts:orderHistory", "@type": "@json"},
    "feedback": {"@id": "ts:feedback", "@type": "@json"},
    "buyer": {"@id": "ts:buyer", "@type": "@id"},
    "step": "ts:step",
    "note": "ts:note",
    "review": "ts:review",
    "resolution": "ts:resolution",
    "order": {"@id": "ts:order", "@type": "@id"},
    "boardKind": "ts:boardKind",
    "boardVisibility": "ts:boardVisibility",
    "membersOnly": "ts:membersOnly",
    "repliesAllowed": "ts:repliesAllowed",
    "mediaAllowed": "ts:mediaAllowed",
    "votesAllowed": "ts:votesAllowed",
    "subject": {"@id": "ts:subject", "@type": "@json"},
    "audience": {"@id": "as:audience", "@type": "@id"},
    "moderators": {"@id": "ts:moderators", "@type": "@id"},
    "votes": {"@id": "ts:votes", "@type": "@json"},
}


def vocabulary_url(base_url: str) -> str:
    """Where this instance serves the JSON-LD context of our token vocabulary."""
    return f"{base_url}/ns"


def vocabulary_document() -> dict[str, Any]:
    return {"@context": dict(_TERMS)}


def actor_url(base_url: str, username: str) -> str:
    return f"{base_url}/users/{username}"


def instance_actor_url(base_url: str) -> str:
    return f"{base_url}/actor"


def object_url(base_url: str, kind: str, object_id: str) -> str:
    """The stable URL of a token ("token"), type, set or ledger entry ("ledger")."""
    return f"{base_url}/{OBJECT_PATHS[kind]}/{object_id}"


def _object_context(base_url: str) -> list[Any]:
    return [AS_CONTEXT, vocabulary_url(base_url)]


def actor_document(
    actor: dict[str, Any],
    *,
    actor_id: str,
    base_url: str,
    rsa_public_pem: str,
    ed25519_multibase: str,
) -> dict[str, Any]:
    """A Person/Service actor with its RSA `publicKey` and Ed25519 Multikey (FEP-521a).

    `actor` has username, display_name, kind, created_at and optionally summary_html (HTML that
    the caller already sanitised, as ActivityStreams `summary` is HTML).
    """
    kind = actor.get("kind") if actor.get("kind") in ACTOR_TYPES else "Person"
    document: dict[str, Any] = {
        "@context": [AS_CONTEXT, SECURITY_CONTEXT, MULTIKEY_CONTEXT, vocabulary_url(base_url)],
        "id": actor_id,
        "type": kind,
        "preferredUsername": actor["username"],
        "name": actor.get("display_name") or actor["username"],
        "summary": actor.get("summary_html") or "",
        "url": actor_id,
        "inbox": f"{actor_id}/inbox",
        "outbox": f"{actor_id}/outbox",
        "followers": f"{actor_id}/followers",
        "following": f"{actor_id}/following",
        "endpoints": {"sharedInbox": f"{base_url}/inbox"},
        "manuallyApprovesFollowers": False,
        "published": actor.get("created_at"),
        "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": rsa_public_pem},
        "assertionMethod": [
            {
                "id": f"{actor_id}#ed25519-key",
                "type": "Multikey",
                "controller": actor_id,
                "publicKeyMultibase": ed25519_multibase,
            }
        ],
    }
    if actor_id != instance_actor_url(base_url):  # what a new follower copies (the instance owns nothing)
        document["objects"] = f"{actor_id}/objects"
    return document


def tombstone(object_id: str, former_type: str | None = None) -> dict[str, Any]:
    """What stands in for a deleted object or actor (ActivityStreams vocabulary: Tombstone)."""
    document: dict[str, Any] = {"@context": AS_CONTEXT, "id": object_id, "type": "Tombstone"}
    if former_type:
        document["formerType"] = former_type
    return document


def ordered_collection(collection_id: str, total: int, *, paged: bool) -> dict[str, Any]:
    """An OrderedCollection; paged ones name their `first` page instead of listing items."""
    document: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if paged:
        document["first"] = f"{collection_id}?page=1"
    else:
        document["orderedItems"] = []
    return document


def collection_page(collection_id: str, page: int, items: list[Any], *, has_next: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": f"{collection_id}?page={page}",
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
        "orderedItems": items,
    }
    if has_next:
        document["next"] = f"{collection_id}?page={page + 1}"
    if page > 1:
        document["prev"] = f"{collection_id}?page={page - 1}"
    return document


def _html_list(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<li>{escape(str(key))}: {escape(_text(value))}</li>" for key, value in pairs)
    return f"<ul>{rows}</ul>" if rows else ""


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value)
    return str(value)


def token_document(
    token: dict[str, Any], *, base_url: str, owner_url: str, type_name: str, type_symbol: str
) -> dict[str, Any]:
    """A token (its public view: private attributes must already be left out)."""
    object_id = object_url(base_url, "token", token["id"])
    attributes: dict[str, Any] = token.get("attributes") or {}
    title = attributes.get("name") if isinstance(attributes.get("name"), str) else None
    name = title or f"{type_name} token {token['id']}"
    owner = token["owner"].get("handle", "")
    summary = f"A {type_name} ({type_symbol}) token owned by @{owner}"
    content = f"<p>{escape(summary)}</p>" + _html_list(sorted(attributes.items()))
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "Token",
        "url": object_id,
        "attributedTo": owner_url,
        "name": name,
        "summary": escape(summary),
        "content": content,
        "mediaType": "text/html",
        "tokenType": object_url(base_url, "type", token["type"]),
        "attributes": attributes,
        "shareable": token.get("shareable", False),
        "version": token.get("version"),
        "contentHash": token.get("content_hash"),
        "published": token.get("created_at"),
        "updated": token.get("updated_at"),
        "to": [PUBLIC],
    }
    if token.get("commitments"):  # salted commitments to private values (models/commitments.py)
        document["commitments"] = token["commitments"]
    if token.get("parent"):
        document["parentToken"] = object_url(base_url, "token", token["parent"])
    return document


def _ref(base_url: str, kind: str, value: str) -> str:
    """An object named by our id, or by its URL when it lives on another server."""
    return value if value.startswith(("https://", "http://")) else object_url(base_url, kind, value)


def type_document(token_type: dict[str, Any], *, base_url: str, owner_url: str) -> dict[str, Any]:
    """A token type: its symbol, units, supply and attribute definitions. A parent used under a
    contract is named with that contract (`parentContracts`), on this server or another, so
    whoever checks a copy can ask the licensor's server whether it holds."""
    object_id = object_url(base_url, "type", token_type["id"])
    under = [{"parent": _ref(base_url, "type", link["parent"]), "contract": _ref(base_url, "contract", link["contract"])}
             for link in token_type.get("parent_links") or [] if link.get("contract")]
    kind = "fungible" if token_type.get("fungible") else "non-fungible"
    summary = token_type.get("description") or f"A {kind} token type ({token_type['symbol']})"
    facts = [
        ("symbol", token_type["symbol"]),
        ("fungible", token_type.get("fungible")),
        ("decimal places", token_type.get("smallest_unit")),
        ("supply limit", token_type.get("supply_limit") or "none"),
        ("minted", token_type.get("minted")),
    ]
    return {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "TokenType",
        "url": object_id,
        "attributedTo": owner_url,
        "name": token_type["name"],
        "summary": escape(summary),
        "content": f"<p>{escape(summary)}</p>" + _html_list(facts),
        "mediaType": "text/html",
        "symbol": token_type["symbol"],
        "fungible": token_type.get("fungible"),
        "smallestUnit": token_type.get("smallest_unit"),
        "supplyLimit": token_type.get("supply_limit"),
        "minted": token_type.get("minted"),
        "parentTypes": [_ref(base_url, "type", parent) for parent in token_type.get("parents") or []],
        **({"parentContracts": under} if under else {}),
        "attributeDefinitions": token_type.get("attributes") or [],
        "version": token_type.get("version"),
        "published": token_type.get("created_at"),
        "updated": token_type.get("updated_at"),
        "to": [PUBLIC],
    }


def set_document(token_set: dict[str, Any], *, base_url: str, owner_url: str) -> dict[str, Any]:
    """A token set: a named collection of tokens with a parent set and linked sets."""
    object_id = object_url(base_url, "set", token_set["id"])
    count = token_set.get("token_count", 0)
    summary = token_set.get("description") or f"A set of {count} tokens"
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "TokenSet",
        "url": object_id,
        "attributedTo": owner_url,
        "name": token_set["name"],
        "summary": escape(summary),
        "content": f"<p>{escape(summary)}</p>" + _html_list([("tokens", count)]),
        "mediaType": "text/html",
        "totalItems": count,
        "linkedSets": [object_url(base_url, "set", linked) for linked in token_set.get("links") or []],
        "version": token_set.get("version"),
        "published": token_set.get("created_at"),
        "updated": token_set.get("updated_at"),
        "to": [PUBLIC],
    }
    if token_set.get("parent"):
        document["parentSet"] = object_url(base_url, "set", token_set["parent"])
    return document


def entry_document(
    entry: dict[str, Any],
    *,
    base_url: str,
    author_url: str,
    recipient_url: str | None,
    type_symbol: str,
    token_owner_url: str | None = None,
) -> dict[str, Any]:
    """A ledger entry (create, give or burn) with the entries it spent as sources.

    `tokenOwner` names the owner of the entry's type: the ledger is kept on the type owner's
    server, which signs every entry with that owner's key whoever authored it (a holder on
    another server gives onward), so one key checks a whole trace.
    """
    object_id = object_url(base_url, "ledger", entry["id"])
    amount = f"{entry['amount']} {type_symbol}"
    verbs = {"create": "created", "give": "gave", "burn": "burned"}
    summary = f"@{entry['author']} {verbs.get(entry['kind'], entry['kind'])} {amount}"
    if entry.get("recipient") and entry["kind"] == "give":
        summary += f" to @{entry['recipient']}"
    flagged = [
        f"{flag['label']} (by @{flag['by']})" if flag['by'] else flag['label'] for flag in entry.get("flag_details") or []
    ]
    facts = [("description", entry.get("description") or "—"), ("flags", flagged or entry.get("flags") or "none")]
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "LedgerEntry",
        "url": object_id,
        "attributedTo": author_url,
        "name": f"{entry['kind']} {amount}",
        "summary": escape(summary),
        "content": f"<p>{escape(summary)}</p>" + _html_list(facts),
        "mediaType": "text/html",
        "entryKind": entry["kind"],
        "tokenType": object_url(base_url, "type", entry["type"]),
        "amount": entry["amount"],
        "sources": [
            {"id": object_url(base_url, "ledger", source_id), "amount": spent} for spent, source_id in entry.get("sources") or []
        ],
        "flags": entry.get("flags") or [],
        "flagDetails": entry.get("flag_details") or [],  # who set each label, and when
        "published": entry.get("created_at"),
        "to": [PUBLIC],
    }
    if token_owner_url:
        document["tokenOwner"] = token_owner_url
    if recipient_url:
        document["target"] = recipient_url
    if entry.get("token"):
        document["token"] = object_url(base_url, "token", entry["token"])
    return document


def _quantity(amount: str | None, type_url: str) -> dict[str, Any] | None:
    return None if amount is None else {"hasUnit": "one", "hasNumericalValue": amount, "resourceConformsTo": type_url}


def lot_document(lot: dict[str, Any], *, base_url: str, seller_url: str, winner_url: str | None) -> dict[str, Any]:
    """A market lot as an FEP-0837 `Proposal`: it `publishes` what is sold (an Intent to
    transfer units of the item type) and asks the `reciprocal` (an Intent to transfer units of
    the price type: the price, or the least bid now). Bids are ledger requests to the price
    type's origin naming this lot as their target (`bidEndpoint`, docs/federation-ledger.md)."""
    object_id = object_url(base_url, "lot", lot["id"])
    item, price_url = lot["item"], object_url(base_url, "type", lot["price_type"])
    item_url = object_url(base_url, "type", item["type"])
    asked = lot.get("price") or lot.get("next_minimum") or lot.get("current_price") or lot.get("start_price")
    what = f"{item['amount']} {item['symbol']}"
    name = lot["title"] or f"{what} for {lot['price_symbol']}"
    facts = [("kind", lot["kind"].replace("_", " ")), ("state", lot["state"]), ("sells", what),
             ("paid in", lot["price_symbol"]), ("closes", lot.get("closes_at") or "—")]
    publishes: dict[str, Any] = {"id": f"{object_id}#primary", "type": "Intent", "action": "transfer",
                                 "resourceConformsTo": item_url, "resourceQuantity": _quantity(item["amount"], item_url)}
    if item["tokens"]:
        publishes["tokens"] = [object_url(base_url, "token", token) for token in item["tokens"]]
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "Proposal",
        "url": f"{base_url}/app/market/lots/{lot['id']}",
        "attributedTo": seller_url,
        "name": name,
        "summary": escape(f"{lot['kind'].replace('_', ' ')}: {what}"),
        "content": (f"<p>{escape(lot['description'])}</p>" if lot["description"] else "") + _html_list(facts),
        "mediaType": "text/html",
        "purpose": "offer",
        "publishes": publishes,
        "reciprocal": {"id": f"{object_id}#reciprocal", "type": "Intent", "action": "transfer",
                       "resourceConformsTo": price_url, "resourceQuantity": _quantity(asked, price_url)},
        "unitBased": False,
        "lotKind": lot["kind"],
        "lotState": lot["state"],
        "bidCount": lot["bid_count"],
        "bestBid": lot.get("best_bid"),
        "nextMinimum": lot.get("next_minimum"),
        "soldPrice": lot.get("sold_price"),
        "bidEndpoint": f"{base_url}/ledger",
        "published": lot["created_at"],
        "updated": lot["updated_at"],
        "to": [PUBLIC],
    }
    for name, value in (("startTime", lot.get("opens_at")), ("endTime", lot.get("closes_at")), ("winner", winner_url)):
        if value:
            document[name] = value
    return document


def offer_document(offer: dict[str, Any], *, base_url: str, licensor_url: str) -> dict[str, Any]:
    """A contract offer made to anyone (models/operations/contracts.py `offer_views`): its type,
    its terms, and where a user of another server accepts it (`contractEndpoint`, a signed
    `Accept` of the offer: docs/federation-ledger.md)."""
    object_id = object_url(base_url, "offer", offer["id"])
    terms = {name: offer[name] for name in (
        "price_per_type", "rate_per_unit", "fee", "period_seconds", "max_types", "max_units_per_period",
        "expires_at", "notice_seconds", "cancel_by", "penalty", "grace_seconds",
    )}
    if offer.get("payment_type"):
        terms["payment_type"] = object_url(base_url, "type", offer["payment_type"])
    name = offer["title"] or f"Contract offer for {offer['type_symbol']}"
    facts = [("state", offer["state"]), ("fee", offer["fee"]), ("rate per unit", offer["rate_per_unit"]),
             ("price per type", offer["price_per_type"]), ("paid in", offer.get("payment_symbol") or "—")]
    return {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "ContractOffer",
        "url": object_id,
        "attributedTo": licensor_url,
        "name": name,
        "summary": escape(f"Terms on which others may derive types from {offer['type_symbol']}"),
        "content": _html_list(facts),
        "mediaType": "text/html",
        "tokenType": object_url(base_url, "type", offer["type"]),
        "offerState": offer["state"],
        "terms": terms,
        "contractEndpoint": f"{base_url}/contracts",
        "published": offer["created_at"],
        "to": [PUBLIC],
    }


def contract_document(contract: dict[str, Any], *, base_url: str, licensor_url: str, licensee_url: str) -> dict[str, Any]:
    """A contract's public facts: its parties, type, offer and state (no money figures): what
    whoever checks a derived type's copy needs to know that the licence holds."""
    object_id = object_url(base_url, "contract", contract["id"])
    summary = f"A licence to derive types from {contract['type_symbol']}, held by @{contract['licensee']}: {contract['state']}"
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "Contract",
        "url": object_id,
        "attributedTo": licensor_url,
        "licensee": licensee_url,
        "name": f"Contract on {contract['type_symbol']}",
        "summary": escape(summary),
        "content": f"<p>{escape(summary)}</p>" + _html_list([("state", contract["state"]),
                                                            ("derived types", contract["derived_types"])]),
        "mediaType": "text/html",
        "tokenType": object_url(base_url, "type", contract["type"]),
        "offer": object_url(base_url, "offer", contract["offer"]),
        "contractState": contract["state"],
        "derivedTypes": contract["derived_types"],
        "startTime": contract["started_at"],
        "published": contract["started_at"],
        "contractEndpoint": f"{base_url}/contracts",
        "to": [PUBLIC],
    }
    if contract.get("ended_at"):
        document["endTime"] = contract["ended_at"]
    return document


def trace_url(base_url: str, entry_id: str) -> str:
    """Where the signed trace of a ledger entry is served."""
    return f"{object_url(base_url, 'ledger', entry_id)}/trace"


def trace_document(base_url: str, entry_id: str, entries: list[dict[str, Any]], *, truncated: bool) -> dict[str, Any]:
    """A ledger entry and every ancestor (each a signed entry document with its own @context),
    the entry first: a copy anyone can check offline against the type owner's key."""
    return {
        "@context": _object_context(base_url),
        "id": trace_url(base_url, entry_id),
        "type": "OrderedCollection",
        "traceOf": object_url(base_url, "ledger", entry_id),
        "totalItems": len(entries),
        "truncated": truncated,
        "orderedItems": entries,
    }


def question_document(
    proposal: dict[str, Any], *, base_url: str, organization_url: str, audience: list[str], share_type_url: str | None,
) -> dict[str, Any]:
    """An organization's proposal as an ActivityStreams `Question` shaped like a Mastodon poll:
    `oneOf` yes/no/abstain, each option's `replies.totalItems` the shares behind it (what
    decides: a poll's percentages are then the shares' split), `votersCount` the members who
    voted, `endTime` the deadline, `closed` once decided, and the outcome in our own terms.
    `proposal` is models.operations.organizations.proposal_view with `voters`."""
    object_id = object_url(base_url, "proposal", proposal["id"])
    voters = proposal.get("voters") or []
    result = ""  # a poll client shows `content`: the result in words once decided
    if proposal["decided_at"]:
        result = f"{proposal['state']} ({(proposal['outcome'] or '').replace('-', ' ')})"
        if proposal["error"]:
            result += f": {proposal['error'].get('detail', '')}"
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "Question",
        "attributedTo": organization_url,
        "name": proposal["title"],
        "content": f"<p>{escape(proposal['title'])}</p>"
                   + (f"<p>{escape(proposal['description'])}</p>" if proposal["description"] else "")
                   + (f"<p>Result: {escape(result)}</p>" if result else ""),
        "mediaType": "text/html",
        "published": proposal["created_at"],
        "endTime": proposal["deadline"],
        "oneOf": [
            {"type": "Note", "name": choice, "replies": {"type": "Collection", "totalItems": _whole(amount)}}
            for choice, amount in proposal["tally"].items()
        ],
        "votersCount": sum(1 for voter in voters if voter["choice"]),
        "proposalState": proposal["state"],
        "totalShares": proposal["total_shares"],
        "quorumPercent": proposal["quorum_percent"],
        "to": audience,
    }
    if share_type_url:
        document["shareType"] = share_type_url
    if proposal["decided_at"]:
        document["closed"] = proposal["decided_at"]
        document["updated"] = proposal["decided_at"]
        document["outcome"] = proposal["outcome"]
    if proposal["error"]:
        document["outcomeError"] = {key: proposal["error"][key] for key in ("code", "detail", "step") if key in proposal["error"]}
    return document


def _whole(amount: str) -> int | str:
    """Shares as a JSON number when whole (a poll's counts are integers), else the decimal text."""
    return int(amount) if amount.isdigit() else amount


def store_escrow_url(base_url: str, store_id: str) -> str:
    """The id of a store's escrow in ledger entries: what it holds, the store holds for its orders
    (an escrow has no keys and no inbox, so it is named under its store, as a lot's is by its lot)."""
    return f"{object_url(base_url, 'store', store_id)}/escrow"


def store_item_document(item: dict[str, Any], *, base_url: str, store_id: str, organization_url: str) -> dict[str, Any]:
    """A store's item (models/operations/stores.py `item_view`): what it is, its price in a type
    of this server, and its stock; a buyer of another server orders it at the store's `orderEndpoint`."""
    object_id = object_url(base_url, "store_item", item["id"])
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "StoreItem",
        "url": f"{base_url}/app/stores/{item['store']}/items/{item['id']}",
        "attributedTo": organization_url,
        "store": object_url(base_url, "store", store_id),
        "name": item["title"],
        "content": item["description_html"],
        "mediaType": "text/html",
        "tokenType": object_url(base_url, "type", item["type"]),
        "price": item["price"],
        "priceType": object_url(base_url, "type", item["price_type"]),
        "symbol": item["price_symbol"],
        "stock": item["stock"],
        "unique": item["unique"],
        "rating": item["rating"],
        "published": item["created_at"],
        "to": [PUBLIC],
    }
    if item["category"]:
        document["category"] = item["category"]
    if item["variant_of"]:
        document["variantOf"] = object_url(base_url, "store_item", item["variant_of"])
        document["variant"] = item["variant"]
    return document


def store_document(
    store: dict[str, Any], items: list[dict[str, Any]], *, base_url: str, organization_url: str
) -> dict[str, Any]:
    """A store's storefront: its words, rules and listed items (each a `StoreItem`), and where a
    buyer of another server sends its order requests (`orderEndpoint`, docs/stores.md)."""
    object_id = object_url(base_url, "store", store["id"])
    return {
        "@context": _object_context(base_url),
        "id": object_id,
        "type": "Store",
        "url": f"{base_url}/app/stores/{store['slug']}",
        "attributedTo": organization_url,
        "name": store["title"],
        "content": store["description_html"],
        "mediaType": "text/html",
        "categories": store["categories"],
        "returnsPolicy": store["returns"],
        "storeOpen": store["is_open"],
        "rating": store["rating"],
        "escrow": store_escrow_url(base_url, store["id"]),
        "orderEndpoint": f"{base_url}{STORE_ORDERS_PATH}",
        "items": {
            "type": "Collection", "totalItems": len(items),
            "items": [
                {key: value for key, value in store_item_document(
                    item, base_url=base_url, store_id=store["id"], organization_url=organization_url,
                ).items() if key != "@context"}
                for item in items
            ],
        },
        "published": store["created_at"],
        "updated": store["updated_at"],
        "to": [PUBLIC],
    }


def store_order_url(base_url: str, order_id: str) -> str:
    return f"{base_url}{STORE_ORDERS_PATH}/{order_id}"


def store_order_document(
    order: dict[str, Any], *, base_url: str, store_id: str, buyer_url: str, organization_url: str
) -> dict[str, Any]:
    """An order (models/operations/stores_orders.py `order_view`) as its buyer of another server
    is answered it: not public, so not served at its id; it comes back with each of the buyer's requests."""
    return {
        "@context": _object_context(base_url),
        "id": store_order_url(base_url, order["id"]),
        "type": "StoreOrder",
        "attributedTo": organization_url,
        "store": object_url(base_url, "store", store_id),
        "buyer": buyer_url,
        "orderState": order["state"],
        "orderLines": [
            {"item": object_url(base_url, "store_item", line["item"]), "name": line["title"],
             "quantity": line["quantity"], "unitPrice": line["unit_price"], "amount": line["amount"]}
            for line in order["lines"]
        ],
        "amount": order["total"],
        "priceType": object_url(base_url, "type", order["price_type"]),
        "symbol": order["price_symbol"],
        "resolution": order["resolution"],
        "orderHistory": [{"state": move["state"], "at": move["at"], "note": move["note"]} for move in order["history"]],
        "endTime": order["due_at"],
        "feedback": {"rating": order["feedback"]["rating"], "review": order["feedback"]["review"]} if order["feedback"] else None,
        "published": order["created_at"],
        "updated": order["updated_at"],
    }


PAGE_NAME_CHARS = 100  # a Page's `name` (Lemmy shows it as the title): the entry's first words


def board_entry_document(
    entry: dict[str, Any], *, base_url: str, entry_id: str, author_url: str, group_url: str, parent_url: str | None,
    page: bool, public: bool, media_urls: list[tuple[str, str]],
) -> dict[str, Any]:
    """A board entry as a `Page` (a thread's top entry on a discussion or review board: Lemmy's post)
    or a `Note` (a chat message, a reply: Lemmy's comment, Mastodon's status), addressed to the
    board's group (FEP-1b12 `audience`). `entry` has body (markdown), html (sanitised), created_at,
    edited_at, rating, subject_kind, subject_id; media_urls pairs (url, content type)."""
    to = [group_url, *([PUBLIC] if public else [])]
    document: dict[str, Any] = {
        "@context": _object_context(base_url),
        "id": entry_id,
        "type": "Page" if page else "Note",
        "attributedTo": author_url,
        "audience": group_url,
        "to": to,
        "cc": [f"{group_url}/followers"],
        "content": entry["html"],
        "mediaType": "text/html",
        "source": {"content": entry["body"], "mediaType": "text/markdown"},
        "published": entry["created_at"],
    }
    if page:
        first = " ".join((entry["body"] or "").split())
        document["name"] = first[:PAGE_NAME_CHARS] + ("…" if len(first) > PAGE_NAME_CHARS else "") or "Untitled"
    if parent_url:
        document["inReplyTo"] = parent_url
    if entry.get("edited_at"):
        document["updated"] = entry["edited_at"]
    if entry.get("rating") is not None:
        document["rating"] = entry["rating"]
        document["subject"] = {"kind": entry["subject_kind"], "id": entry["subject_id"]}
    if media_urls:
        document["attachment"] = [
            {"type": "Image" if kind.startswith("image/") else "Document", "url": url, "mediaType": kind}
            for url, kind in media_urls
        ]
    return document


def board_entry_attachments(document: Mapping[str, Any], most: int) -> list[dict[str, str]]:
    """The attachments of an entry from elsewhere, kept as links: its first `most` items with an
    http(s) `url` (a string, a Link's `href`, or the first of a list), each {url, media_type, name}.
    Nothing is fetched: pages link to them (their CSP keeps img-src 'self')."""
    kept: list[dict[str, str]] = []
    listed = document.get("attachment")
    items: list[Any] = listed if isinstance(listed, list) else [listed]
    for item in items:
        if len(kept) >= most:
            break
        if not isinstance(item, Mapping):
            continue
        url: Any = item.get("url") if item.get("url") is not None else item.get("href")
        if isinstance(url, list):
            url = url[0] if url else None
        if isinstance(url, Mapping):
            url = url.get("href")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
            continue
        kind = item.get("mediaType")
        name = item.get("name")
        kept.append({"url": url, "media_type": kind[:100] if isinstance(kind, str) else "",
                     "name": " ".join(name.split())[:200] if isinstance(name, str) else ""})
    return kept

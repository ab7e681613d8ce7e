"""Object documents: tokens, types, sets and ledger entries as ActivityPub JSON-LD and HTML."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from federation import documents
from models.events import Event

from .conftest import Api, assert_problem
from .sethelpers import add, make_set, make_token, make_type

BASE = "http://127.0.0.1:8080"
AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def fetch(api: Api, path: str, accept: str = AP) -> dict[str, Any]:
    reply = await api.get(path, headers={"Accept": accept})
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"].startswith(accept.split(";")[0])
    return orjson.loads(reply.text)


def check_readable(document: dict[str, Any]) -> None:
    """Generic servers need name, summary and content to show anything."""
    assert documents.AS_CONTEXT in document["@context"] and f"{BASE}/ns" in document["@context"]
    for field in ("name", "summary", "content"):
        assert isinstance(document[field], str) and document[field], field


async def test_token_document__public_attributes_only(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    token_id = await make_token(api, alice, type_id, label="Ruby", colour="red", secret="under the mattress")
    published = Event.exclude(name="actor.keys_created")  # signing makes the owner's keys on first use
    events = await published.count()
    for accept in (AP, LD):
        document = await fetch(api, f"/tokens/{token_id}", accept)
        check_readable(document)
        assert document["id"] == f"{BASE}/tokens/{token_id}" and document["type"] == "Token"
        assert document["attributedTo"] == f"{BASE}/users/alice"
        assert document["tokenType"] == f"{BASE}/types/{type_id}"
        assert document["attributes"]["label"] == "Ruby" and document["attributes"]["colour"] == "red"
        assert "secret" not in document["attributes"]
        assert "under the mattress" not in orjson.dumps(document).decode()
    # even the owner's signed-in fetch publishes only the public form
    reply = await api.get(f"/tokens/{token_id}", headers={"Accept": AP, "Authorization": f"Bearer {alice}"})
    assert "under the mattress" not in reply.text
    page = await api.get(f"/tokens/{token_id}", headers={"Accept": BROWSER})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Ruby" in page.text and "under the mattress" not in page.text
    assert await published.count() == events  # reading publishes nothing


async def test_token_document__html_escapes_attribute_values(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    token_id = await make_token(api, alice, type_id, label="<img src=x onerror=alert(1)>")
    document = await fetch(api, f"/tokens/{token_id}")
    assert "<img" not in document["content"] and "&lt;img" in document["content"]
    page = await api.get(f"/tokens/{token_id}", headers={"Accept": "text/html"})
    assert "<img" not in page.text and "&lt;img src=x" in page.text


async def test_type_document__shape(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice, description="Shiny stones")
    document = await fetch(api, f"/types/{type_id}")
    check_readable(document)
    assert document["type"] == "TokenType" and document["id"] == f"{BASE}/types/{type_id}"
    assert document["name"] == "Gem" and document["symbol"] == "GEM" and document["fungible"] is False
    assert document["summary"] == "Shiny stones"
    assert document["attributedTo"] == f"{BASE}/users/alice"
    assert {item["name"] for item in document["attributeDefinitions"]} >= {"label", "secret"}
    page = await api.get(f"/types/{type_id}", headers={"Accept": BROWSER})
    assert page.status == 200 and "Shiny stones" in page.text


async def test_set_document__shape(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    token_id = await make_token(api, alice, type_id, label="Ruby")
    parent = await make_set(api, alice, "Cabinet")
    shelf = await make_set(api, alice, "Shelf", parent=parent["id"])
    assert (await add(api, alice, shelf["id"], token_id)).status in (200, 201)
    document = await fetch(api, f"/sets/{shelf['id']}")
    check_readable(document)
    assert document["type"] == "TokenSet" and document["name"] == "Shelf"
    assert document["totalItems"] == 1
    assert document["parentSet"] == f"{BASE}/sets/{parent['id']}"
    assert document["attributedTo"] == f"{BASE}/users/alice"


async def test_entry_document__give_names_both_actors(api: Api) -> None:
    alice = await api.user("alice")
    await api.user("bob")
    coin = await api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2},
                          token=alice)
    created = await api.post("/api/v1/ledger/create", {"type": coin.body["id"], "amount": "10.00"}, token=alice)
    given = await api.post("/api/v1/ledger/give", {"type": coin.body["id"], "amount": "2.50", "to": "bob"}, token=alice)
    assert given.status == 201, given
    document = await fetch(api, f"/ledger/{given.body['id']}")
    check_readable(document)
    assert document["type"] == "LedgerEntry" and document["entryKind"] == "give"
    assert document["amount"] == "2.50"
    assert document["attributedTo"] == f"{BASE}/users/alice"
    assert document["target"] == f"{BASE}/users/bob"
    assert document["sources"] == [{"id": f"{BASE}/ledger/{created.body['id']}", "amount": "2.50"}]
    assert "2.50 CN" in document["summary"] and "@bob@" in document["summary"]
    page = await api.get(f"/ledger/{given.body['id']}", headers={"Accept": "text/html"})
    assert page.status == 200 and "2.50 CN" in page.text


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/tokens/nope", "token-not-found"),
        ("/types/nope", "type-not-found"),
        ("/sets/nope", "set-not-found"),
        ("/ledger/nope", "operation-not-found"),
    ],
)
async def test_object_documents__unknown_ids_are_404(api: Api, path: str, code: str) -> None:
    assert_problem(await api.get(path, headers={"Accept": AP}), 404, code)
    page = await api.get(path, headers={"Accept": "text/html"})  # browsers get a friendly error page
    assert page.status == 404 and page.headers["Content-Type"].startswith("text/html") and code in page.text
    assert_problem(await api.get(path[: path.rindex("/") + 1] + "x" * 100), 400, "validation-failed")


async def test_object_documents__deleted_token_is_404(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    token_id = await make_token(api, alice, type_id, label="Ruby")
    assert (await api.delete(f"/api/v1/tokens/{token_id}", token=alice)).status in (200, 204)
    assert_problem(await api.get(f"/tokens/{token_id}", headers={"Accept": AP}), 404, "token-not-found")


async def test_vocabulary__context_defines_our_terms(api: Api) -> None:
    reply = await api.get("/ns")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/ld+json")
    context = orjson.loads(reply.text)["@context"]
    assert context["ts"] == "https://tallystick.dev/ns#"
    assert context["Token"] == "ts:Token" and context["tokenType"]["@type"] == "@id"


def test_actor_document__pure_shape() -> None:
    document = documents.actor_document(
        {"username": "alice", "display_name": "", "kind": "Robot", "created_at": "2026-01-01T00:00:00Z"},
        actor_id="https://t.example/users/alice", base_url="https://t.example",
        rsa_public_pem="PEM", ed25519_multibase="z6Mk",
    )
    assert document["type"] == "Person"  # unknown kinds fall back to Person
    assert document["name"] == "alice"  # an empty display name shows the username
    assert document["publicKey"] == {"id": "https://t.example/users/alice#main-key",
                                     "owner": "https://t.example/users/alice", "publicKeyPem": "PEM"}


def test_collections__pure_shapes() -> None:
    paged = documents.ordered_collection("https://t.example/users/a/outbox", 3, paged=True)
    assert paged["totalItems"] == 3 and paged["first"].endswith("?page=1") and "orderedItems" not in paged
    page = documents.collection_page("https://t.example/users/a/outbox", 2, ["x"], has_next=True)
    assert page["next"].endswith("?page=3") and page["prev"].endswith("?page=1")


@pytest.mark.parametrize("path", ["/tokens/a%00b", "/users/a%00", "/users/a%00/outbox", "/.well-known/webfinger?resource=acct:a%00@x"])
async def test_documents__nul_characters_are_400(api: Api, path: str) -> None:
    assert_problem(await api.get(path, headers={"Accept": AP}), 400, "nul-character")


async def test_type_document__browsers_get_the_apps_layout_in_words(api: Api) -> None:
    """A type's id opened in a browser: the app's layout (nav, one main), its fields in words rather
    than our vocabulary's camelCase, its markdown description rendered and sanitised."""
    alice = await api.user("alice")
    type_id = await make_type(api, alice, description="Shiny *stones* <script>alert(1)</script>")
    page = await api.get(f"/types/{type_id}", headers={"Accept": BROWSER})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.text.count("<main") == 1 and 'href="/signin"' in page.text and "/static/style.css" in page.text
    assert "<em>stones</em>" in page.text and "<script>alert" not in page.text
    assert "<dt>Decimal places</dt>" in page.text and "smallestUnit" not in page.text
    assert "Token type by" in page.text and "Open it in the app" not in page.text  # nobody signed in
    assert page.headers["Vary"] == "Accept"

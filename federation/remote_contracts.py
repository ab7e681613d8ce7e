"""Contracts across servers (issue 18, item 5): dave on B licenses carol's type on A.

The contract lives on A, the licensor's server; B keeps only which contract covers what
(models/contracts.py RemoteContract, models/tokens.py RemoteTypeParent). Every request is a
signed POST by dave's key to A's contract endpoint (`<A>/contracts`, named `contractEndpoint`
in A's offer and contract documents), answered at once with A's verdict, as a give onward is
(federation/onward.py): dave must see in the same call whether A took it.

- `Accept` of an offer's URL (`contracts.remote.accept` on B): A makes the contract with
  dave's actor as licensee and answers 201 with it (200 and the same contract for a repeat of
  the request id).
- `Create` of a `ContractUse` (`useKind` derive or mint, the `derivedType` on B, `units`):
  B asks when dave creates a type with A's type as a parent, and before each mint of it; A
  counts them as local ones (limits, price, per-unit rates owed) or refuses with the local
  codes (403 contract-suspended, 422 contract-unit-limit ...), and B's create or mint fails.
- `Create` of a `ContractPayment` (`contracts.remote.pay` on B): A takes what is due from the
  units of the payment type dave holds on A's ledger (a payment type is always A's), as for a
  local licensee; the entry is authored by dave, so B debits his holding from the answer.

The answer to each is `{"contract": <the contract's document, signed by the licensor>,
"entry": <the payment's entry document, or null>}`. A's runner takes the periodic payments
from dave's units there as from a local licensee's; those entries reach B as published.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field, field_validator
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.base import iso
from models.context import Context, Site
from models.contracts import RemoteContract
from models.errors import BadInput, DomainError, Forbidden, NotFound, Unprocessable
from models.federation import RemoteActor, RemoteCredit
from models.operations.contracts import accept_remote, pay_as_licensee, use_remote
from models.outputs import Output, Paged, Timestamp
from models.paging import ListInput, paginate
from models.registry import REGISTRY, Access, Input, Transaction
from models.tokens import TokenType

from . import asking, documents
from .as2 import as_id, domain_of, type_of
from .asking import ask
from .httpsig_core import IncomingRequest
from .inbox import checked_sender, parse_activity
from .remote_gives import apply_confirmed_entry
from .signed_objects import signed_document

__all__ = ["CONTRACTS_PATH", "receive_contract_request", "use_remote_contract"]

CONTRACTS_PATH = "/contracts"
_USES = ("derive", "mint")


class OriginRefused(asking.OriginRefused):
    """The licensor's server said no; its status and code are passed on (set per refusal)."""

    status, code, title = 409, "origin-refused", "Refused by the licensor's server"


class OriginUnreachable(asking.OriginUnreachable):
    status, code, title = 503, "origin-unreachable", "The licensor's server did not answer"


class OriginAnswer(DomainError):
    """The licensor's server answered, but not with the contract asked about."""

    status, code, title = 502, "origin-bad-answer", "The licensor's server answered something else"


def _endpoint(url: str) -> str:
    """Where the server of `url` takes contract requests."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}{CONTRACTS_PATH}"


# ---------------------------------------------------------------- the licensee's server


class RemoteContractOut(Output):
    id: str
    contract: str = Field(description="the contract's URL on the licensor's server")
    type: str = Field(description="the licensed type's URL")
    offer: str = Field(description="the offer's URL")
    licensor: str = Field(description="the licensor's actor URL")
    state: str = Field(description="as the licensor's server last answered: active, in_arrears, suspended, ended, cancelled")
    derived_types: int | None = Field(description="derived types counted on it, as last answered")
    updated_at: Timestamp


class RemotePaymentOut(RemoteContractOut):
    entry: str | None = Field(description="the payment's ledger entry on the licensor's server (null: nothing taken)")


def _view(row: RemoteContract, entry: str | None = None, *, with_entry: bool = False) -> dict[str, Any]:
    document = row.document or {}
    derived = document.get("derivedTypes")
    view = {
        "id": row.id, "contract": row.uri, "type": row.type_uri, "offer": row.offer_uri,
        "licensor": str(as_id(document.get("attributedTo")) or ""), "state": row.state,
        "derived_types": derived if isinstance(derived, int) and not isinstance(derived, bool) else None,
        "updated_at": iso(row.updated_at),
    }
    return {**view, "entry": entry} if with_entry else view


def _url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("a URL on another server, starting with https://")
    return value.strip()


async def _ask(ctx: Context, licensee: Actor, target: str, activity: dict[str, Any]) -> dict[str, Any]:
    """A request signed by the licensee to the server of `target` (federation/asking.py)."""
    return await ask(ctx, licensee, _endpoint(target), "contract-requests", activity,
                     refused=OriginRefused, unreachable=OriginUnreachable)


def _contract_of(answer: Mapping[str, Any], licensee_url: str, *, uri: str | None = None) -> dict[str, Any]:
    """The contract document in an answer, checked: a Contract of the answering server held by
    our licensee (and the one asked about)."""
    contract = answer.get("contract")
    if not isinstance(contract, Mapping) or type_of(contract) != "Contract":
        raise OriginAnswer("the licensor's server answered without a contract")
    contract_id = str(as_id(contract) or "")
    if (uri is not None and contract_id != uri) or as_id(contract.get("licensee")) != licensee_url:
        raise OriginAnswer("the licensor's server answered with another contract than the one asked for")
    if domain_of(str(as_id(contract.get("tokenType")) or "")) != domain_of(contract_id):
        raise OriginAnswer("the contract is for a type of another server than its own")
    return dict(contract)


async def _record(licensee: Actor, contract: dict[str, Any]) -> RemoteContract:
    """Keep (or refresh) what the licensor's server answered about a contract."""
    uri = str(as_id(contract))
    values: dict[str, Any] = {
        "licensee_id": licensee.id, "type_uri": str(as_id(contract.get("tokenType"))),
        "offer_uri": str(as_id(contract.get("offer")) or ""), "state": str(contract.get("contractState") or ""),
        "document": contract,
    }
    row = await RemoteContract.get_or_none(uri=uri)
    if row is None:
        return await RemoteContract.create(uri=uri, **values)
    await RemoteContract.filter(id=row.id).update(**values)
    return await RemoteContract.get(id=row.id)


class RemoteAcceptInput(Input):
    offer: str = Field(min_length=8, max_length=2048, description="the offer's URL on its server (its ActivityPub id)")

    _checked = field_validator("offer")(_url)


@REGISTRY.operation("contracts.remote.accept", RemoteAcceptInput, output=RemoteContractOut, transaction=Transaction.OWN)
async def accept_remote_offer(ctx: Context, params: RemoteAcceptInput) -> dict[str, Any]:
    """Accept a contract offer of another server: the contract is made there, with you as its
    licensee; then you may name that server's type as a parent of your types."""
    licensee = ctx.require_actor()
    if params.offer.startswith(f"{ctx.site.base_url}/"):
        raise Unprocessable("this offer is on this server: accept it with contracts.accept", code="local-offer")
    answer = await _ask(ctx, licensee, params.offer, {"type": "Accept", "object": params.offer})
    contract = _contract_of(answer, local_actor_url(ctx.site.base_url, licensee))
    if as_id(contract.get("offer")) != params.offer or domain_of(str(as_id(contract))) != domain_of(params.offer):
        raise OriginAnswer("the licensor's server answered with a contract on another offer")
    async with in_transaction():
        row = await _record(licensee, contract)
    ctx.extra["status"] = 201
    return _view(row)


class RemoteContractInput(Input):
    contract: str = Field(min_length=8, max_length=2048, description="the contract's URL on the licensor's server")

    _checked = field_validator("contract")(_url)


async def _held(licensee: Actor, uri: str) -> RemoteContract:
    row = await RemoteContract.get_or_none(uri=uri, licensee_id=licensee.id)
    if row is None:
        raise NotFound(f"you hold no contract {uri!r} of another server", code="contract-not-found")
    return row


@REGISTRY.operation("contracts.remote.pay", RemoteContractInput, output=RemotePaymentOut, transaction=Transaction.OWN)
async def pay_remote_contract(ctx: Context, params: RemoteContractInput) -> dict[str, Any]:
    """Pay what is due on a contract of another server (arrears and what is owed), from the
    units of its payment type you hold there: a suspended contract is active again."""
    licensee = ctx.require_actor()
    row = await _held(licensee, params.contract)
    answer = await _ask(ctx, licensee, row.uri, {"type": "Create", "object": {"type": "ContractPayment", "contract": row.uri}})
    contract = _contract_of(answer, local_actor_url(ctx.site.base_url, licensee), uri=row.uri)
    entry = answer.get("entry")
    async with in_transaction():
        row = await _record(licensee, contract)
        if isinstance(entry, Mapping):  # the origin's confirmation: dave's holding is debited at once
            type_uri = str(as_id(entry.get("tokenType")) or "")
            credit = await RemoteCredit.filter(recipient_id=licensee.id, type_uri=type_uri).order_by("id").first()
            await apply_confirmed_entry(ctx.site, entry, symbol=credit.symbol if credit else None)
    return _view(row, str(as_id(entry)) if isinstance(entry, Mapping) else None, with_entry=True)


class RemoteContractsInput(ListInput):
    pass


@REGISTRY.operation("contracts.remote.list", RemoteContractsInput, output=Paged[RemoteContractOut], access=Access.USER)
async def list_remote_contracts(ctx: Context, params: RemoteContractsInput) -> Any:
    """The contracts you hold on other servers, newest first, as their servers last answered."""
    page = await paginate(RemoteContract.filter(licensee_id=ctx.require_actor().id), params)
    page.items = [_view(row) for row in page.items]
    return page


async def use_remote_contract(ctx: Context, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Site.remote_contracts: a type derived from another server's type (`derive`: the
    licensee's contract on it, found here), or units minted of one (`mint`: the contract its
    link names), asked of the licensor's server; {"contract": URL}, or its refusal."""
    licensee: Actor = params["licensee"]
    child: TokenType = params["child"]
    derived = documents.object_url(ctx.site.base_url, "type", child.id)
    if action == "derive":
        parent = str(params["parent"])
        row = await RemoteContract.filter(licensee_id=licensee.id, type_uri=parent).order_by("-created_at", "-id").first()
        if row is None:
            raise Forbidden(
                f"type {parent} of another server may be used as a parent only under a contract held there;"
                " accept one of its offers first (contracts.remote.accept)",
                code="contract-required",
            )
        use: dict[str, Any] = {"type": "ContractUse", "useKind": "derive", "contract": row.uri, "derivedType": derived}
    else:
        row = await RemoteContract.get_or_none(uri=str(params["contract"]), licensee_id=licensee.id)
        if row is None:  # the contract's holder is the type's owner: a type given away keeps no licence
            raise Forbidden(f"the owner of type {child.id} holds no contract {params['contract']}", code="contract-required")
        units: Decimal = params["units"]
        use = {"type": "ContractUse", "useKind": "mint", "contract": row.uri, "derivedType": derived,
               "units": f"{units.normalize():f}"}
    answer = await _ask(ctx, licensee, row.uri, {"type": "Create", "object": use})
    await _record(licensee, _contract_of(answer, local_actor_url(ctx.site.base_url, licensee), uri=row.uri))
    return {"contract": row.uri}


# ---------------------------------------------------------------- the licensor's server


def _local_id(site: Site, value: Any, kind: str, field: str) -> str:
    """The id of one of our offers or contracts from its URL, or 404."""
    prefix = documents.object_url(site.base_url, kind, "")
    text = str(as_id(value) or "")
    if not text.startswith(prefix) or not text[len(prefix):] or "/" in text[len(prefix):]:
        what = {"offer": "contract offer", "contract": "contract"}[kind]
        raise NotFound(f"{field}: {text!r} is not a {what} of this server", code=f"{kind}-not-found")
    return text[len(prefix):]


async def _sender(site: Site, request: IncomingRequest, activity: Mapping[str, Any]) -> RemoteActor:
    """The remote actor that signed the request, who must be its actor, with the request's id
    on its server (the checks of the ledger endpoint)."""
    actor_uri = str(as_id(activity["actor"]))
    signer = await checked_sender(site, request, actor_uri)
    if domain_of(str(activity["id"])) != domain_of(actor_uri):
        raise Forbidden("a request's id must live on its actor's server", code="origin-mismatch")
    return signer


async def _answer(site: Site, contract_id: str, entry_id: str | None = None) -> dict[str, Any]:
    return {
        "contract": await signed_document(site, "contract", contract_id),
        "entry": await signed_document(site, "ledger", entry_id) if entry_id else None,
    }


def _units(value: Any) -> Decimal:
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise BadInput("units must be a decimal string", code="malformed-request")
    try:
        units = Decimal(value.strip())
    except InvalidOperation:
        raise BadInput("units must be a decimal string", code="malformed-request") from None
    if not units.is_finite() or units <= 0:
        raise BadInput("units must be more than 0", code="malformed-request")
    return units


async def receive_contract_request(site: Site, request: IncomingRequest) -> tuple[int, dict[str, Any]]:
    """A remote licensee's signed request (accept an offer, derive or mint under a contract,
    pay one): (status, {"contract": document, "entry": document | null}); a DomainError says why not."""
    activity = parse_activity(request.body, site.federation.inbox_max_bytes)
    sender = await _sender(site, request, activity)
    ctx = Context(site=site, actor=await Actor.get(id=sender.actor_id), remote=True)
    obj = activity.get("object")
    if activity["type"] == "Accept":
        offer_id = _local_id(site, obj, "offer", "object")
        async with in_transaction():
            contract, made = await accept_remote(ctx, offer_id, str(activity["id"]))
        return (201 if made else 200), await _answer(site, contract.id)
    kind = type_of(obj) if isinstance(obj, Mapping) else None
    if activity["type"] != "Create" or kind not in ("ContractUse", "ContractPayment"):
        raise BadInput("a contract request is an Accept of an offer, or a Create of a ContractUse or ContractPayment",
                       code="malformed-request")
    assert isinstance(obj, Mapping)
    contract_id = _local_id(site, obj.get("contract"), "contract", "contract")
    if kind == "ContractPayment":
        async with in_transaction():
            entry, contract = await pay_as_licensee(ctx, contract_id)
        return 201, await _answer(site, contract.id, entry)
    use = obj.get("useKind")
    if use not in _USES:
        raise BadInput("useKind must be derive or mint", code="malformed-request")
    derived = str(as_id(obj.get("derivedType")) or "")
    if not derived.startswith(("https://", "http://")) or len(derived) > 2048:
        raise BadInput("derivedType must be the derived type's URL", code="malformed-request")
    if domain_of(derived) != domain_of(sender.uri):
        raise Forbidden("a derived type must live on its licensee's server", code="origin-mismatch")
    units = _units(obj.get("units")) if use == "mint" else Decimal(0)
    async with in_transaction():
        contract = await use_remote(ctx, contract_id, str(use), derived, units)
    return 200, await _answer(site, contract.id)

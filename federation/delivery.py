"""Delivery: signed POSTs of our activities to remote inboxes, durable and retried.

One `deliveries` row per (activity, inbox), written in the same transaction as whatever
caused it; the sweep (`deliver_due`, run by the worker pool) sends what is due, outside any
transaction. Each try is claimed first by a compare-and-set on `attempts`, so two sweepers
never send the same try.

Retry policy, as Mastodon's (DESIGN.md field notes): try n failing waits ``n**4 + 15``
seconds (16 tries span about 2.6 days), or longer when the receiver sends Retry-After; a 4xx
other than 401, 408 and 429 is permanent. A domain that failed on `unavailable_after_days`
distinct days is unavailable: its deliveries are skipped until it answers once (a fetch from
it or an activity it sends). Blocked domains are never delivered to.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import yarl
from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.actors import Actor, Role, local_actor_url
from models.base import iso
from models.context import Context, Site
from models.federation import Delivery, DeliveryState, DomainHealth
from models.ids import new_id
from models.outputs import Paged
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access
from models.sql import insert_many
from models.sql import now as sql_now
from models.urls import UrlRefused, check_url

from .actors import actor_keys
from .as2 import domain_of
from .fetch import DOMAIN_STATES, USER_AGENT, signing_key
from .httpsig_cavage import sign_cavage
from .keys import PrivateKey
from .outputs import OutgoingDeliveryOut
from .ssrf import GuardedResolver

__all__ = ["CLAIM_SECONDS", "GIVEN_UP", "Outcome", "deliver_due", "enqueue", "is_permanent", "list_deliveries", "retry_delay"]

log = logging.getLogger("tallystick.delivery")

CLAIM_SECONDS = 120  # a claimed try is not picked again before this, even if its sender died
MAX_RETRY_AFTER = 86_400
KEPT_FAILURE_DAYS = 30
SENDERS = 64  # requests in flight per sweep (each host also gets at most delivery_per_host)


def retry_delay(attempt: int) -> int:
    """Seconds to wait after failed try number `attempt` (1-based)."""
    return attempt**4 + 15


def is_permanent(status: int) -> bool:
    """A refusal that will not change by trying again."""
    return 400 <= status < 500 and status not in (401, 408, 429)


def _retry_after(value: str | None, now: datetime) -> int | None:
    """Seconds named by a Retry-After header (delta-seconds or an HTTP date; RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), MAX_RETRY_AFTER)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, min(int((moment - now).total_seconds()), MAX_RETRY_AFTER))


async def enqueue(signer: Actor, activity_uri: str, body: str, inboxes: Iterable[str]) -> int:
    """Queue one delivery per distinct inbox (inside the caller's transaction); the number queued."""
    moment = sql_now()
    rows = [
        {
            "id": new_id(), "signer_id": signer.id, "activity_uri": activity_uri, "inbox": inbox,
            "domain": domain_of(inbox), "body": body, "state": DeliveryState.PENDING.value, "attempts": 0,
            "next_at": None, "lease": None, "last_status": None, "last_error": None, "delivered_at": None,
            "created_at": moment, "updated_at": moment,
        }
        for inbox in dict.fromkeys(inboxes)
        if inbox
    ]
    await insert_many(Delivery._meta.db_table, rows)
    return len(rows)


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _signed_headers(delivery: Delivery, body: bytes, key_id: str, key: PrivateKey) -> dict[str, str]:
    """The request's headers with its draft-cavage signature (run in a worker thread: RSA signing
    releases the GIL, so it overlaps the event loop's posting)."""
    inbox = str(yarl.URL(delivery.inbox))  # as aiohttp sends it (yarl normalises percent-escapes)
    headers = sign_cavage("POST", inbox, key_id=key_id, private_key=key, body=body)
    headers.update({"Content-Type": "application/activity+json", "User-Agent": USER_AGENT})
    return headers


async def _post(
    session: aiohttp.ClientSession, site: Site, delivery: Delivery, body: bytes, signed: Awaitable[dict[str, str]]
) -> Outcome:
    try:
        check_url(delivery.inbox, allow_private=site.federation.allow_private_addresses)
    except UrlRefused as error:
        return Outcome(None, error.detail)
    headers = await signed
    try:
        async with session.post(delivery.inbox, data=body, headers=headers, allow_redirects=False) as reply:
            await reply.read()
            if 200 <= reply.status < 300:
                return Outcome(reply.status, None)
            retry_after = _retry_after(reply.headers.get("Retry-After"), datetime.now(UTC))
            return Outcome(reply.status, f"the inbox answered {reply.status}", retry_after)
    except TimeoutError:
        return Outcome(None, "no answer in time")
    except (aiohttp.ClientError, OSError) as error:
        return Outcome(None, f"cannot reach the inbox: {error}"[:500])


async def _domain_health(domain: str) -> DomainHealth:
    """The domain's row, created on first need (two sweepers may race to create it)."""
    try:
        return (await DomainHealth.get_or_create(domain=domain))[0]
    except IntegrityError:
        return await DomainHealth.get(domain=domain)


async def _note_domains(ok: set[str], failed: set[str], now: datetime, site: Site) -> None:
    """One success makes a domain available again; failures count distinct days."""
    if ok:
        await DomainHealth.filter(domain__in=list(ok)).update(failure_days=[], unavailable=False)
        DOMAIN_STATES.forget()
    for domain in failed - ok:
        health = await _domain_health(domain)
        days = sorted({*health.failure_days, now.date().isoformat()})[-KEPT_FAILURE_DAYS:]
        unavailable = len(days) >= site.federation.unavailable_after_days
        if unavailable and not health.unavailable:
            log.warning("delivery: %s failed on %d distinct days; marked unavailable", domain, len(days))
            DOMAIN_STATES.forget()
        await DomainHealth.filter(id=health.id).update(failure_days=days, unavailable=unavailable)


# Called (inside the sweep's transaction) when a delivery is given up for good, by modules that
# keep their own record of what they sent (agent reports): (activity id, last status, last error).
GIVEN_UP: list[Callable[[str, int | None, str | None], Awaitable[None]]] = []


async def _record(delivery: Delivery, outcome: Outcome, now: datetime, site: Site) -> None:
    """A failed try: retry later, or give up for good."""
    values: dict[str, Any] = {"last_status": outcome.status, "last_error": outcome.error, "lease": None}
    permanent = outcome.status is not None and is_permanent(outcome.status)
    if permanent or delivery.attempts >= site.federation.delivery_max_attempts:
        values.update(state=DeliveryState.FAILED.value, next_at=None)
        for listener in GIVEN_UP:
            await listener(delivery.activity_uri, outcome.status, outcome.error)
    else:
        wait = max(retry_delay(delivery.attempts), outcome.retry_after or 0)
        values.update(next_at=now + timedelta(seconds=wait))
    await Delivery.filter(id=delivery.id, lease=delivery.lease).update(**values)


async def _skip_unreachable_domains(due: list[str], domains: set[str]) -> set[str]:
    """Mark due deliveries to blocked or unavailable domains skipped; those domains."""
    closed = {
        row.domain: "blocked" if row.blocked else "unavailable"
        for row in await DomainHealth.filter(Q(blocked=True) | Q(unavailable=True), domain__in=list(domains))
    }
    for domain, why in closed.items():
        await Delivery.filter(id__in=due, domain=domain, state=DeliveryState.PENDING.value).update(
            state=DeliveryState.SKIPPED.value, last_error=f"the domain is {why}"
        )
    return set(closed)


async def _claim(due: list[str], now: datetime) -> list[Delivery]:
    """Take the due rows no other sweeper took, in one conditional UPDATE marked with our lease."""
    lease = new_id()
    await Delivery.filter(Q(next_at__isnull=True) | Q(next_at__lte=now), id__in=due, state=DeliveryState.PENDING.value).update(
        lease=lease, attempts=F("attempts") + 1, next_at=now + timedelta(seconds=CLAIM_SECONDS)
    )
    # only what sending needs: no timestamps to parse for a thousand rows
    return await (
        Delivery.filter(lease=lease, state=DeliveryState.PENDING.value)
        .order_by("id")
        .only("id", "signer_id", "activity_uri", "inbox", "domain", "body", "attempts", "lease")
    )


@functools.cache
def _signing_pool() -> concurrent.futures.ThreadPoolExecutor:
    """Threads for RSA signing, one per core (more only wait for the same cores)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="sign")


async def _signers(site: Site, deliveries: list[Delivery]) -> dict[str, tuple[str, PrivateKey]]:
    """Key id and private key of each local actor that signs one of these deliveries."""
    signers: dict[str, tuple[str, PrivateKey]] = {}
    for signer_id in {delivery.signer_id for delivery in deliveries}:
        actor = await Actor.get(id=signer_id)
        keys = await actor_keys(actor)
        signers[signer_id] = (f"{local_actor_url(site.base_url, actor)}#main-key", signing_key(keys.rsa_private_pem))
    return signers


async def deliver_due(site: Site, *, now: datetime | None = None, limit: int = 2000) -> int:
    """Send every due delivery once (at most `delivery_per_host` at a time per host); the number tried."""
    now = now or datetime.now(UTC)
    due = await (
        Delivery.filter(Q(next_at__isnull=True) | Q(next_at__lte=now), state=DeliveryState.PENDING.value)
        .order_by("next_at", "id")
        .limit(limit)
        .values_list("id", "domain")
    )
    if not due:
        return 0
    closed = await _skip_unreachable_domains([row[0] for row in due], {row[1] for row in due})
    claimed = await _claim([row_id for row_id, domain in due if domain not in closed], now)
    if not claimed:
        return 0
    signers = await _signers(site, claimed)
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=site.federation.allow_private_addresses),
        limit=0, limit_per_host=site.federation.delivery_per_host,
    )
    timeout = aiohttp.ClientTimeout(total=site.federation.fetch_timeout_seconds)
    outcomes: list[Outcome] = [Outcome(None, "not sent")] * len(claimed)
    # Signatures are made in worker threads, all started now; each inbox's deliveries are then
    # posted one after another in id order (a Create before its Update), inboxes side by side.
    loop = asyncio.get_running_loop()
    bodies = [delivery.body.encode() for delivery in claimed]  # what is signed is what is sent
    signatures = [
        loop.run_in_executor(_signing_pool(), _signed_headers, delivery, body, *signers[delivery.signer_id])
        for delivery, body in zip(claimed, bodies, strict=True)
    ]
    by_inbox: dict[str, list[int]] = {}
    for index, delivery in enumerate(claimed):
        by_inbox.setdefault(delivery.inbox, []).append(index)
    queue = iter(by_inbox.values())

    async def sender() -> None:
        for indexes in queue:
            for index in indexes:
                outcomes[index] = await _post(session, site, claimed[index], bodies[index], signatures[index])

    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(sender() for _ in range(min(len(by_inbox), SENDERS))))
    finally:
        for signature in signatures:
            signature.cancel()  # those never awaited (an URL refused before signing was needed)
    delivered: dict[int | None, list[str]] = {}
    for delivery, outcome in zip(claimed, outcomes, strict=True):
        if outcome.ok:
            delivered.setdefault(outcome.status, []).append(delivery.id)
    async with in_transaction():  # one commit for the whole batch, one statement per success status
        for status, ids in delivered.items():
            await Delivery.filter(id__in=ids, lease=claimed[0].lease).update(
                state=DeliveryState.DELIVERED.value, next_at=None, delivered_at=datetime.now(UTC),
                last_status=status, last_error=None, lease=None,
            )
        for delivery, outcome in zip(claimed, outcomes, strict=True):
            if not outcome.ok:
                await _record(delivery, outcome, now, site)
    ok = {d.domain for d, o in zip(claimed, outcomes, strict=True) if o.ok}
    failed = {d.domain for d, o in zip(claimed, outcomes, strict=True) if o.status is None or o.status >= 500}
    await _note_domains(ok, failed, now, site)
    for delivery, outcome in zip(claimed, outcomes, strict=True):
        if not outcome.ok:
            log.info("delivery %s to %s, try %d: %s", delivery.activity_uri, delivery.inbox, delivery.attempts, outcome.error)
    return len(claimed)


class DeliveryListInput(ListInput):
    state: DeliveryState | None = None
    domain: str | None = Field(None, max_length=255)


@REGISTRY.operation(
    "admin.federation.deliveries",
    DeliveryListInput,
    output=Paged[OutgoingDeliveryOut],
    access=Access.USER,
    role=Role.ADMIN,
)
async def list_deliveries(ctx: Context, params: DeliveryListInput) -> Page:
    """Outgoing deliveries with their attempts and last outcome (admins: to see what is stuck)."""
    query = Delivery.all()
    if params.state is not None:
        query = query.filter(state=params.state.value)
    if params.domain:
        query = query.filter(domain=params.domain.lower())
    page = await paginate(query, params)
    return page.map(lambda row: {
        "id": row.id, "activity": row.activity_uri, "inbox": row.inbox, "domain": row.domain, "state": row.state,
        "attempts": row.attempts, "next_attempt_at": iso(row.next_at) if row.state == "pending" else None,
        "last_status": row.last_status, "last_error": row.last_error, "delivered_at": iso(row.delivered_at),
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    })

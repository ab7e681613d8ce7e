"""Delivery: signed POSTs of our activities to remote inboxes, durable and retried.

One `deliveries` row per (activity, inbox), written in the same transaction as whatever
caused it. The rows are the machine `federation.deliveries` (declared in models/machines.py):
the runner claims up to 2,000 due rows at once under one lease, and `send` posts them outside
any transaction and answers an outcome per row, which the runner records.

Retry policy, as Mastodon's (DESIGN.md field notes): try n failing waits ``n**4 + 15``
seconds (16 tries span about 2.6 days), or longer when the receiver sends Retry-After; a 4xx
other than 401, 408 and 429 is permanent. A domain that failed on `unavailable_after_days`
distinct days is unavailable: its deliveries are skipped until it answers once (a fetch from
it or an activity it sends). Blocked domains are never delivered to.

Deliveries to one inbox arrive in the order they were queued (a Create before its Update, ten
Updates in their order): a delivery is not posted while an earlier one to the same inbox waits
for its retry; it is held until just after that one's next try (each hold counts as a try, so
it gives up no sooner than the one before it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import yarl
from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.actors import Actor, Role, local_actor_url
from models.base import iso
from models.context import Context, Site
from models.engine import GiveUp, Go, Lease, LostLease, Outcome, Retry, backoff, run_due
from models.federation import Delivery, DeliveryState, DomainHealth
from models.ids import new_id
from models.machines import DELIVERIES
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

__all__ = ["DELIVERIES", "GIVEN_UP", "deliver_due", "enqueue", "is_permanent", "list_deliveries", "retry_delay"]

log = logging.getLogger("tallystick.delivery")

KEPT_FAILURE_DAYS = 30
# Requests in flight per sweep (each host also gets at most delivery_per_host). A sweep ends
# with its slowest inbox, and slow hosts (2-5 s) hold a sender each: a 2,000-row batch with 10%
# slow inboxes needs 200 x 3.5 s / 64 = 11 s of 64 senders (bench/internet.py's mix); 256 bring
# it near the slowest answer while staying well under a process's usual 1,024 open files.
SENDERS = 256
HELD = "waiting for an earlier delivery to this inbox"


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed try number `attempt` (1-based): the machine's policy."""
    return DELIVERIES.retry.delay(attempt)


def is_permanent(status: int) -> bool:
    """A refusal that will not change by trying again."""
    return 400 <= status < 500 and status not in (401, 408, 429)


async def enqueue(signer: Actor, activity_uri: str, body: str, inboxes: Iterable[str]) -> int:
    """Queue one delivery per distinct inbox (inside the caller's transaction); the number queued."""
    moment = sql_now()
    rows = [
        {
            "id": new_id(), "signer_id": signer.id, "activity_uri": activity_uri, "inbox": inbox,
            "domain": domain_of(inbox), "body": body, "state": DeliveryState.PENDING.value, "attempts": 0,
            "next_at": None, "lease_owner": None, "lease_expires_at": None, "last_status": None, "last_error": None,
            "delivered_at": None, "created_at": moment, "updated_at": moment,
        }
        for inbox in dict.fromkeys(inboxes)
        if inbox
    ]
    await insert_many(Delivery._meta.db_table, rows)
    return len(rows)


async def deliver_due(site: Site, *, now: datetime | None = None, limit: int | None = None) -> int:
    """Send every due delivery once (at most `delivery_per_host` at a time per host); the number tried."""
    return await run_due(site, DELIVERIES, now=now, limit=limit)


@dataclass(frozen=True)
class Sent:
    """What one POST came to."""

    status: int | None
    error: str | None
    retry_after: float | None = None
    held: float | None = None  # not posted: an earlier delivery to its inbox is due again in this many seconds

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
) -> Sent:
    try:
        check_url(delivery.inbox, allow_private=site.federation.allow_private_addresses)
    except UrlRefused as error:
        return Sent(None, error.detail)
    headers = await signed
    try:
        async with session.post(delivery.inbox, data=body, headers=headers, allow_redirects=False) as reply:
            await reply.read()
            if 200 <= reply.status < 300:
                return Sent(reply.status, None)
            retry_after = backoff.parse_retry_after(reply.headers.get("Retry-After"))
            return Sent(reply.status, f"the inbox answered {reply.status}", retry_after)
    except TimeoutError:
        return Sent(None, "no answer in time")
    except (aiohttp.ClientError, OSError) as error:
        return Sent(None, f"cannot reach the inbox: {error}"[:500])


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


# Called when a delivery gives up for good, in the transaction that records it, by modules that
# keep their own record of what they sent (agent reports): (activity id, last status, last error).
GIVEN_UP: list[Callable[[str, int | None, str | None], Awaitable[None]]] = []


async def _closed_domains(domains: set[str]) -> dict[str, str]:
    """The blocked or unavailable domains among these, with why."""
    return {
        row.domain: "blocked" if row.blocked else "unavailable"
        for row in await DomainHealth.filter(Q(blocked=True) | Q(unavailable=True), domain__in=list(domains))
    }


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


async def _send_all(site: Site, claimed: list[Delivery]) -> list[Sent]:
    """POST each delivery once; what each came to, in the same order."""
    signers = await _signers(site, claimed)
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=site.federation.allow_private_addresses),
        limit=0, limit_per_host=site.federation.delivery_per_host,
    )
    timeout = aiohttp.ClientTimeout(total=site.federation.fetch_timeout_seconds)
    results: list[Sent] = [Sent(None, "not sent")] * len(claimed)
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
            for position, index in enumerate(indexes):
                sent = results[index] = await _post(session, site, claimed[index], bodies[index], signatures[index])
                if not sent.ok:  # the rest wait for this one's next try, to arrive in order
                    wait = DELIVERIES.retry.delay(claimed[index].attempts, sent.retry_after)
                    for later in indexes[position + 1:]:
                        results[later] = Sent(None, HELD, held=wait)
                    break

    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(sender() for _ in range(min(len(by_inbox), SENDERS))))
    finally:
        for signature in signatures:
            signature.cancel()  # those never awaited (an URL refused before signing was needed)
    return results


async def _earlier_waiting(rows: list[Delivery], now: datetime) -> dict[str, float]:
    """Seconds to hold each of these rows whose inbox has an earlier delivery pending outside
    this claim (waiting for its retry, or claimed by another runner)."""
    claimed = {row.id for row in rows}
    waiting: dict[str, list[tuple[str, datetime | None]]] = {}
    for row_id, inbox, next_at in await Delivery.filter(
        state=DeliveryState.PENDING.value, attempts__gt=0, inbox__in=list({row.inbox for row in rows}),
    ).values_list("id", "inbox", "next_at"):
        if row_id not in claimed:
            waiting.setdefault(inbox, []).append((row_id, next_at))
    held = {}
    for row in rows:
        due = [next_at for row_id, next_at in waiting.get(row.inbox, ()) if row_id < row.id]
        if due:
            latest = max((moment or now for moment in due), default=now)
            held[row.id] = max(0.0, (latest - now).total_seconds())
    return held


def _outcome(sent: Sent, delivered_at: datetime) -> Outcome:
    if sent.held is not None:
        return Retry(HELD, after=sent.held + 1)
    if sent.ok:
        return Go(DeliveryState.DELIVERED.value, values={"delivered_at": delivered_at, "last_status": sent.status})
    values = {"last_status": sent.status}
    if sent.status is not None and is_permanent(sent.status):
        return GiveUp(sent.error or "", values=values)
    return Retry(sent.error or "", retry_after=sent.retry_after, values=values)


@DELIVERIES.batch_handler(may={DeliveryState.DELIVERED.value, DeliveryState.FAILED.value, DeliveryState.SKIPPED.value})
async def send(site: Site, rows: list[Delivery], lease: Lease) -> dict[str, Outcome]:
    """Send a claimed batch: skip closed domains, post the rest, note each domain's health."""
    outcomes: dict[str, Outcome] = {}
    closed = await _closed_domains({row.domain for row in rows})
    for row in rows:
        if row.domain in closed:
            outcomes[row.id] = GiveUp(f"the domain is {closed[row.domain]}", state=DeliveryState.SKIPPED.value)
    open_rows = sorted((row for row in rows if row.domain not in closed), key=lambda row: row.id)
    held = await _earlier_waiting(open_rows, lease.now()) if open_rows else {}
    for row in open_rows:
        if row.id in held:
            outcomes[row.id] = _outcome(Sent(None, HELD, held=held[row.id]), lease.now())
    claimed = [row for row in open_rows if row.id not in held]
    if not claimed:
        return outcomes
    results = await _send_all(site, claimed)
    delivered_at = datetime.now(UTC)  # one moment for the batch: the runner records it in one UPDATE
    for row, sent in zip(claimed, results, strict=True):
        outcomes[row.id] = outcome = _outcome(sent, delivered_at)
        if sent.ok or sent.held is not None:
            continue
        log.info("delivery %s to %s, try %d: %s", row.activity_uri, row.inbox, row.attempts, sent.error)
        if isinstance(outcome, GiveUp) or lease.is_last_try(row):
            # The delivery ends here: what hangs on it (a sent agent report) is settled with it.
            with contextlib.suppress(LostLease):  # taken from us meanwhile (its domain was blocked)
                async with in_transaction():
                    await lease.commit(row, outcome)
                    for listener in GIVEN_UP:
                        await listener(row.activity_uri, sent.status, sent.error)
    ok = {row.domain for row, sent in zip(claimed, results, strict=True) if sent.ok}
    failed = {row.domain for row, sent in zip(claimed, results, strict=True)
              if sent.held is None and (sent.status is None or sent.status >= 500)}
    await _note_domains(ok, failed, lease.claimed_at, site)
    return outcomes


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

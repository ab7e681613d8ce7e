"""Every durable process, declared in one place (the engine: models/engine/).

A newcomer reads this page to learn what runs in the background: each machine's states, the
moves its handler may make, what a person may do by hand, and how it retries. The handlers live
with the code they drive (server/jobs.py for jobs); the runner finds them through MACHINES.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from . import sql
from .actors import AccessToken, TokenKind
from .allocations import Allocation, AllocationState, Distribution, RunState
from .contracts import ContractStep, StepState
from .engine import Lease, Machine, backoff
from .federation import (
    Backfill,
    BackfillState,
    Delivery,
    DeliveryState,
    InboxActivity,
    InboxState,
    OnwardGive,
    OnwardState,
)
from .ids import new_id
from .job_callbacks import BACKOFF, CLAIM_SECONDS, MAX_TRIES, CallbackState, JobCallback, queue_callback
from .jobs import FINISHED, MANUAL_TRANSITIONS, Job, JobState, record_job_event, revoke_job_tokens
from .mail import MailState, OutgoingMail
from .market import CloseState, LotClose
from .networks import Discovery, DiscoveryState
from .organizations import Proposal, ProposalState
from .pools import Generation, GenerationState, Reservation, ReservationState
from .promotions import CAMPAIGN_MOVES, CampaignState, PayoutState, PromoCampaign, PromoPayout
from .security import new_bearer_token, token_digest
from .stores import ORDER_MOVES, DeadlineState, Order, OrderState, PaymentDeadline
from .watchers import CheckState, WatcherCheck
from .webhooks import DeliveryState as WebhookState
from .webhooks import WebhookDelivery

__all__ = [
    "timed", "BACKFILLS", "CALLBACKS", "CONTRACT_STEPS", "DELIVERIES", "DISTRIBUTION_EXPIRIES", "DISTRIBUTION_RUNS",
    "INBOX", "JOBS", "MAIL", "MARKET_CLOSES", "NETWORK_DISCOVERIES", "ONWARD_GIVES",
    "ORGANIZATION_PROPOSALS", "POOL_GENERATIONS", "POOL_RESERVATIONS", "PROMO_CAMPAIGNS", "PROMO_PAYOUTS",
    "STORE_ORDERS", "STORE_PAYMENT_DEADLINES",
    "WATCHER_CHECKS", "WEBHOOK_DELIVERIES",
]


def timed(
    name: str, model: type[Any], states: type[StrEnum], *, ready: str, moves: Iterable[str], failed: str,
    terminal: Iterable[str] | None = None, manual: Mapping[str, Iterable[str]] | None = None,
    batch: int = 20, lease_seconds: float = 60, max_attempts: int = 10,
) -> Machine[Any]:
    """A row due at a time (next_at) whose handler moves it out of `ready` in one transaction:
    the shape of every scheduled step of a feature (a close, a slice, a contract step, a check,
    a deadline). Failures roll back and retry on delivery's curve (about n**4 + 15 s), ten times;
    `terminal` defaults to the handler's `moves`, earliest due first."""
    ends = tuple(moves)
    return Machine(
        name=name, model=model, states=[state.value for state in states], ready=ready, failed=failed,
        terminal=ends if terminal is None else terminal, transitions={ready: set(ends)}, manual=manual,
        retry=backoff.mastodon(), max_attempts=max_attempts, lease_seconds=lease_seconds, batch=batch,
        order=("next_at", "id"),
    )


async def _extend_job_tokens(jobs: list[Job], deadline: datetime) -> None:
    """A running job's bearer token lives as long as its lease."""
    token_ids = [job.job_token_id for job in jobs if job.job_token_id and job.state == JobState.RUNNING.value]
    if token_ids:
        await AccessToken.filter(id__in=token_ids, revoked_at=None).update(expires_at=deadline)


async def _revoke_job_tokens(jobs: list[Job], _: datetime) -> None:
    await revoke_job_tokens(*[job.id for job in jobs])


async def _job_reaped(job: Job, gave_up: bool, now: datetime) -> None:
    """A job whose worker died: its token ends; users see why it failed, or that it was requeued."""
    await revoke_job_tokens(job.id)
    if gave_up:
        problem = {
            "type": "https://tallystick.dev/problems/job-abandoned",
            "code": "job-abandoned",
            "title": "Job abandoned",
            "status": 500,
            "detail": f"the worker running this job stopped {job.attempts} times; it will not be tried again",
        }
        await Job.filter(id=job.id).update(error=problem, finished_at=now)
        await queue_callback(job)  # a job that ends here still reports to its callback
    job.state = JobState.FAILED.value if gave_up else JobState.QUEUED.value
    await record_job_event(job, "job.failed" if gave_up else "job.requeued", {"attempts": job.attempts})


def _claimed(now: datetime) -> dict[str, Any]:
    return {"started_at": now}


async def _issue_job_tokens(site: Any, jobs: list[Job], lease: Lease) -> None:
    """A bearer token per claimed job, as the user it acts for, living as long as the lease.

    One round trip and one commit for the whole claim (sql.run_atomic, which a cancelled task
    cannot leave holding SQLite's lock). Only the hash is stored, like every AccessToken;
    finishing, cancel, terminate and the reaper revoke it, so a copy that leaks from the job is
    useless once the run is over. System jobs act for nobody and get none. The secret waits on
    the row object (`job_token`) for the handler.
    """
    moment = sql.now()
    tokens, statements = [], []
    for job in jobs:
        if job.is_system:
            continue
        secret, token_id = new_bearer_token(), new_id()
        tokens.append({
            "id": token_id, "user_id": job.runs_as_id, "kind": TokenKind.JOB.value, "token_hash": token_digest(secret),
            "scopes": orjson.dumps([f"job:{job.id}"]).decode(), "expires_at": lease.expires_at,
            "created_at": moment, "updated_at": moment,
        })
        statements.append(sql.Statement(
            f'UPDATE "{Job._meta.db_table}" SET "job_token_id" = ? WHERE "id" = ? AND "lease_owner" = ?',
            (token_id, job.id, lease.owner),
        ))
        job.job_token_id = token_id
        job.job_token = secret  # in memory only, never stored
    if not tokens:
        return
    with sql.deferred() as inserts:
        await sql.insert_many(AccessToken._meta.db_table, tokens)
    await sql.run_atomic([*inserts, *statements])


JOBS: Machine[Job] = Machine(
    name="jobs",
    model=Job,
    states=[state.value for state in JobState],
    ready=JobState.QUEUED.value,
    running=JobState.RUNNING.value,  # users see it: the job record says "running"
    failed=JobState.FAILED.value,
    terminal=FINISHED,
    transitions={JobState.RUNNING.value: {JobState.SUCCEEDED.value, JobState.FAILED.value}},
    manual=MANUAL_TRANSITIONS,  # admins terminate and requeue, callers cancel, job-write tokens report
    retry=backoff.fixed(0),  # a job is retried only when its worker died: at once
    max_attempts=3,
    attempts_column="max_attempts",  # each job carries its own limit
    lease_seconds=lambda site: site.jobs.lease_seconds,
    batch=4,  # a claim takes a few (one commit for their claim and tokens); a worker runs them in order
    order=("id",),
    claim_values=_claimed,
    prepare=_issue_job_tokens,
    on_renew=_extend_job_tokens,
    on_release=_revoke_job_tokens,
    on_reaped=_job_reaped,
)


# Signed POSTs of our activities to remote inboxes; the handler is federation/delivery.py `send`.
DELIVERIES: Machine[Delivery] = Machine(
    name="federation.deliveries",
    model=Delivery,
    states=[state.value for state in DeliveryState],
    ready=DeliveryState.PENDING.value,
    failed=DeliveryState.FAILED.value,  # a permanent refusal, or out of attempts
    terminal=[DeliveryState.DELIVERED.value, DeliveryState.FAILED.value, DeliveryState.SKIPPED.value],
    transitions={DeliveryState.PENDING.value: {state.value for state in DeliveryState} - {DeliveryState.PENDING.value}},
    manual={DeliveryState.PENDING.value: {DeliveryState.SKIPPED.value}},  # an admin blocks the domain or actor
    retry=backoff.mastodon(jitter=0.0),  # today's figures exactly: try n waits n**4 + 15 s
    max_attempts=lambda site: site.federation.delivery_max_attempts,
    lease_seconds=120,  # a claimed try is not picked again before this, even if its sender died
    batch=2000,
    order=("next_at", "id"),
    only=("signer_id", "activity_uri", "inbox", "domain", "body"),  # no timestamps to parse for 2,000 rows
)


# Job callbacks (rows: models/job_callbacks.py; handler: federation/callbacks.py `send`). A row
# waits while its job runs; the job's end makes it due (queue_callback).
CALLBACKS: Machine[JobCallback] = Machine(
    name="jobs.callbacks",
    model=JobCallback,
    states=[state.value for state in CallbackState],
    ready=CallbackState.PENDING.value,
    failed=CallbackState.FAILED.value,
    terminal=(CallbackState.DELIVERED.value, CallbackState.FAILED.value),
    transitions={CallbackState.PENDING.value: {CallbackState.DELIVERED.value, CallbackState.FAILED.value}},
    # The job ended (finished, cancelled, terminated, given up): send it. Requeued: wait for the
    # new end. Sent again by hand (POST /jobs/{id}/callback): due now, whatever it was.
    manual={
        CallbackState.WAITING.value: {CallbackState.PENDING.value},
        CallbackState.PENDING.value: {CallbackState.PENDING.value, CallbackState.WAITING.value},
        CallbackState.DELIVERED.value: {CallbackState.PENDING.value, CallbackState.WAITING.value},
        CallbackState.FAILED.value: {CallbackState.PENDING.value, CallbackState.WAITING.value},
    },
    retry=backoff.table(BACKOFF),  # 10 s, 1 min, 5 min, 30 min, 1 h, 3 h, 6 h
    max_attempts=MAX_TRIES,
    lease_seconds=CLAIM_SECONDS,
    batch=50,
    order=("id",),
)

# Event webhook deliveries (rows: models/webhooks.py; handler: federation/webhooks.py `send`,
# which disables the endpoint on 410 or a failed last try; fan-out: the `webhooks.fan_out` pump).
WEBHOOK_DELIVERIES: Machine[WebhookDelivery] = Machine(
    name="webhooks.deliveries",
    model=WebhookDelivery,
    states=[state.value for state in WebhookState],
    ready=WebhookState.PENDING.value,
    failed=WebhookState.FAILED.value,
    terminal=(WebhookState.DELIVERED.value, WebhookState.FAILED.value),
    transitions={WebhookState.PENDING.value: {WebhookState.DELIVERED.value, WebhookState.FAILED.value}},
    retry=backoff.table(BACKOFF),  # the callbacks' table
    max_attempts=MAX_TRIES,
    lease_seconds=CLAIM_SECONDS,
    batch=100,
    order=("id",),  # oldest event first
)


# Activities other servers sent us, processed after the 202 (handler: federation/inbox.py `process`).
INBOX: Machine[InboxActivity] = Machine(
    name="federation.inbox",
    model=InboxActivity,
    states=[state.value for state in InboxState],
    ready=InboxState.QUEUED.value,
    running=InboxState.RUNNING.value,
    failed=InboxState.FAILED.value,
    terminal={InboxState.DONE.value, InboxState.IGNORED.value, InboxState.FAILED.value},
    transitions={InboxState.RUNNING.value: {InboxState.DONE.value, InboxState.IGNORED.value, InboxState.FAILED.value}},
    retry=backoff.mastodon(jitter=0),  # delivery's figures: n**4 + 15 s after try n
    max_attempts=lambda site: site.federation.delivery_max_attempts,
    lease_seconds=60,
    batch=10,  # each row's outcome is recorded as it ends
    order=("id",),  # in the order they arrived
)


# Copying what a followed remote actor (or object) held before the follow, page by page; started
# when the Accept arrives (handler: federation/backfill.py `run`, which saves the page it reached
# after each page, so a retry or a reaped claim resumes there).
BACKFILLS: Machine[Backfill] = Machine(
    name="federation.backfills",
    model=Backfill,
    states=[state.value for state in BackfillState],
    ready=BackfillState.PENDING.value,
    running=BackfillState.RUNNING.value,  # the follows page says "still copying"
    failed=BackfillState.FAILED.value,
    terminal={BackfillState.DONE.value, BackfillState.FAILED.value},
    transitions={BackfillState.RUNNING.value: {BackfillState.DONE.value, BackfillState.FAILED.value}},
    retry=backoff.mastodon(jitter=0),  # the origin is down: delivery's figures, n**4 + 15 s after try n
    max_attempts=lambda site: site.federation.delivery_max_attempts,
    lease_seconds=120,
    batch=1,  # one backfill may read many pages
    order=("id",),
)


# Gives and burns of units held on another server, asked of their origin in the holder's name
# (handler: federation/onward.py `send_request`). The request's id makes a repeat harmless, so
# it is sent again while the origin is away; the origin's "no" is final (refused).
ONWARD_GIVES: Machine[OnwardGive] = Machine(
    name="ledger.onward_gives",
    model=OnwardGive,
    states=[state.value for state in OnwardState],
    ready=OnwardState.PENDING.value,
    failed=OnwardState.FAILED.value,
    terminal=(OnwardState.DONE.value, OnwardState.REFUSED.value, OnwardState.FAILED.value),
    transitions={OnwardState.PENDING.value: {OnwardState.DONE.value, OnwardState.REFUSED.value, OnwardState.FAILED.value}},
    retry=backoff.mastodon(),  # try n waits about n**4 + 15 s
    max_attempts=lambda site: site.federation.delivery_max_attempts,
    lease_seconds=60,
    batch=10,
    order=("id",),  # in the order they were asked
)


# The close of a market lot that has a closing time, due at closes_at (handler:
# models/operations/market.py `close_lot`): an english auction goes to its best bid if that meets
# the reserve, else every hold goes back; a lot that ended before (sold, withdrawn) just ends.
# The lot's own conditional state update decides, so a close and a purchase racing, or a close
# run twice after a restart, award once. A failure rolls the whole close back and retries.
MARKET_CLOSES: Machine[LotClose] = timed(
    "market.closes", LotClose, CloseState,
    ready=CloseState.PENDING.value,
    moves=(CloseState.DONE.value, CloseState.FAILED.value),
    failed=CloseState.FAILED.value,
    # A soft close (a late bid on an english auction) moves a pending close later; the move drops
    # a runner's claim on it, and the handler re-checks the lot's closes_at under the lot's lock.
    manual={CloseState.PENDING.value: {CloseState.PENDING.value}},
)


# One slice of a pool batch generated on a schedule, due at its time (handler:
# models/operations/pools.py `generate_slice`): it mints the slice to the batch's owner, moves
# the quantity from the pool's `reserved` to `generated`, and writes the next slice's row, due a
# period later, all in one transaction. A failure (the type's supply limit, say) rolls it back
# and retries; given up, the batch is marked failed and the rest stays reserved for it.
POOL_GENERATIONS: Machine[Generation] = timed(
    "pools.generations", Generation, GenerationState,
    ready=GenerationState.PENDING.value,
    moves=(GenerationState.DONE.value, GenerationState.FAILED.value),
    failed=GenerationState.FAILED.value,
)


# What falls due on a contract (rows: models/contracts.py ContractStep; handler:
# models/operations/contracts.py `run_step`): a payment taken from the licensee (a ledger give;
# one that fails moves the contract to in_arrears and adds the penalty), the end of a grace
# period (still in arrears: suspended), the end of a cancellation's notice, the expiry. Each step
# moves the contract along its declared life (models/contracts.py MOVES) under the contract's
# lock and queues the next step, in one transaction with its own outcome. A step the contract no
# longer needs (it ended, the arrears were paid) is closed by hand: pending -> done.
CONTRACT_STEPS: Machine[ContractStep] = timed(
    "contracts.steps", ContractStep, StepState,
    ready=StepState.PENDING.value,
    moves=(StepState.DONE.value, StepState.FAILED.value),
    failed=StepState.FAILED.value,
    manual={StepState.PENDING.value: {StepState.DONE.value}},
)


# A reservation from a pool, due at its expiry (handler: models/operations/pools.py
# `expire_reservation`), which gives its capacity back to the pool (and the reserver's per-user
# allowance) in the same transaction. The pool's owner claiming it and the reserver cancelling it
# are people's moves; a move drops the runner's claim, so an expiry racing a claim cannot commit.
POOL_RESERVATIONS: Machine[Reservation] = timed(
    "pools.reservations", Reservation, ReservationState,
    ready=ReservationState.ACTIVE.value,
    moves=(ReservationState.EXPIRED.value, ReservationState.FAILED.value),
    failed=ReservationState.FAILED.value,
    terminal=(
        ReservationState.CLAIMED.value, ReservationState.CANCELLED.value, ReservationState.EXPIRED.value,
        ReservationState.FAILED.value,
    ),
    manual={ReservationState.ACTIVE.value: {ReservationState.CLAIMED.value, ReservationState.CANCELLED.value}},
    batch=50,
)


# The next check of a watcher, due at its time (handler: models/operations/watchers.py
# `run_check`): it evaluates the watcher's query as its owner, fires (event `watcher.fired`, and
# the watcher's chain queued as a job) when the fire-on rule holds for a state it has not fired
# on, and writes the next check's row, all in one transaction. Turning a watcher off or deleting
# it closes its pending check by hand (pending -> done).
WATCHER_CHECKS: Machine[WatcherCheck] = timed(
    "watchers.checks", WatcherCheck, CheckState,
    ready=CheckState.PENDING.value,
    moves=(CheckState.DONE.value, CheckState.FAILED.value),
    failed=CheckState.FAILED.value,
    manual={CheckState.PENDING.value: {CheckState.DONE.value}},
)


# An organization's proposal, due at its deadline (rows: models/organizations.py Proposal;
# handler: models/operations/organizations.py `decide`): the votes are tallied from the shares
# snapshotted when it opened; a proposal that passed runs its chain as the organization in the
# same transaction as the row's move out of `open`, so a restart between the deadline and the
# run runs it once. A chain that fails rolls back whole and the proposal is `failed` with why.
ORGANIZATION_PROPOSALS: Machine[Proposal] = timed(
    "organizations.proposals", Proposal, ProposalState,
    ready=ProposalState.OPEN.value,
    moves=(ProposalState.EXECUTED.value, ProposalState.REJECTED.value, ProposalState.FAILED.value),
    failed=ProposalState.FAILED.value,
    batch=5,
    lease_seconds=120,
)


def _moves_by_source() -> dict[str, set[str]]:
    moves: dict[str, set[str]] = {}
    for source, target in ORDER_MOVES:
        moves.setdefault(source, set()).add(target)
    return moves


# A store order (rows: models/stores.py Order; handler: models/operations/stores_orders.py
# `close_unconfirmed`). People move it along its life (ORDER_MOVES: the buyer orders, pays,
# confirms delivery or opens an issue; the store's staff fulfil, mark delivered, resolve); each
# move is conditional on the state it leaves and drops a runner's claim. The one due state is
# `delivered`: at the store's confirmation deadline a silent buyer's order is closed and the
# store paid, in the same transaction as the row's move, so a buyer confirming or opening an
# issue at the same moment either wins or is refused, never both.
STORE_ORDERS: Machine[Order] = timed(
    "stores.orders", Order, OrderState,
    ready=OrderState.DELIVERED.value,
    moves=(OrderState.CLOSED.value, OrderState.FAILED.value),
    failed=OrderState.FAILED.value,
    terminal=(
        OrderState.CLOSED.value, OrderState.ISSUE_RESOLVED.value, OrderState.CANCELLED.value, OrderState.FAILED.value,
    ),
    manual=_moves_by_source(),
)


# A placed order's payment deadline (rows: models/stores.py PaymentDeadline; handler:
# models/operations/stores_orders.py `cancel_unpaid`): an order still unpaid then is cancelled
# and its units go back to stock, so a basket cannot hold a store's stock for ever. Paying or
# cancelling first closes the row by hand (pending -> done), which drops a runner's claim.
STORE_PAYMENT_DEADLINES: Machine[PaymentDeadline] = timed(
    "stores.payment_deadlines", PaymentDeadline, DeadlineState,
    ready=DeadlineState.PENDING.value,
    moves=(DeadlineState.DONE.value, DeadlineState.FAILED.value),
    failed=DeadlineState.FAILED.value,
    manual={DeadlineState.PENDING.value: {DeadlineState.DONE.value}},
)


# Reading an account's followers/following into a network, page by page (rows: models/networks.py
# Discovery; handler: federation/discovery.py `run`, which saves the page reached and the counts
# after each page, so a retry or a reaped claim resumes there). A server that hides its
# collections ends it `done` with a note saying so; an address refused or no such account: failed.
NETWORK_DISCOVERIES: Machine[Discovery] = Machine(
    name="networks.discoveries",
    model=Discovery,
    states=[state.value for state in DiscoveryState],
    ready=DiscoveryState.PENDING.value,
    running=DiscoveryState.RUNNING.value,  # its page says "reading"
    failed=DiscoveryState.FAILED.value,
    terminal={DiscoveryState.DONE.value, DiscoveryState.FAILED.value},
    transitions={DiscoveryState.RUNNING.value: {DiscoveryState.DONE.value, DiscoveryState.FAILED.value}},
    retry=backoff.mastodon(jitter=0),  # the other server is down: n**4 + 15 s after try n
    max_attempts=lambda site: site.federation.delivery_max_attempts,
    lease_seconds=120,
    batch=1,  # one discovery may read many pages
    order=("id",),
)


# Writing a distribution's allocations, one per entry of its network, a chunk per transaction
# (rows: models/allocations.py Distribution; handler: models/operations/distributions.py
# `allocate`). The units were held in the distribution's escrow when it was made; the counts are
# its progress. A failure rolls back the chunk under way and retries from the last one written.
DISTRIBUTION_RUNS: Machine[Distribution] = Machine(
    name="distributions.runs",
    model=Distribution,
    states=[state.value for state in RunState],
    ready=RunState.PENDING.value,
    running=RunState.RUNNING.value,
    failed=RunState.FAILED.value,
    terminal={RunState.ALLOCATED.value, RunState.FAILED.value},
    transitions={RunState.RUNNING.value: {RunState.ALLOCATED.value, RunState.FAILED.value}},
    retry=backoff.mastodon(jitter=0),
    max_attempts=10,
    lease_seconds=120,
    batch=1,
    order=("id",),
)


# An allocation nobody claimed, due at its distribution's expires_at (handler:
# models/operations/distributions.py `expire_allocation`): its units go back from the escrow to
# the distributor in the same transaction as the move. A claim (models/distributions.py
# `claim_for_identity`) is a person's move held -> claimed, conditional on the state, which
# drops a runner's claim: an expiry racing a claim cannot both commit.
DISTRIBUTION_EXPIRIES: Machine[Allocation] = timed(
    "distributions.expiries", Allocation, AllocationState,
    ready=AllocationState.HELD.value,
    moves=(AllocationState.EXPIRED.value, AllocationState.FAILED.value),
    failed=AllocationState.FAILED.value,
    terminal=(AllocationState.CLAIMED.value, AllocationState.EXPIRED.value, AllocationState.FAILED.value),
    manual={AllocationState.HELD.value: {AllocationState.CLAIMED.value}},
    batch=100,
)


# Account mail (rows: models/mail.py OutgoingMail, queued by the operation that causes it;
# handler: federation/mail.py `send`, SMTP on a thread with no transaction open). A message is
# sent, refused for good (a 5xx from the server: failed), or not sent (no SMTP server is
# configured, or its link expired before it could leave: unsent). Other failures (the server
# is down, a 4xx) retry on delivery's curve, n**4 + 15 s, up to [mail] max_attempts.
MAIL: Machine[OutgoingMail] = Machine(
    name="mail.outgoing",
    model=OutgoingMail,
    states=[state.value for state in MailState],
    ready=MailState.PENDING.value,
    failed=MailState.FAILED.value,
    terminal=(MailState.SENT.value, MailState.FAILED.value, MailState.UNSENT.value),
    transitions={MailState.PENDING.value: {MailState.SENT.value, MailState.FAILED.value, MailState.UNSENT.value}},
    retry=backoff.mastodon(),
    max_attempts=lambda site: site.mail.max_attempts,
    lease_seconds=lambda site: site.mail.timeout_seconds * 3,  # a try that outlives its timeouts has died
    batch=10,
    order=("id",),  # in the order they were queued
)


# A store's promotion campaign (rows: models/promotions.py PromoCampaign; handler:
# models/operations/promotions_payouts.py `end_campaign`). The store's managers start, pause,
# resume and end it by hand (CAMPAIGN_MOVES); while running it is due at its end time, and once
# the budget cannot pay its cheaper price a beacon makes it due at once (running -> running).
# Its end pays every
# counted, unpaid hit and gives the rest of the budget back to the organization, in the same
# transaction as the row's move, so a manager's move meanwhile drops this claim.
PROMO_CAMPAIGNS: Machine[PromoCampaign] = timed(
    "promotions.campaigns", PromoCampaign, CampaignState,
    ready=CampaignState.RUNNING.value,
    moves=(CampaignState.ENDED.value, CampaignState.FAILED.value),
    failed=CampaignState.FAILED.value,
    manual=CAMPAIGN_MOVES,
)


# A campaign's next payout, due every payout_seconds while it runs (rows: models/promotions.py
# PromoPayout; handler: models/operations/promotions_payouts.py `pay_promoters`): the sum of each
# promoter's counted, unpaid hits is given to them from the campaign's escrow, the hits marked
# paid by that give, and the next payout's row written, in one transaction.
PROMO_PAYOUTS: Machine[PromoPayout] = timed(
    "promotions.payouts", PromoPayout, PayoutState,
    ready=PayoutState.PENDING.value,
    moves=(PayoutState.DONE.value, PayoutState.FAILED.value),
    failed=PayoutState.FAILED.value,
)

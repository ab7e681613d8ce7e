"""The one engine: a toy machine declared here goes through success, retry with backoff, give-up,
lease expiry after its runner died, a person's move, and a batch handler; bad declarations fail
at import time, not in production."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from models.db import tortoise_config
from models.engine import (
    EngineError, GiveUp, Go, Lease, LostLease, Machine, Machines, Retry, Runner, backoff, claim, move, reap, run_due,
)

from .dbutil import empty_database
from .engine_toy import Chore

TRANSITIONS = {"doing": {"done", "failed", "skipped"}}


def toy_machine(registry: Machines, **overrides: Any) -> Machine[Chore]:
    declaration: dict[str, Any] = dict(
        name="toy.chores", model=Chore, states=("todo", "doing", "done", "failed", "skipped", "parked"),
        ready="todo", running="doing", failed="failed", terminal=("done", "failed", "skipped"),
        transitions=TRANSITIONS, manual={"todo": {"parked"}, "parked": {"todo"}, "failed": {"todo"}},
        retry=backoff.table([10, 60]), max_attempts=3, lease_seconds=30, batch=10, registry=registry,
    )
    declaration.update(overrides)
    return Machine(**declaration)


@pytest.fixture
def toy_url(tmp_path: Path) -> Iterator[str]:
    with empty_database(tmp_path) as url:
        yield url


@pytest.fixture
async def toy_db(toy_url: str) -> AsyncIterator[None]:
    config = tortoise_config(toy_url)
    config["apps"] = {"toy": {"models": ["tests.engine_toy"], "default_connection": "default"}}
    await Tortoise.init(config=config)
    await Tortoise.generate_schemas()
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def chores(*names: str) -> list[Chore]:
    return [await Chore.create(name=name) for name in names]


async def test_engine__success_retry_and_give_up_follow_the_declaration(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry)
    tries: dict[str, int] = {}

    @machine.handler(may={"done"})
    async def do(site: Any, chore: Chore, lease: Lease) -> Go | Retry:
        tries[chore.name] = tries.get(chore.name, 0) + 1
        if chore.name == "flaky" and tries["flaky"] == 1:
            return Retry(error="the shop was closed")
        if chore.name == "hopeless":
            return Retry(error="no such shop")
        return Go("done", values={"result": f"did {chore.name}"})

    easy, flaky, hopeless = await chores("easy", "flaky", "hopeless")
    assert await run_due(None, machine) == 3
    rows = {chore.name: chore for chore in await Chore.all()}
    assert (rows["easy"].state, rows["easy"].result, rows["easy"].attempts) == ("done", "did easy", 1)
    assert rows["easy"].lease_owner is None and rows["easy"].next_at is None and rows["easy"].last_error is None
    assert rows["flaky"].state == "todo" and rows["flaky"].last_error == "the shop was closed"
    wait = (rows["flaky"].next_at - datetime.now(UTC)).total_seconds()
    assert 8 < wait <= 10  # the table's first step

    assert await run_due(None, machine) == 0  # nothing due before next_at
    later = datetime.now(UTC) + timedelta(seconds=11)
    assert await run_due(None, machine, now=later) == 2
    assert (await Chore.get(id=flaky.id)).state == "done"
    third = datetime.now(UTC) + timedelta(seconds=200)
    assert await run_due(None, machine, now=third) == 1  # hopeless: try 3 of 3
    gone = await Chore.get(id=hopeless.id)
    assert gone.state == "failed" and gone.attempts == 3 and gone.next_at is None
    assert gone.last_error == "gave up after 3 tries: no such shop"
    assert await run_due(None, machine, now=third + timedelta(days=1)) == 0  # failed is terminal


async def test_engine__give_up_to_another_terminal_state_and_undeclared_moves(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry)

    @machine.handler(may={"skipped"})
    async def do(site: Any, chore: Chore, lease: Lease) -> Go | GiveUp:
        if chore.name == "rude":
            return Go("done")  # not declared by this handler: refused, recorded as a retry
        return GiveUp("nobody asked for it", state="skipped")

    polite, rude = await chores("polite", "rude")
    assert await run_due(None, machine) == 2
    assert (await Chore.get(id=polite.id)).state == "skipped"
    refused = await Chore.get(id=rude.id)
    assert refused.state == "todo" and refused.last_error == "internal error: see the server log"


async def test_engine__a_dead_runner_s_claim_is_reaped_and_done_by_another(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry, lease_seconds=1)
    done_by: list[str] = []

    @machine.handler(may={"done"})
    async def do(site: Any, chore: Chore, lease: Lease) -> Go:
        done_by.append(lease.owner)
        return Go("done")

    (chore,) = await chores("orphan")
    dead, rows = await claim(machine, None, owner="dead-runner")  # claimed, then the process died
    assert [row.id for row in rows] == [chore.id]
    assert (await Chore.get(id=chore.id)).state == "doing"
    assert await run_due(None, machine) == 0  # the lease still runs: nobody else takes it
    assert await reap(machine, None, now=datetime.now(UTC) + timedelta(seconds=2)) == 1
    back = await Chore.get(id=chore.id)
    assert back.state == "todo" and back.lease_owner is None and back.attempts == 1
    assert await run_due(None, machine, owner="live-runner") == 1
    final = await Chore.get(id=chore.id)
    assert final.state == "done" and final.attempts == 2 and done_by[0].startswith("live-runner")
    with pytest.raises(LostLease):  # the dead runner cannot record anything now
        await dead.commit(rows[0], Go("done"))


async def test_engine__reaping_after_the_last_attempt_gives_up(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry, max_attempts=1)
    (chore,) = await chores("once")
    await claim(machine, None, owner="dead-runner")
    assert await reap(machine, None, now=datetime.now(UTC) + timedelta(minutes=1)) == 1
    row = await Chore.get(id=chore.id)
    assert row.state == "failed" and "stopped 1 times" in (row.last_error or "")


async def test_engine__a_person_s_move_stops_the_handler_and_its_writes(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry, lease_seconds=0.3, manual={"doing": {"todo", "failed"}, "failed": {"todo"}})
    started = asyncio.Event()

    @machine.handler(may={"done"})
    async def do(site: Any, chore: Chore, lease: Lease) -> Go:
        started.set()
        await asyncio.sleep(5)  # cancelled when the heartbeat finds the row taken away
        async with in_transaction():
            await Chore.filter(id=chore.id).update(result="should never be written")
            await lease.commit(chore, Go("done"))
        return Go("done")

    (chore,) = await chores("long")
    runner = asyncio.create_task(run_due(None, machine))
    await asyncio.wait_for(started.wait(), 5)
    assert await move(machine, chore.id, "doing", "failed", last_error="cancelled by a person")
    assert await asyncio.wait_for(runner, 5) == 1
    row = await Chore.get(id=chore.id)
    assert row.state == "failed" and row.result is None and row.last_error == "cancelled by a person"
    with pytest.raises(EngineError):
        await move(machine, chore.id, "failed", "done")  # not a declared manual move


async def test_engine__a_batch_handler_gets_every_claimed_row_once(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry, running=None, batch=50, transitions={"todo": {"done", "failed"}},
                          manual={})
    seen: list[list[str]] = []

    @machine.batch_handler(may={"done"})
    async def do_all(site: Any, rows: list[Chore], lease: Lease) -> dict[str, Go | Retry]:
        seen.append([row.name for row in rows])
        return {row.id: Go("done") if row.name != "odd" else Retry(error="later", after=0) for row in rows}

    await chores(*[f"c{i}" for i in range(20)], "odd")
    # two runners race for the same rows: each row is handled by exactly one of them
    first, second = await asyncio.gather(run_due(None, machine, owner="a"), run_due(None, machine, owner="b"))
    assert first + second == 21 and sorted(sum(seen, [])) == sorted([f"c{i}" for i in range(20)] + ["odd"])
    assert await Chore.filter(state="done").count() == 20
    odd = await Chore.get(name="odd")
    assert odd.state == "todo" and odd.lease_owner is None and odd.last_error == "later"


async def test_engine__the_runner_works_in_the_background_and_wakes_on_new_work(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry)
    done = asyncio.Event()

    @machine.handler(may={"done"})
    async def do(site: Any, chore: Chore, lease: Lease) -> Go:
        done.set()
        return Go("done")

    runner = Runner(None, registry=registry, poll_seconds=60, pumps=False)
    runner.start()
    try:
        await asyncio.sleep(0.1)  # its first empty poll is over: it now waits up to 60 s
        await chores("woken")
        registry.wake("toy.chores")
        await asyncio.wait_for(done.wait(), 5)
        for _ in range(100):  # the outcome is recorded just after the handler returns
            if (await Chore.get(name="woken")).state == "done":
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert (await Chore.get(name="woken")).state == "done"


def test_engine__bad_declarations_fail_when_made() -> None:
    registry = Machines()
    with pytest.raises(EngineError, match="undeclared state"):
        toy_machine(registry, transitions={"doing": {"done", "failed", "lost"}})
    with pytest.raises(EngineError, match="terminal state 'done' has moves"):
        toy_machine(registry, transitions={**TRANSITIONS, "done": {"todo"}})
    with pytest.raises(EngineError, match="must be declared"):
        toy_machine(registry, transitions={"doing": {"done"}})
    machine = toy_machine(registry)
    with pytest.raises(EngineError, match="not a declared transition"):
        machine.handler(may={"parked"})(lambda *args: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(EngineError, match="declared twice"):
        toy_machine(registry)


def test_backoff__mastodon_table_and_retry_after() -> None:
    policy = backoff.mastodon(jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [16, 31, 96]
    jittered = backoff.mastodon(jitter=0.1)
    assert all(96 <= jittered.delay(3) <= 105.6 for _ in range(50))
    assert policy.delay(1, retry_after=600) == 600 and policy.delay(1, retry_after=10**9) == backoff.MAX_RETRY_AFTER
    steps = backoff.table([5, 30])
    assert [steps.delay(n) for n in (1, 2, 3, 9)] == [5, 30, 30, 30]
    assert backoff.parse_retry_after("120") == 120 and backoff.parse_retry_after("soon") is None
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert backoff.parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", moment) == 60


async def test_engine__run_due_for_given_ids_takes_only_those(toy_db: None) -> None:
    registry = Machines()
    machine = toy_machine(registry)

    @machine.handler(may={"done"})
    async def do(site: Any, chore: Chore, lease: Lease) -> Go:
        return Go("done")

    first, second = await chores("first", "second")
    assert await run_due(None, machine, ids=[second.id]) == 1  # "send this one now"
    assert [(await Chore.get(id=c.id)).state for c in (first, second)] == ["todo", "done"]
    assert await run_due(None, machine, ids=[second.id]) == 0  # done: nothing due among the ids
    assert await run_due(None, machine) == 1

"""Several processes on one PostgreSQL (issue 25): two `serve --reuse-port` and two `worker`
processes share one database while gives, queued jobs, signed inbox deliveries and scheduled
machines all run at once. Every give is conserved, every job and machine step runs once, the
periodic scheduler queues one job per slot, and the sign-in limits hold across processes.

PostgreSQL only: SQLite serialises every write through one file lock, so several writing
processes on it measure the lock, not the design (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from federation.httpsig_cavage import sign_cavage

from .dbutil import TemplateDatabase, is_postgres
from .fedhelpers import SHARED_KEY, Remote
from .livesrv import BIN, LiveServer, live_server
from .test_workers_processes import rows, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_postgres(), reason="several writing processes need PostgreSQL (SQLite has one write lock)"),
]

V1 = "/api/v1"
LOGIN_FAILURES = 3  # per account, before sign-ins are refused
ANONYMOUS_PER_MINUTE = 10
QUEUED_GIVES = 200
FOLLOWERS = 30
SLICES = 5  # a pool batch generated one unit a second


class Cluster:
    """Two `serve --reuse-port` and two `worker` processes on one database (each in its own
    process group, logs in the test's tmp dir)."""

    def __init__(self, server: LiveServer, log_dir: Path) -> None:
        self.server, self.log_dir = server, log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(
            [str(BIN / "tallystick"), *args], env=self.server.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        ))

    def start(self) -> None:
        for n in range(2):
            self.spawn(f"serve{n}", "serve", "--reuse-port")
        for n in range(2):
            self.spawn(f"worker{n}", "worker", "--workers", "2")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert all(process.poll() is None for process in self.processes), self.logs()
            try:
                if requests.get(f"{self.server.base_url}{V1}/openapi.json", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise AssertionError(f"no server answered: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> list[int | None]:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return [process.returncode for process in self.processes]


@pytest.fixture
def cluster(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[Cluster]:
    settings = {
        "TALLYSTICK_EMBEDDED_WORKERS": "false",  # the `worker` processes run every machine
        "TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS": "0.1",
        "TALLYSTICK_JOBS__SWEEP_SECONDS": "1",  # a periodic job a second, fired by both workers
        "TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",
        "TALLYSTICK_LIMITS__LOGIN_FAILURES_PER_ACCOUNT": str(LOGIN_FAILURES),
        "TALLYSTICK_LIMITS__ANONYMOUS_REQUESTS_PER_MINUTE": str(ANONYMOUS_PER_MINUTE),
    }
    with live_server(template_database, tmp_path, **settings) as server:  # its own `start` is not used
        running = Cluster(server, tmp_path)
        try:
            yield running
        finally:
            running.stop()


class RemoteInThread:
    """tests/fedhelpers.py's Remote, served from a loop on its own thread (this test blocks)."""

    def __init__(self) -> None:
        self.remote = Remote()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="remote", daemon=True)

    def __enter__(self) -> Remote:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.remote.start(), self.loop).result(30)
        return self.remote

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.remote.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def api(base: str, method: str, path: str, token: str | None = None, *, expect: int | tuple[int, ...],
        session: Any = requests, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = session.request(method, f"{base}{path}", headers={**headers, **kwargs.pop("headers", {})}, timeout=30,
                            **kwargs)
    allowed = expect if isinstance(expect, tuple) else (expect,)
    assert reply.status_code in allowed, (method, path, reply.status_code, reply.text)
    return reply


def balance_of(base: str, type_id: str, owner: str) -> int:
    reply = api(base, "GET", f"{V1}/ledger/balance", params={"type": type_id, "owner": owner}, expect=200)
    return int(reply.json()["balance"])


def signed_inbox_post(base: str, path: str, activity: dict[str, Any], key_id: str) -> int:
    """POST an activity to our inbox as a remote server would (a fresh connection each time, so
    the kernel spreads them over both serve processes)."""
    body = orjson.dumps(activity)
    headers = sign_cavage("POST", f"{base}{path}", key_id=key_id, private_key=SHARED_KEY.private_pem, body=body)
    headers["Content-Type"] = "application/activity+json"
    return requests.post(f"{base}{path}", data=body, headers=headers, timeout=30).status_code


def accepted(remote: Remote) -> list[str]:
    """The Follow ids the remote got an Accept for, one per Accept POST."""
    return [post["json"]["object"]["id"] for post in list(remote.requests)
            if post["method"] == "POST" and post["json"] and post["json"].get("type") == "Accept"]


def test_two_servers_and_two_workers_on_one_database_do_everything_once(cluster: Cluster) -> None:
    live = cluster.server
    base, url = live.base_url, live.env["TALLYSTICK_DATABASE_URL"]
    names = ["alice", "bob", "carol", "dave", "eve"]
    tokens = {name: live.create_user(name) for name in names}
    cluster.start()

    # Setup: alice mints 1,000 coins and hands 200 to each of the others (eve gets 20: she overspends).
    coin = api(base, "POST", f"{V1}/types", tokens["alice"], expect=201,
               json={"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0}).json()["id"]
    api(base, "POST", f"{V1}/ledger/create", tokens["alice"], json={"type": coin, "amount": "1000"}, expect=201)
    start = {"alice": 1000 - 620 - QUEUED_GIVES, "bob": 200, "carol": 200, "dave": 200, "eve": 20}
    for name in ("bob", "carol", "dave", "eve"):
        api(base, "POST", f"{V1}/ledger/give", tokens["alice"], json={"type": coin, "amount": str(start[name]), "to": name},
            expect=201)
    start["alice"] += QUEUED_GIVES  # the queued gives below spend these

    # A scheduled pool batch: one unit a second for SLICES seconds, to bob.
    medal = api(base, "POST", f"{V1}/types", tokens["alice"], expect=201,
                json={"name": "Medal", "symbol": "MDL", "fungible": True, "smallest_unit": 0}).json()["id"]
    pool = api(base, "POST", f"{V1}/pools", tokens["alice"], expect=201,
               json={"type": medal, "name": "Medals", "capacity": "100"}).json()["id"]
    api(base, "POST", f"{V1}/pools/{pool}/batches", tokens["alice"], expect=201,
        json={"to": "bob", "quantity": str(SLICES), "batch_size": "1", "period": 1})

    traders = ["bob", "carol", "dave"]
    moves: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def trade(seed: int) -> None:
        """Gives of 1-5 coins between bob, carol and dave; each kept only if answered 201."""
        pick = random.Random(seed)
        with requests.Session() as session:
            for _ in range(40):
                giver, taker = pick.sample(traders, 2)
                amount = pick.randint(1, 5)
                reply = api(base, "POST", f"{V1}/ledger/give", tokens[giver], session=session, expect=(201, 409),
                            json={"type": coin, "amount": str(amount), "to": taker})
                if reply.status_code == 201:
                    with lock:
                        moves.append((giver, taker, amount))

    def overspend(_: int) -> int:
        """Eve gives 1 coin, 40 times at once; she holds 20."""
        return api(base, "POST", f"{V1}/ledger/give", tokens["eve"], expect=(201, 409),
                   json={"type": coin, "amount": "1", "to": "alice"}).status_code

    def queue_jobs(chunk: range) -> list[str]:
        with requests.Session() as session:
            return [api(base, "POST", f"{V1}/ledger/give", tokens["alice"], session=session, expect=202,
                        headers={"Prefer": "respond-async"}, json={"type": coin, "amount": "1", "to": "dave"}).json()["id"]
                    for _ in chunk]

    with RemoteInThread() as remote, ThreadPoolExecutor(16) as pool_threads:
        followers = [remote.actor(f"f{n}") for n in range(FOLLOWERS)]

        def follow(n: int) -> list[int]:
            actor = followers[n % FOLLOWERS]
            activity = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor.uri}/follows/1",
                        "type": "Follow", "actor": actor.uri, "object": f"{base}/users/alice"}
            return [signed_inbox_post(base, "/users/alice/inbox", activity, actor.key_id)]

        started = time.monotonic()
        trading = [pool_threads.submit(trade, seed) for seed in range(6)]
        jobs = [pool_threads.submit(queue_jobs, range(i, QUEUED_GIVES, 4)) for i in range(4)]
        overspent = list(pool_threads.map(overspend, range(40)))
        follows = list(pool_threads.map(follow, range(2 * FOLLOWERS)))  # every Follow sent twice
        for done in trading:
            done.result()
        job_ids = [job_id for done in jobs for job_id in done.result()]

        # What the workers owe: the queue drained, every inbox activity handled, every Accept sent.
        wait_until(lambda: rows(url, "SELECT count(*) FROM jobs WHERE operation = 'ledger.give' AND state IN "
                                     "('queued', 'running')") == [(0,)], 60, f"the jobs to run\n{cluster.logs()}")
        wait_until(lambda: rows(url, "SELECT count(*) FROM inbox_activities WHERE state IN ('queued', 'running')")
                   == [(0,)], 30, f"the inbox to drain\n{cluster.logs()}")
        wait_until(lambda: len(accepted(remote)) >= FOLLOWERS, 30, f"the Accepts to be delivered\n{cluster.logs()}")
        wait_until(lambda: rows(url, "SELECT count(*) FROM pool_generations WHERE state = 'done'") == [(SLICES,)],
                   SLICES + 30, f"the pool's slices\n{cluster.logs()}")
        accepts = Counter(accepted(remote))
    elapsed = time.monotonic() - started

    # Gives: nothing created or lost, no double spend, every balance what the 201s say.
    assert overspent.count(201) == 20 and overspent.count(409) == 20, Counter(overspent)
    expected = dict(start)
    expected["eve"] -= 20
    expected["alice"] += 20 - QUEUED_GIVES
    expected["dave"] += QUEUED_GIVES
    for giver, taker, amount in moves:
        expected[giver] -= amount
        expected[taker] += amount
    assert {name: balance_of(base, coin, name) for name in names} == expected
    assert sum(expected.values()) == 1000

    # Jobs: each ran exactly once.
    assert len(set(job_ids)) == QUEUED_GIVES
    assert rows(url, "SELECT state, attempts, count(*) FROM jobs WHERE operation = 'ledger.give' "
                     "GROUP BY state, attempts") == [("succeeded", 1, QUEUED_GIVES)]

    # Inbox: every Follow (each sent twice, to whichever process) accepted once, stored once,
    # answered with one Accept.
    assert all(status == 202 for statuses in follows for status in statuses), follows
    assert rows(url, "SELECT state, count(*) FROM inbox_activities GROUP BY state") == [("done", FOLLOWERS)]
    assert rows(url, "SELECT state, count(*) FROM follows GROUP BY state") == [("accepted", FOLLOWERS)]
    assert sorted(accepts.values()) == [1] * FOLLOWERS

    # A scheduled machine: each slice generated once, one after another.
    assert rows(url, "SELECT attempts, count(*) FROM pool_generations GROUP BY attempts") == [(1, SLICES)]
    assert balance_of(base, medal, "bob") == SLICES

    # The periodic scheduler runs in both workers: one sweep job per slot, each run once.
    sweeps = rows(url, "SELECT periodic_key, state, attempts FROM jobs WHERE operation = 'system.jobs.sweep'")
    assert len(sweeps) >= int(elapsed) - 2, (elapsed, sweeps)
    assert len({key for key, _, _ in sweeps}) == len(sweeps)
    assert {(state, attempts) for _, state, attempts in sweeps} <= {("succeeded", 1), ("queued", 0), ("running", 1)}

    # Sign-in limits are shared through the database: the account locks after LOGIN_FAILURES
    # wrong passwords in all, whichever process each reached (fresh connections spread them).
    statuses = [api(base, "POST", f"{V1}/auth/login", expect=(401, 429),
                    json={"username": "carol", "password": "wrong"}).status_code for _ in range(4 * LOGIN_FAILURES)]
    assert statuses.count(401) == LOGIN_FAILURES and statuses[LOGIN_FAILURES:] == [429] * 3 * LOGIN_FAILURES
    api(base, "POST", f"{V1}/auth/login", json={"username": "carol", "password": "correct horse"}, expect=429)

    # The anonymous verification budget is per process (docs/scaling.md says why): a client gets
    # at most the budget once per serve process, never more.
    answered = [api(base, "GET", f"{V1}/verify", params={"token": "nope"}, expect=(400, 404, 422, 429)).status_code
                for _ in range(4 * ANONYMOUS_PER_MINUTE)]
    assert ANONYMOUS_PER_MINUTE <= len(answered) - answered.count(429) <= 2 * ANONYMOUS_PER_MINUTE, Counter(answered)

    assert cluster.stop() == [0, 0, 0, 0], cluster.logs()

"""Real `tallystick worker` processes on one database: two of them drain a large queue running
every job exactly once, and a worker killed with SIGKILL mid-job loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from aiohttp import web

from .dbutil import TemplateDatabase, is_postgres
from .fedhelpers import Remote
from .livesrv import BIN, LiveServer, live_server
from .loopback import Loopback

pytestmark = pytest.mark.slow

V1 = "/api/v1"
# 1,000 on PostgreSQL (the figure); SQLite serialises every write, so fewer there.
QUEUED_GIVES = 1000 if is_postgres() else 300


def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Read the database the processes share, directly (not through the code under test)."""
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://")) as connection:
            return connection.execute(sql).fetchall()

    async def fetch() -> list[tuple[Any, ...]]:
        import asyncpg

        connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
        try:
            return [tuple(record) for record in await connection.fetch(sql)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


@pytest.fixture
def live(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    """A server that only queues (no embedded workers); workers are separate processes."""
    quiet = {"TALLYSTICK_EMBEDDED_WORKERS": "false", "TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS": "0.1"}
    with live_server(template_database, tmp_path, **quiet) as server:
        yield server


class Workers:
    """`tallystick worker` processes started by a test, each in its own process group."""

    def __init__(self, server: LiveServer, log_dir: Path) -> None:
        self.server, self.log_dir = server, log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 2, **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / "tallystick"), "worker", "--workers", str(count)],
            env={**self.server.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.log_dir.glob("worker*.log")))

    def stop_all(self) -> list[int | None]:
        codes = []
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            codes.append(process.returncode)
        return codes


@pytest.fixture
def workers(live: LiveServer, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(live, tmp_path)
    yield pool
    pool.stop_all()


def call(server: LiveServer, session: requests.Session, method: str, path: str, token: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    reply = session.request(method, f"{server.base_url}{path}", headers=headers, timeout=30, **kwargs)
    assert reply.status_code < 300, reply.text
    return reply.json()


def minted_coin(server: LiveServer, token: str, amount: int) -> str:
    with requests.Session() as session:
        coin = call(server, session, "POST", f"{V1}/types", token,
                    json={"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0})
        call(server, session, "POST", f"{V1}/ledger/create", token, json={"type": coin["id"], "amount": str(amount)})
    return coin["id"]


def balance(server: LiveServer, type_id: str, owner: str) -> str:
    reply = requests.get(f"{server.base_url}{V1}/ledger/balance", params={"type": type_id, "owner": owner}, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["balance"]


def queue_gives(server: LiveServer, token: str, type_id: str, count: int) -> list[str]:
    """Queue `count` gives of 1 unit to bob through the API (four clients at once)."""

    def queue(chunk: range) -> list[str]:
        with requests.Session() as session:
            return [
                call(server, session, "POST", f"{V1}/ledger/give", token, headers={"Prefer": "respond-async"},
                     json={"type": type_id, "amount": "1", "to": "bob"})["id"]
                for _ in chunk
            ]

    with ThreadPoolExecutor(4) as pool:
        return [job_id for chunk in pool.map(queue, (range(i, count, 4) for i in range(4))) for job_id in chunk]


def wait_until(condition: Any, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_two_worker_processes_drain_the_queue_running_every_job_exactly_once(
    live: LiveServer, workers: Workers
) -> None:
    alice, _ = live.create_user("alice"), live.create_user("bob")
    live.start()
    type_id = minted_coin(live, alice, QUEUED_GIVES)
    job_ids = queue_gives(live, alice, type_id, QUEUED_GIVES)
    assert len(set(job_ids)) == QUEUED_GIVES
    assert rows(live.env["TALLYSTICK_DATABASE_URL"], "SELECT count(*) FROM jobs WHERE state = 'queued'") == [
        (QUEUED_GIVES,)
    ]

    first, second = workers.start(), workers.start()
    url = live.env["TALLYSTICK_DATABASE_URL"]
    gives = "operation = 'ledger.give'"
    wait_until(lambda: rows(url, f"SELECT count(*) FROM jobs WHERE {gives} AND state IN ('queued', 'running')")
               == [(0,)], 120, "the queue to drain")
    assert workers.stop_all() == [0, 0], workers.logs()

    assert rows(url, f"SELECT state, attempts, count(*) FROM jobs WHERE {gives} GROUP BY state, attempts") == [
        ("succeeded", 1, QUEUED_GIVES)
    ], rows(url, f"SELECT DISTINCT error FROM jobs WHERE {gives} AND state <> 'succeeded'")
    assert rows(url, f"SELECT count(*) FROM jobs WHERE {gives} AND lease_owner IS NOT NULL") == [(0,)]
    assert rows(url, "SELECT count(*) FROM ledger_entries WHERE kind = 'give'") == [(QUEUED_GIVES,)]
    assert balance(live, type_id, "bob") == str(QUEUED_GIVES)
    assert balance(live, type_id, "alice") == "0"
    assert first.returncode == 0 and second.returncode == 0


class StallingActorHost:
    """A remote server on 127.0.0.1 serving one actor; its first request hangs (a slow peer),
    so a job that looks the actor up is caught mid-job, deterministically."""

    def __init__(self) -> None:
        self.first_request = threading.Event()
        self.release = threading.Event()
        self.server = Loopback()
        self.server.route("GET", "/{path:.*}", self._actor)
        self._serving = ExitStack()
        self._serving.enter_context(self.server.in_thread())
        self.actor = Remote(port=self.server.port).actor("slowpoke")

    @property
    def requests(self) -> list[str]:
        return [request["path"] for request in self.server.requests]

    async def _actor(self, request: web.Request) -> web.Response:
        if len(self.server.requests) == 1:
            self.first_request.set()
            await asyncio.to_thread(self.release.wait, 60)
        return web.Response(body=orjson.dumps(self.actor.document()), content_type="application/activity+json")

    def close(self) -> None:
        self.release.set()
        self._serving.close()


def test_a_worker_killed_mid_job_loses_nothing_and_the_job_completes_exactly_once(
    live: LiveServer, workers: Workers
) -> None:
    alice, _ = live.create_user("alice"), live.create_user("bob")
    live.start()
    type_id = minted_coin(live, alice, 10)
    peer = StallingActorHost()
    try:
        give = {"operation": "ledger.give", "input": {"type": type_id, "amount": "1", "to": "bob"}}
        chain = {"steps": [
            {"id": "before", **give},
            {"id": "lookup", "operation": "federation.lookup", "input": {"target": peer.actor.uri}},
            {"id": "after", **give},
        ]}
        with requests.Session() as session:
            job_id = call(live, session, "POST", f"{V1}/jobs", alice, json=chain)["id"]
        fast_leases = {
            "TALLYSTICK_JOBS__LEASE_SECONDS": "2",
            "TALLYSTICK_JOBS__SWEEP_SECONDS": "1",
            "TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",
        }
        doomed = workers.start(1, **fast_leases)
        assert peer.first_request.wait(30), workers.logs()  # the job is running, in its second step
        url = live.env["TALLYSTICK_DATABASE_URL"]
        assert rows(url, f"SELECT state, attempts FROM jobs WHERE id = '{job_id}'") == [("running", 1)]
        os.killpg(doomed.pid, signal.SIGKILL)
        assert doomed.wait(15) == -signal.SIGKILL

        workers.start(1, **fast_leases)  # its sweep requeues the job once the dead worker's lease runs out
        finished = ("succeeded", "failed", "cancelled")
        wait_until(lambda: rows(url, f"SELECT state FROM jobs WHERE id = '{job_id}'")[0][0] in finished, 60,
                   "the job to finish after the kill")
    finally:
        peer.close()

    job = requests.get(f"{live.base_url}{V1}/jobs/{job_id}", headers={"Authorization": f"Bearer {alice}"},
                       timeout=10).json()
    assert job["state"] == "succeeded", (job, workers.logs())
    assert job["attempts"] == 2
    assert [(step["id"], step["state"]) for step in job["steps"]] == [
        ("before", "succeeded"), ("lookup", "succeeded"), ("after", "succeeded")
    ]
    # The step committed before the kill was not run again; the interrupted one was.
    assert rows(url, "SELECT count(*) FROM ledger_entries WHERE kind = 'give'") == [(2,)]
    assert balance(live, type_id, "bob") == "2" and balance(live, type_id, "alice") == "8"
    assert len(peer.requests) == 2
    assert rows(url, f"SELECT name, count(*) FROM events WHERE object_id = '{job_id}' AND name IN "
                     "('job.requeued', 'job.succeeded') GROUP BY name ORDER BY name") == [
        ("job.requeued", 1), ("job.succeeded", 1)
    ]

"""Shared benchmark helpers: a real instance on a temp SQLite data dir, HTTP calls, timing.

Benchmarks are not tests: each script prints its figures beside a baseline measured in the
same run, so a reader can judge them on whatever machine ran them. Setup (users, bulk rows)
happens in-process through the operation registry *before* the server starts, so the
subprocess server and the setup code never write to the SQLite file at the same time; the
timed part always goes through real HTTP to a real `tallystick serve` process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/x.py` puts bench/ on the path, not the repo
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

__all__ = [
    "REPO",
    "Instance",
    "instance",
    "free_port",
    "wait_for_http",
    "stop_process",
    "Client",
    "LoadResult",
    "run_load",
    "median",
    "percentile",
    "ms",
    "timed",
    "print_header",
    "print_row",
]

PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    """Poll `url` until it answers; fail with the server's log if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout}s:\n{log_path.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process group we started, then SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@dataclass
class Instance:
    """A Tallystick data dir; `setup()` opens its DB in-process, `start()` serves it."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    env_extra: dict[str, str] = field(default_factory=dict)  # settings for this run (TALLYSTICK_...)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        clean = {key: value for key, value in os.environ.items() if not key.startswith("TALLYSTICK_")}
        return {
            **clean,
            "TALLYSTICK_DATA_DIR": str(self.data_dir),
            "TALLYSTICK_BASE_URL": self.base_url,
            "TALLYSTICK_PORT": str(self.port),
            "TALLYSTICK_SECRET_KEY": "bench-secret-key",
            **self.env_extra,
        }

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def settings(self) -> Any:
        from server.settings import load_settings

        return load_settings(environ=self.env)

    def migrate(self) -> None:
        """`tallystick migrate`, the way an operator runs it."""
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "migrate"],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=600,  # slow on a busy machine
        )
        if done.returncode != 0:
            raise RuntimeError(f"tallystick migrate failed:\n{done.stdout}\n{done.stderr}")

    @asynccontextmanager
    async def setup(self, *, fast_writes: bool = False) -> AsyncIterator[Any]:
        """Open the database in this process (server stopped) and yield the settings.

        fast_writes turns off fsync for this setup connection only: bulk setup data needs no
        durability, and the server later opens its own connection with the normal settings.
        """
        import federation.operations  # noqa: F401  (registers every operation)
        from tortoise.connection import connections

        from server.database import close_database, open_database

        settings = self.settings()
        await open_database(settings)
        if fast_writes:
            await connections.get("default").execute_script("PRAGMA synchronous=OFF")
        try:
            yield settings
        finally:
            await close_database()

    async def create_user(self, settings: Any, username: str) -> tuple[str, str]:
        """(token, user id) for a new user, created as the console operator would."""
        from server.cli import system_call

        result = await system_call(
            settings,
            "admin.users.create",
            {"username": username, "password": PASSWORD, "email": f"{username}@example.invalid"},
        )
        return result["token"], result["user"]["id"]

    def start(self) -> None:
        """`tallystick serve` in its own process group; returns once it answers HTTP."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port)],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_http(f"{self.base_url}/api/v1/openapi.json", self.process, self.log_path)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally` blocks that clean up


@contextmanager
def instance(prefix: str = "tallystick-bench-", env_extra: dict[str, str] | None = None) -> Iterator[Instance]:
    """A migrated instance in a temp dir; the server is stopped and the dir removed at the end.

    Also on an error, Ctrl-C or SIGTERM (turned into SystemExit so the cleanup runs).
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    inst = Instance(data_dir, env_extra=dict(env_extra or {}))
    try:
        inst.migrate()
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


class Client:
    """A thin aiohttp client: JSON in, parsed JSON out, errors raised with the problem body."""

    def __init__(self, base_url: str, concurrency: int = 16) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            base_url,
            connector=aiohttp.TCPConnector(limit=concurrency, force_close=False),
            timeout=aiohttp.ClientTimeout(total=300),
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def call(
        self, method: str, path: str, *, token: str | None = None, json: Any = None, expect: int = 200
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, path, json=json, headers=headers) as response:
            body = await response.read()
            if response.status != expect:
                raise RuntimeError(f"{method} {path} -> {response.status}, expected {expect}: {body[:500]!r}")
            return await response.json(content_type=None) if body else None

    async def create_type(self, token: str, symbol: str, *, fungible: bool = True, smallest_unit: int = 0) -> str:
        body = {"name": f"Bench {symbol}", "symbol": symbol, "fungible": fungible, "smallest_unit": smallest_unit}
        return str((await self.call("POST", "/api/v1/types", token=token, json=body, expect=201))["id"])

    async def timed_get(self, path: str, runs: int, token: str | None = None) -> list[float]:
        """Seconds for each of `runs` sequential GETs of `path` (body fully read)."""
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            await self.call("GET", path, token=token)
            times.append(time.perf_counter() - start)
        return times


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


async def run_load(
    concurrency: int, request: Callable[[], Awaitable[None]], *, total: int | None = None, seconds: float | None = None
) -> LoadResult:
    """Call `request` with `concurrency` in flight, `total` times or for `seconds` (both: whichever
    ends first); rate and latencies."""
    if total is None and seconds is None:
        raise ValueError("give total, seconds or both")
    latencies: list[float] = []
    remaining = total if total is not None else -1
    start = time.perf_counter()
    deadline = start + seconds if seconds is not None else float("inf")

    async def worker() -> None:
        nonlocal remaining
        while remaining != 0 and time.perf_counter() < deadline:
            remaining -= 1
            began = time.perf_counter()
            await request()
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(len(latencies), time.perf_counter() - start, latencies)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (Linux /proc; None elsewhere).

    CPU per request is steadier than requests per second on a machine other work shares:
    a process that waits for a core is slower, but not more expensive.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@contextmanager
def timed(label: str) -> Iterator[None]:
    """Print how long a setup step took (not part of any figure)."""
    start = time.perf_counter()
    yield
    print(f"  setup: {label} took {time.perf_counter() - start:.1f} s", flush=True)


def print_header(title: str, detail: str) -> None:
    print(f"\n== {title}\n   {detail}", flush=True)


def print_row(label: str, value: str, note: str = "") -> None:
    print(f"   {label:<44} {value:>14}  {note}".rstrip(), flush=True)


async def post_load(
    client: Client, path: str, token: str, body: dict[str, Any], concurrency: int, seconds: float, expect: int = 201
) -> LoadResult:
    """POST the same JSON body at `concurrency` for `seconds`; every answer must be `expect`."""

    async def one() -> None:
        await client.call("POST", path, token=token, json=body, expect=expect)

    return await run_load(concurrency, one, seconds=seconds)


def report_rounds(label: str, rounds: list[LoadResult]) -> LoadResult:
    """Print the best round's rate (with every round's and the best's latencies); the best."""
    best = max(rounds, key=lambda result: result.rate)
    rates = ", ".join(f"{result.rate:.0f}" for result in rounds)
    print_row(label, f"{best.rate:8.0f} req/s",
              f"(rounds: {rates}; p50 {ms(percentile(best.latencies, 50))}, p99 {ms(percentile(best.latencies, 99))})")
    return best

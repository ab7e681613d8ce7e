#!/usr/bin/env python3
"""Smoke check: `make run` works from a clean clone and serves the demo instance.

Clones the repository into a temporary directory, runs `make run` there in its own process
group with a free port, waits for /api/v1/openapi.json (the first run builds a venv, so the
default timeout is generous), then signs in as the demo user alice and reads her Demo Coin
type and balance. The server's whole process group is killed at the end, whatever happens.

Standard library only: it runs with the system python3 before any venv exists.

    python3 .ci/smoke_make_run.py [--repo PATH_OR_URL] [--timeout 300] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO_TYPE = "Demo Coin"
EXPECTED_BALANCE = "975.00"  # server/demo.py: alice mints 1000.00 and gives 25.00 to bob
BALANCE_PATH = "/api/v1/ledger/balance"


class SmokeFailure(Exception):
    """The check failed; the message says what a person should look at."""


def say(message: str) -> None:
    print(f"[smoke] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    """(status, parsed JSON or raw text); HTTP errors are answers too, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class Server:
    """`make run` in a clone, in its own session so the whole tree can be killed."""

    def __init__(self, workdir: Path, port: int, log_path: Path) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        environ = {key: value for key, value in os.environ.items() if not key.startswith("TALLYSTICK_")}
        environ.update(TALLYSTICK_PORT=str(port), TALLYSTICK_BASE_URL=self.base_url, TALLYSTICK_HOST="127.0.0.1")
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            ["make", "run"], cwd=workdir, env=environ, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join("    " + line for line in self.output().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what is left after 15 s."""
        started, how = time.monotonic(), "had already exited"
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            self.process.poll()  # reap make, or its zombie keeps the group "alive"
            if not _group_alive(self.process.pid):
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:  # it ended between the check and the signal
                break
            how = f"stopped by {sig.name}"
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _group_alive(self.process.pid):
                time.sleep(0.2)
                self.process.poll()
        self._log.close()
        left = " (some processes are STILL ALIVE)" if _group_alive(self.process.pid) else ""
        say(f"server process group {self.process.pid} {how} in {time.monotonic() - started:.1f} s{left}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_openapi(server: Server, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    url = f"{server.base_url}/api/v1/openapi.json"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SmokeFailure(f"`make run` exited with code {server.process.returncode} before serving:\n{server.tail()}")
        try:
            status, body = http("GET", url)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(1)
            continue
        if status != 200 or not isinstance(body, dict):
            raise SmokeFailure(f"GET {url} answered {status}, not a JSON object: {str(body)[:300]}")
        return body
    raise SmokeFailure(f"nothing answered {url} within {timeout:.0f} s:\n{server.tail()}")


def demo_password(output: str, username: str) -> str:
    """The password `tallystick demo` printed for a demo user."""
    match = re.search(rf"^\s*{username}\s+password=(\S+)", output, re.MULTILINE)
    if not match:
        raise SmokeFailure(f"`tallystick demo` did not print a password for {username}")
    return match.group(1)


def check_demo(server: Server, openapi: dict[str, Any]) -> list[str]:
    """Log in as alice, find her Demo Coin type and check her balance; return notes."""
    notes: list[str] = []
    base = f"{server.base_url}/api/v1"
    password = demo_password(server.output(), "alice")
    status, body = http("POST", f"{base}/auth/login", {"username": "alice", "password": password})
    if status != 200 or not isinstance(body, dict) or not body.get("token"):
        raise SmokeFailure(f"login as alice answered {status}: {body}")
    token = body["token"]
    say("logged in as alice")

    status, body = http("GET", f"{base}/types?owner=alice", token=token)
    if status != 200 or not isinstance(body, dict):
        raise SmokeFailure(f"GET /api/v1/types?owner=alice answered {status}: {str(body)[:300]}")
    coins = [item for item in body.get("items", []) if item.get("name") == DEMO_TYPE]
    if len(coins) != 1:
        raise SmokeFailure(f"expected one {DEMO_TYPE!r} type owned by alice, got {body.get('items')}")
    type_id = coins[0]["id"]
    say(f"alice owns {DEMO_TYPE!r} ({type_id})")

    query = urllib.parse.urlencode({"type": type_id, "owner": "alice"})
    status, body = http("GET", f"{server.base_url}{BALANCE_PATH}?{query}", token=token)
    route_missing = BALANCE_PATH not in openapi.get("paths", {})
    if status == 404 and (route_missing or (isinstance(body, dict) and body.get("code") == "not-found")):
        note = f"SKIPPED the balance check: {BALANCE_PATH} answers 404 (the ledger routes are not in this build yet)"
        say(note)
        notes.append(note)
        return notes
    if status != 200 or not isinstance(body, dict):
        raise SmokeFailure(f"GET {BALANCE_PATH} answered {status}: {str(body)[:300]}")
    if body.get("balance") != EXPECTED_BALANCE:
        raise SmokeFailure(f"alice's {DEMO_TYPE} balance is {body.get('balance')!r}, expected {EXPECTED_BALANCE!r}")
    say(f"alice's balance is {EXPECTED_BALANCE}")
    return notes


def clone(repo: str, target: Path) -> None:
    # safe.directory: CI checkouts are often owned by another user than the one running this.
    command = ["git", "-c", "safe.directory=*", "clone", "--quiet", repo, str(target)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SmokeFailure(f"git clone {repo} failed: {result.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(ROOT), help="repository to clone (default: this checkout)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the server")
    parser.add_argument("--keep", action="store_true", help="keep the clone and log for inspection")
    args = parser.parse_args(argv)

    # SIGTERM/SIGINT (CI cancelling the job) must still run the cleanup below.
    def interrupted(signum: int, frame: Any) -> None:
        raise SmokeFailure(f"interrupted by signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)

    workdir = Path(tempfile.mkdtemp(prefix="tallystick-smoke-"))
    server: Server | None = None
    started = time.monotonic()
    try:
        clone(args.repo, workdir / "repo")
        say(f"cloned {args.repo} into {workdir / 'repo'}")
        port = free_port()
        server = Server(workdir / "repo", port, workdir / "make-run.log")
        say(f"`make run` started (pid {server.process.pid}) on {server.base_url}; waiting up to {args.timeout:.0f} s")
        openapi = wait_for_openapi(server, args.timeout)
        if openapi.get("openapi") != "3.1.0":
            raise SmokeFailure(f"openapi.json says openapi={openapi.get('openapi')!r}, expected '3.1.0'")
        say(f"openapi.json is valid JSON, OpenAPI 3.1.0, {len(openapi.get('paths', {}))} paths "
            f"(after {time.monotonic() - started:.0f} s)")
        notes = check_demo(server, openapi)
        outcome = "PASS" + (" (with a skip: balance route missing)" if notes else "")
        say(f"make run smoke check: {outcome} in {time.monotonic() - started:.0f} s")
        return 0
    except SmokeFailure as failure:
        say(f"FAIL: {failure}")
        return 1
    finally:
        # Finish the cleanup even if CI signals again: a leftover server would hold the port.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server is not None:
            server.stop()
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Run the real `tallystick serve` in a subprocess on a free port, on a fresh database.

`live_server` is the one way a test gets such a server (`federated_servers` for several that
talk to each other); tests/loopback.py is the one way to stand up a peer that records requests.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dbutil import TemplateDatabase

__all__ = ["LiveServer", "federated_servers", "free_port", "live_server"]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real server process; `create_user` runs the CLI against the same database."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TALLYSTICK_")},
            "TALLYSTICK_DATA_DIR": str(data_dir),
            "TALLYSTICK_DATABASE_URL": database_url,
            "TALLYSTICK_PORT": str(self.port),
            "TALLYSTICK_BASE_URL": self.base_url,
            "TALLYSTICK_SECRET_KEY": "live-test-secret",
        }
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "tallystick"), *args], env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"tallystick {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def create_user(self, username: str, *roles: str) -> str:
        role_args = [part for role in roles for part in ("--role", role)]
        output = self.cli("create-user", username, "--password", "correct horse", *role_args)
        match = re.search(r"token: (\S+)", output)
        assert match, output
        return match.group(1)

    def start(self, timeout: float = 30) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "tallystick"), "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.base_url}/api/v1/openapi.json", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextmanager
def live_server(
    template: TemplateDatabase, data_dir: Path, *, start: bool = False, **env: str
) -> Iterator[LiveServer]:
    """A server on a fresh database (from the template) with `env` added (TALLYSTICK_... names),
    started at once if `start` (otherwise when the test is ready); stopped and dropped afterwards."""
    url = template.new_database(data_dir)
    try:
        server = LiveServer(data_dir, url)
        server.env.update(env)
        try:
            if start:
                server.start()
            yield server
        finally:
            server.stop()
    finally:
        template.drop(url)


@contextmanager
def federated_servers(template: TemplateDatabase, root: Path, names: tuple[str, ...]) -> Iterator[list[LiveServer]]:
    """Instances (not started), each with its own database and data dir under `root`, allowed to
    federate over 127.0.0.1 and polling jobs briskly; stopped and dropped afterwards."""
    with ExitStack() as stack:
        made: list[LiveServer] = []
        for name in names:
            data_dir = root / name
            data_dir.mkdir()
            made.append(stack.enter_context(live_server(
                template, data_dir, TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES="true",
                TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS="0.1",
            )))
        yield made

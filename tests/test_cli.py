"""The `tallystick` command as an operator uses it: migrate, create-user, regenerate-token, demo."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from .dbutil import TemplateDatabase
from .livesrv import free_port, live_server

BIN = Path(sys.executable).parent / "tallystick"
pytestmark = pytest.mark.slow


def run(tmp_path: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess; a hang fails the test (TimeoutExpired) after `timeout` seconds."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TALLYSTICK_")}
    environ.update({"TALLYSTICK_DATA_DIR": str(tmp_path), "TALLYSTICK_SECRET_KEY": "cli-test", **env})
    return subprocess.run([str(BIN), *args], env=environ, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tallystick migrate` on a fresh data dir, once for the module: a full migrate costs tens of
    seconds of CPU (tortoise replays every operation's state), so the tests that need a migrated
    instance start from a copy of this one."""
    root = tmp_path_factory.mktemp("migrated")
    result = run(root, "migrate", timeout=300)
    assert result.returncode == 0, result.stderr
    return root / "tallystick.sqlite3"


def migrated(tmp_path: Path, migrated_file: Path) -> None:
    """This data dir as `tallystick migrate` left it."""
    shutil.copyfile(migrated_file, tmp_path / "tallystick.sqlite3")


def test_cli__operator_commands_on_a_fresh_sqlite_instance(tmp_path: Path, migrated_file: Path) -> None:
    migrated(tmp_path, migrated_file)
    assert run(tmp_path, "migrate").returncode == 0  # an up-to-date database: nothing to do, no error
    created = run(tmp_path, "create-user", "root", "--password", "long password", "--role", "admin")
    assert created.returncode == 0 and "token: tsk_" in created.stdout and "['admin']" in created.stdout
    duplicate = run(tmp_path, "create-user", "root", "--password", "long password")
    assert duplicate.returncode == 1 and "taken" in duplicate.stderr
    first = run(tmp_path, "regenerate-token", "root").stdout.strip()
    second = run(tmp_path, "regenerate-token", "root").stdout.strip()
    assert first.startswith("tsk_") and second.startswith("tsk_") and first != second
    missing = run(tmp_path, "regenerate-token", "ghost")
    assert missing.returncode == 1 and "no user" in missing.stderr


def test_cli__demo_is_idempotent_and_prints_credentials(tmp_path: Path, migrated_file: Path) -> None:
    migrated(tmp_path, migrated_file)
    first, second = run(tmp_path, "demo"), run(tmp_path, "demo")
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    for output in (first.stdout, second.stdout):
        assert "alice" in output and "alice-demo-password" in output and "token=tsk_" in output


def demo_tokens(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\w+)\s+password=\S+\s+token=(\S+)", output, re.MULTILINE))


def test_cli__demo_again_prints_the_same_working_tokens(tmp_path: Path, migrated_file: Path) -> None:
    """A second `make run` printed new tokens and revoked the ones the first run printed."""
    migrated(tmp_path, migrated_file)
    first, second = run(tmp_path, "demo"), run(tmp_path, "demo")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    printed = demo_tokens(first.stdout)
    assert set(printed) == {"admin", "alice", "bob"} and demo_tokens(second.stdout) == printed
    assert ((tmp_path / "demo-tokens.json").stat().st_mode & 0o777) == 0o600
    replaced = run(tmp_path, "regenerate-token", "alice").stdout.strip()  # the printed one stops working
    third = demo_tokens(run(tmp_path, "demo").stdout)
    assert third["alice"] not in (printed["alice"], replaced) and third["bob"] == printed["bob"]


def test_cli__check_port_says_when_the_port_is_taken(tmp_path: Path) -> None:
    """`make run` asks first, so a second one stops before the demo touches anything."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        taken_port = run(tmp_path, "check-port", TALLYSTICK_PORT=str(port))
        one_line_error(taken_port, f"cannot listen on 127.0.0.1:{port}", "in use")
    assert run(tmp_path, "check-port", "--port", str(free_port())).returncode == 0


def test_cli__bad_setting_stops_with_a_clear_message(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", TALLYSTICK_PORT="not-a-port")
    assert result.returncode == 2 and "TALLYSTICK_PORT" in result.stderr and "not-a-port" in result.stderr


def test_cli__worker_refuses_zero_workers(tmp_path: Path) -> None:
    result = run(tmp_path, "worker", "--workers", "0")
    assert result.returncode == 2 and "at least 1" in result.stderr


def one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """A failed command says why in one line on stderr (no traceback) and exits non-zero."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    for text in expected:
        assert text in message, message
    return message


def test_cli__unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    url = f"postgres://tallystick:secret@127.0.0.1:{free_port()}/tallystick"  # a closed port
    for command in (["migrate"], ["worker"], ["create-user", "root", "--password", "long password"]):
        message = one_line_error(run(tmp_path, *command, TALLYSTICK_DATABASE_URL=url), "cannot connect", "refused")
        assert "secret" not in message  # the password is not printed


def test_cli__sqlite_in_a_missing_directory_fails_instead_of_hanging(tmp_path: Path) -> None:
    """This hung forever, printing nothing: tortoise kept its lock after the failed connect."""
    url = f"sqlite://{tmp_path}/nonexistent/dir/x.sqlite3"
    for command in ("migrate", "demo"):
        result = run(tmp_path, command, TALLYSTICK_DATABASE_URL=url, timeout=30)
        one_line_error(result, "cannot open the SQLite database", "directory does not exist")


def test_cli__unusable_data_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    data_dir = str(tmp_path / "file" / "data")
    one_line_error(run(tmp_path, "migrate", TALLYSTICK_DATA_DIR=data_dir), "data dir", "Not a directory")
    generated_secret = run(tmp_path, "migrate", TALLYSTICK_DATA_DIR=data_dir, TALLYSTICK_SECRET_KEY="")
    assert generated_secret.returncode == 2 and "Traceback" not in generated_secret.stderr, generated_secret.stderr
    assert "TALLYSTICK_DATA_DIR" in generated_secret.stderr and "Not a directory" in generated_secret.stderr


def test_cli__port_in_use_is_one_line_without_a_serving_line(tmp_path: Path, migrated_file: Path) -> None:
    migrated(tmp_path, migrated_file)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, "serve", TALLYSTICK_PORT=str(port), timeout=60)
    one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "in use")
    assert "serving" not in result.stdout


def test_cli__version_from_the_package_metadata(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"tallystick {version('tallystick')}", result


def test_cli__serve_names_its_url_once_and_keeps_apscheduler_quiet(
    template_database: TemplateDatabase, tmp_path: Path
) -> None:
    # TALLYSTICK_JOBS__SWEEP_SECONDS: periodic jobs fire (and used to log) while we watch
    with live_server(template_database, tmp_path, start=True, TALLYSTICK_JOBS__SWEEP_SECONDS="0.2") as server:
        time.sleep(1.5)
    log = server.log_path.read_text()
    started = [line for line in log.splitlines() if "serving" in line]
    assert started == [f"Tallystick serving {server.base_url}"], log
    # Its routine INFO lines (added, running, executed: 45 a minute) are gone; a WARNING stays
    # (on a loaded machine a 0.2 s tick may be skipped, which an operator should hear about).
    chatter = [line for line in log.splitlines() if "apscheduler" in line and "WARNING" not in line]
    assert not chatter, log

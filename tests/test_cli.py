"""The `tallystick` command as an operator uses it: migrate, create-user, regenerate-token, demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "tallystick"
pytestmark = pytest.mark.slow


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TALLYSTICK_")}
    environ.update({"TALLYSTICK_DATA_DIR": str(tmp_path), "TALLYSTICK_SECRET_KEY": "cli-test", **env})
    return subprocess.run([str(BIN), *args], env=environ, capture_output=True, text=True, timeout=120)


def test_cli__operator_commands_on_a_fresh_sqlite_instance(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    created = run(tmp_path, "create-user", "root", "--password", "long password", "--role", "admin")
    assert created.returncode == 0 and "token: tsk_" in created.stdout and "['admin']" in created.stdout
    duplicate = run(tmp_path, "create-user", "root", "--password", "long password")
    assert duplicate.returncode == 1 and "taken" in duplicate.stderr
    first = run(tmp_path, "regenerate-token", "root").stdout.strip()
    second = run(tmp_path, "regenerate-token", "root").stdout.strip()
    assert first.startswith("tsk_") and second.startswith("tsk_") and first != second
    missing = run(tmp_path, "regenerate-token", "ghost")
    assert missing.returncode == 1 and "no user" in missing.stderr


def test_cli__demo_is_idempotent_and_prints_credentials(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    first, second = run(tmp_path, "demo"), run(tmp_path, "demo")
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    for output in (first.stdout, second.stdout):
        assert "alice" in output and "alice-demo-password" in output and "token=tsk_" in output


def test_cli__bad_setting_stops_with_a_clear_message(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", TALLYSTICK_PORT="not-a-port")
    assert result.returncode == 2 and "TALLYSTICK_PORT" in result.stderr and "not-a-port" in result.stderr


def test_cli__worker_refuses_zero_workers(tmp_path: Path) -> None:
    result = run(tmp_path, "worker", "--workers", "0")
    assert result.returncode == 2 and "at least 1" in result.stderr

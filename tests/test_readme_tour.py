"""The README's tour, run as written: every ```sh block marked `<!-- tour -->` is run by bash, in
order and in one shell (so the variables it defines carry over), against two real servers set
up as `make run-federated` sets them up. Only the two addresses are rewritten to the test's free
ports. Each command stops the run on failure (`set -e -o pipefail`, `curl --fail-with-body`), so
a README that drifts from the code fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, federated_servers

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parent.parent / "README.md"
TOUR_BLOCK = re.compile(r"^<!-- tour -->\n```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
A_ADDRESS, B_ADDRESS = "127.0.0.1:8080", "127.0.0.1:8081"  # as the README (and make run-federated) has them


def tour_blocks() -> list[str]:
    return TOUR_BLOCK.findall(README.read_text())


@pytest.fixture
def two_servers(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """A (with the demo loaded) and B, allowed to talk to each other over 127.0.0.1."""
    with federated_servers(template_database, tmp_path, ("a", "b")) as (a, b):
        a.cli("demo")
        a.start()
        b.start()
        yield a, b


def test_readme_tour__blocks_are_found_and_use_only_the_two_local_servers() -> None:
    blocks = tour_blocks()
    assert len(blocks) >= 6, "the README tour blocks (<!-- tour --> before ```sh) were not found"
    text = "\n".join(blocks)
    hosts = set(re.findall(r"https?://([^/\s\"'$]+)", text))
    assert hosts <= {A_ADDRESS, B_ADDRESS}, hosts
    assert "../shared" not in README.read_text()  # the README stands alone


def test_readme_tour__runs_verbatim_and_ends_with_an_accurate_copy_on_the_second_server(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    a, b = two_servers
    script = ["set -e -o pipefail"]
    for number, block in enumerate(tour_blocks(), 1):
        script.append(f"echo '>>> tour block {number}'")
        script.append(block)
    script.append("echo '>>> tour done'")
    text = "\n".join(script).replace(A_ADDRESS, a.base_url.removeprefix("http://"))
    text = text.replace(B_ADDRESS, b.base_url.removeprefix("http://"))
    # The tour runs from a clone where `make` made .venv; here that is the test's environment.
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYSTICK_")}
    done = subprocess.run(
        ["bash", "-c", text], cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    last = re.findall(r">>> tour block (\d+)", done.stdout)
    assert done.returncode == 0, f"tour block {last[-1] if last else '?'} failed:\n{output[-4000:]}"
    assert ">>> tour done" in done.stdout, output[-4000:]
    final = done.stdout.split(f">>> tour block {len(tour_blocks())}")[-1]
    assert '"verdict":"accurate"' in final and "ACCURATE" in final, output[-4000:]

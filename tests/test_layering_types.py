"""Static types: mypy runs strict on models/, federation/ and server/ (`make typecheck`, a CI stage).

What mypy itself cannot hold us to is checked here: a `type: ignore` silences one named error
code and says, on the same line, why that is right.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE = re.compile(r"#\s*type:\s*ignore")
WITH_CODE_AND_REASON = re.compile(r"#\s*type:\s*ignore\[[a-z-]+(?:,\s*[a-z-]+)*\]\s+#\s*\S")


def test_types__every_ignore_names_its_code_and_reason() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("models", "federation", "server")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if IGNORE.search(line) and not WITH_CODE_AND_REASON.search(line)
    ]
    assert bare == [], "a type: ignore needs [its-code] and a reason comment after it:\n" + "\n".join(bare)


def test_types__mypy_is_strict_on_models_federation_and_server() -> None:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)
    mypy = project["tool"]["mypy"]
    assert mypy["strict"] is True and set(mypy["files"]) >= {"models", "federation", "server"}
    assert any(extra.startswith("mypy") for extra in project["project"]["optional-dependencies"]["dev"])
    assert "make typecheck" in (ROOT / ".ci" / "run").read_text()

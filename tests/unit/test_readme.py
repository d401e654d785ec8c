"""The README's guarantees each name tests that exist: a renamed or deleted test must not leave a guarantee unproved."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _guarantee_rows() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Guarantees and the tests that prove them", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith(("| guarantee", "|---"))]


def test_every_guarantee_names_tests_that_exist():
    rows = _guarantee_rows()
    assert len(rows) >= 10
    missing = []
    for row in rows:
        proof = row.rsplit("|", 2)[-2]
        named = re.findall(r"`(tests/[^`:]+\.py)(?:::([\w\[\]-]+))?", proof)
        if not named:
            missing.append(f"no test named: {row[:80]}")
        for path, function in named:
            file = REPO / path
            if not file.is_file():
                missing.append(f"{path} does not exist")
            elif function and not re.search(rf"def {re.escape(function.split('[')[0])}\b", file.read_text()):
                missing.append(f"{path}::{function} does not exist")
    assert missing == []

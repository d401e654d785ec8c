"""Fixtures shared by the contract tests."""

from __future__ import annotations

import json

import pytest

from interaction_lake.generator import SOURCES


@pytest.fixture(scope="session")
def generated_events(tmp_path_factory) -> dict[str, list[dict]]:
    """One real record of every event type of every source and contract version, from the generator: a JSON line's
    record as it was written, a CSV row's as the contract converts it."""
    from interaction_lake.generator import generate
    from interaction_lake.landing_files import discover, parse_file

    out = tmp_path_factory.mktemp("bank")
    generate(out, customers=300, days=7, seed=3, fault_rate=0)
    found: dict[str, dict[tuple, dict]] = {}
    for source in SOURCES:
        for path in discover(out / source):
            for line in parse_file(source, path.name, path.read_bytes()).accepted:
                record = json.loads(line.raw_line) if path.name.endswith(".jsonl") else line.record
                found.setdefault(source, {}).setdefault((record["event_type"], record["schema_version"]), record)
    return {source: list(by_type.values()) for source, by_type in found.items()}

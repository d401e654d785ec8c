"""Inputs the DAG tests deliver to make a stage fail on purpose."""

from __future__ import annotations

import json
from pathlib import Path


def deliver_a_file_the_bronze_gate_fails(landing_root: Path) -> Path:
    """A counter file whose one event is years ahead of its delivery: it lands, and counter's bronze gate fails the batch
    (arrival lag out of range). Returns the file."""
    folder = landing_root / "counter" / "2031-01-01"
    folder.mkdir(parents=True)
    file = folder / "counter_20310101_events.jsonl"
    file.write_text(json.dumps({
        "event_id": "evt-future-1", "event_type": "ticket_issued", "schema_version": 1, "occurred_at": "2031-01-01T09:00:00Z",
        "source_system": "qmatic-branch", "customer_ref": "C00000001", "ticket_id": "BR001-20310101-0001", "branch_id": "BR001",
        "service_type": "cash"}) + "\n")
    return file

"""The conformance set's shared inputs: one small bank's landing zone, and the embedded engine's lake built from it on
local disk -- the reference the Spark runs (``test_engines.py``) and the object-store run (``test_object_storage.py``)
are compared with, built once per session."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from tests.integration.conformance.runs import finish, start

FIRST_DAY = dt.date(2026, 11, 2)


@pytest.fixture(scope="session")
def bank(tmp_path_factory) -> Path:
    """Three days of a small bank with faults; the third day kept aside as the later delivery."""
    from interaction_lake.generator import generate

    root = tmp_path_factory.mktemp("bank")
    generate(root / "landing", customers=150, days=3, seed=11, start=FIRST_DAY, fault_rate=0.05)
    later = (FIRST_DAY + dt.timedelta(days=2)).isoformat()
    for folder in (root / "landing").glob(f"*/{later}"):
        shutil.move(folder, root / "later" / folder.parent.name / later)
    return root


@pytest.fixture(scope="session")
def embedded_lake(bank):
    """The embedded engine's lake on local disk, built beside whatever runs first (its result waited for when first asked)."""
    # Validated by Great Expectations' own validator, so the Spark runs (compiled gates) are compared with it too.
    running = start(bank, "embedded", INTERACTION_LAKE_ENGINE="embedded", INTERACTION_LAKE_GATE_EVALUATOR="great_expectations")
    done: list[Path] = []
    return lambda: done[0] if done else done.append(finish(*running)) or done[0]

"""The Great Expectations suites in ``expectations/<stage>/<table>.json``: find, load, read severities.

Suites are files reviewed like code. Each expectation's ``meta.severity`` is ``error`` (the default:
a failure fails the gate and stops downstream stages) or ``warn`` (recorded, the run continues).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "expectations"
STAGES = ("bronze", "silver", "gold")
SEVERITIES = ("error", "warn")


class SuiteError(ValueError):
    """A suite file is missing or malformed."""


@dataclass(frozen=True)
class SuiteFile:
    stage: str
    table: str
    spec: dict

    @property
    def name(self) -> str:
        return self.spec["name"]

    def severities(self) -> list[str]:
        return [e.get("meta", {}).get("severity", "error") for e in self.spec["expectations"]]


def expectations_dir() -> Path:
    """``expectations/`` of this checkout, or ``$INTERACTION_LAKE_EXPECTATIONS_DIR`` (a deployment's reviewed copy)."""
    return Path(os.environ.get("INTERACTION_LAKE_EXPECTATIONS_DIR") or DEFAULT_DIR)


def suite_path(stage: str, table: str) -> Path:
    return expectations_dir() / stage / f"{table}.json"


def load_suite(stage: str, table: str) -> SuiteFile:
    path = suite_path(stage, table)
    if not path.is_file():
        raise SuiteError(f"no expectation suite for {stage}/{table} (expected {path})")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SuiteError(f"{path} is not valid JSON: {error}") from None
    if spec.get("name") != f"{stage}.{table}" or not isinstance(spec.get("expectations"), list):
        raise SuiteError(f"{path}: needs \"name\": \"{stage}.{table}\" and a list of expectations")
    for number, expectation in enumerate(spec["expectations"], 1):
        severity = expectation.get("meta", {}).get("severity", "error")
        if severity not in SEVERITIES:
            raise SuiteError(f"{path}: expectation {number} has severity {severity!r}; use one of {', '.join(SEVERITIES)}")
    return SuiteFile(stage, table, spec)


def all_suites() -> list[SuiteFile]:
    return [load_suite(p.parent.name, p.stem) for stage in STAGES for p in sorted((expectations_dir() / stage).glob("*.json"))]

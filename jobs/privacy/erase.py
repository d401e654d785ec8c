"""Erase one customer (right to be forgotten) from bronze, quarantine, silver and gold, old Delta versions included.

For a customer reference as the bank's systems know it (``customer_ref``):

1. bronze ``<source>_events``: rows with that ``customer_ref`` are deleted (their ``raw_line`` and
   ``record_json`` hold the name and phone number);
2. ``quarantine/landing``: refused lines that mention the reference as a whole token (a refused
   line may not have a parsed ``customer_ref``);
3. silver: event and fact rows, and the customer dimension, with the customer's pseudonym ``customer_key``;
4. gold: the customer-level marts (``customer_value``, ``key_customers_at_risk``). Aggregated marts
   hold no customer-level rows and are left as published (a rebuild recomputes them without the customer);
5. every table that lost rows is vacuumed with ``INTERACTION_LAKE_ERASURE_RETAIN_HOURS`` (default 0):
   the data files of older versions that still held the rows are deleted, so time travel cannot bring
   them back. (Older versions of those tables then cannot be read: that is the point.)

The erasure is recorded in ``_system/erasures`` with the request id, the pseudonym (never the reference),
the rows removed per table and the landing files that still hold the customer's lines (outside the lake:
the landing zone's own retention or redaction applies to them). Rerunning a request removes nothing more
and is recorded again.

Not erased: per-file column statistics in old ``_delta_log`` commit files can include the reference as a
min/max value until Delta's log retention (``delta.logRetentionDuration``, 30 days by default) removes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake, locks
from interaction_lake.config import Settings
from interaction_lake.generator import SOURCES
from interaction_lake.landing_files import discover
from interaction_lake.privacy import pseudonym_py, secret_for

JOB = "privacy.erase"
RETAIN_ENV = "INTERACTION_LAKE_ERASURE_RETAIN_HOURS"
CUSTOMER_MARTS = ("customer_value", "key_customers_at_risk")
ERASURES_SCHEMA = ("request_id string, customer_key string, erased_at timestamp, run_id string, "
                   "rows_removed string, tables_vacuumed string, landing_files_with_customer string")


class ErasureError(ValueError):
    """The request cannot be carried out as given (e.g. an empty reference)."""


@dataclass
class ErasureReport:
    request_id: str
    customer_key: str
    rows_removed: dict[str, int] = field(default_factory=dict)
    vacuumed: list[str] = field(default_factory=list)
    landing_files: list[str] = field(default_factory=list)


def erasures_table(lake_root: Path) -> Path:
    return lake.table_path(lake_root, lake.SYSTEM, "erasures")


def _token(reference: str) -> str:
    """A regex matching the reference as a whole token, not inside a longer id."""
    return rf"(^|[^A-Za-z0-9_-]){re.escape(reference)}([^A-Za-z0-9_-]|$)"


def _targets(root: Path, reference: str, key: str):
    """(table path, SQL predicate) for every table that can hold the customer."""
    ref, token = reference.replace("'", "''"), _token(reference).replace("\\", "\\\\").replace("'", "''")
    for source in SOURCES:
        yield lake.bronze_table(root, source), f"customer_ref = '{ref}'"
    yield lake.landing_quarantine_table(root), f"raw_line RLIKE '{token}'"
    silver = root / "silver"
    for table in sorted(silver.iterdir()) if silver.is_dir() else []:
        if lake.exists(table):
            yield table, f"customer_key = '{key}'"
    for mart in CUSTOMER_MARTS:
        yield lake.table_path(root, "gold", mart), f"customer_key = '{key}'"
    # Gate results keep observed values, which could quote an identifier.
    yield lake.table_path(root, lake.SYSTEM, "quality_results"), f"observed_value RLIKE '{token}' OR observed_value LIKE '%{key}%'"


def erase_customer(spark: SparkSession, settings: Settings, reference: str, request_id: str, run_id: str,
                   retain_hours: float | None = None) -> ErasureReport:
    reference = (reference or "").strip()
    if not reference:
        raise ErasureError("a customer reference is required")
    root = settings.lake_root
    key = pseudonym_py(reference, secret_for(root))
    report = ErasureReport(request_id, key)
    retain = float(os.environ.get(RETAIN_ENV, 0)) if retain_hours is None else retain_hours
    meta = lake.commit_metadata(JOB, run_id, request_id=request_id)
    # Hold every writer's lock: no run may append the customer's rows back between DELETE and VACUUM.
    with _every_lock(root):
        for path, predicate in _targets(root, reference, key):
            if not lake.exists(path):
                continue
            matching = lake.read(spark, path).where(F.expr(predicate)).count()
            if matching:
                lake.sql_write(spark, f"DELETE FROM delta.`{path}` WHERE {predicate}", path, meta)
                report.rows_removed[str(Path(path).relative_to(root))] = matching
        for name in report.rows_removed:
            vacuum(spark, settings, root / name, retain)
            report.vacuumed.append(name)
    report.landing_files = [str(p) for p in _landing_files_with(settings.landing_root, reference)]
    row = (request_id, key, dt.datetime.now(dt.timezone.utc), run_id, json.dumps(report.rows_removed, sort_keys=True),
           json.dumps(report.vacuumed), json.dumps(report.landing_files))
    lake.append(spark.createDataFrame([row], ERASURES_SCHEMA), erasures_table(root), meta)
    return report


@contextlib.contextmanager
def _every_lock(root: Path) -> Iterator[None]:
    """The gold, landing and silver locks of the lake, in a fixed order (no deadlock with single-lock runs)."""
    with contextlib.ExitStack() as stack:
        for name in ["gold", *(f"land_{s}" for s in SOURCES), *(f"silver_{s}" for s in SOURCES)]:
            stack.enter_context(locks.exclusive(root, name))
        yield


def vacuum(spark: SparkSession, settings: Settings, path: Path, retain_hours: float) -> None:
    """Delete the data files no version newer than ``retain_hours`` needs.

    Delta SQL ``VACUUM`` on Apache Spark; the embedded engine (Sail 0.7) has no VACUUM statement, so there the
    Delta protocol's own vacuum is run by delta-rs (the ``deltalake`` package) on the same table.
    """
    if settings.engine == "spark":
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        spark.sql(f"VACUUM delta.`{path}` RETAIN {retain_hours} HOURS").collect()
        return
    from deltalake import DeltaTable

    DeltaTable(str(path)).vacuum(retention_hours=int(retain_hours), enforce_retention_duration=False, dry_run=False)


def _landing_files_with(landing_root: Path, reference: str) -> list[Path]:
    token = re.compile(_token(reference).encode())
    found = []
    for source in SOURCES:
        for path in discover(landing_root / source):
            if token.search(path.read_bytes()):
                found.append(path)
    return found

"""Erase one customer (right to be forgotten) from bronze, quarantine, silver and gold, old Delta versions included.

For a customer reference as the bank's systems know it (``customer_ref``):

1. bronze ``<source>_events``: rows with that ``customer_ref`` are deleted (their ``raw_line`` and
   ``record_json`` hold the name and phone number);
2. ``quarantine/landing``: refused lines that mention the reference as a whole token (a refused
   line may not have a parsed ``customer_ref``);
3. silver: event and fact rows, and the customer dimension, with the customer's pseudonym ``customer_key``;
4. gold: the customer-level marts (``customer_value``, ``key_customers_at_risk``) and the build's
   states (``gold/_state/customer_recency``, ``gold/_state/customer_months``). Aggregated marts hold no customer-level rows and
   are left as published (a rebuild recomputes them without the customer);
5. every table that lost rows is vacuumed with ``INTERACTION_LAKE_ERASURE_RETAIN_HOURS`` (default 0):
   the data files of older versions that still held the rows are deleted, so time travel cannot bring
   them back. (Older versions of those tables then cannot be read: that is the point.)
6. Great Expectations' stored results and Data Docs pages that quote the customer are deleted.

Rows are deleted by ``MERGE`` against a one-row source holding the identifiers, so no commit in any
``_delta_log`` names the customer; and tables keep no file statistics of identifying columns
(``lake.creation_options``). After an erasure, no file under the lake holds the reference or the
pseudonym, except the erasure record's pseudonym.

The erasure is recorded in ``_system/erasures`` with the request id, the pseudonym (never the reference),
the rows removed per table and the landing files that still hold the customer's lines (outside the lake:
the landing zone's own retention or redaction applies to them). Rerunning a request removes nothing more
and is recorded again.

Tables created before file statistics were limited (``lake.creation_options``; marts defined before
2026-12-04, ``lake.limit_statistics``) may still hold a reference or pseudonym as a min/max value in old
``_delta_log`` commit files, until Delta's log retention
(``delta.logRetentionDuration``, 30 days by default) removes them (docs/privacy.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake, storage
from interaction_lake.config import Settings, env_number
from interaction_lake.faults import crash_point
from interaction_lake import sources as registry
from interaction_lake.landing_files import discover
from interaction_lake.privacy import pseudonym_py, secret_for
from interaction_lake.quality.gate import lake_quality_folder, quality_project
from interaction_lake.storage import location
from jobs.gold.build import measures_table, recency_table
from jobs.silver.build import fact_quarantine_table, intents_table, quarantined_inputs_table

JOB = "privacy.erase"
RETAIN_ENV = "INTERACTION_LAKE_ERASURE_RETAIN_HOURS"
CUSTOMER_MARTS = ("customer_value", "key_customers_at_risk")
ERASURES_SCHEMA = ("request_id string, customer_key string, erased_at timestamp, run_id string, "
                   "rows_removed string, tables_vacuumed string, landing_files_with_customer string, quality_documents_removed long")


class ErasureError(ValueError):
    """The request cannot be carried out as given (e.g. an empty reference)."""


@dataclass
class ErasureReport:
    request_id: str
    customer_key: str
    rows_removed: dict[str, int] = field(default_factory=dict)
    vacuumed: list[str] = field(default_factory=list)
    landing_files: list[str] = field(default_factory=list)
    quality_documents: list[str] = field(default_factory=list)  # Great Expectations files that quoted the customer
    staging_removed: list[str] = field(default_factory=list)  # killed runs' staging folders
    resumed: bool = False  # an earlier attempt of this erasure was interrupted; this one finished it
    verified: bool = False  # every data file of the lake scanned: none holds the customer (only with retention 0)


def erasures_table(lake_root: Path) -> Path:
    return lake.table_path(lake_root, lake.SYSTEM, "erasures")


def _token(reference: str) -> str:
    """A regex matching the reference as a whole token, not inside a longer id."""
    return rf"(^|[^A-Za-z0-9_-]){re.escape(reference)}([^A-Za-z0-9_-]|$)"


# Each target table with the condition that picks the customer's rows. ``t`` is the table; ``s`` is a one-row
# source holding the reference, the pseudonym and the reference's whole-token pattern. The rows are deleted by
# MERGE against that source, never by ``DELETE ... WHERE customer_ref = '...'``: a Delta commit records its
# predicate in the log, which outlives the data files, so the erasure would write down whom it erased.
SOURCE_SCHEMA = "ref string, key string, pattern string"


def _targets(root: Path):
    """(table path, MERGE condition) for every table that can hold the customer."""
    for source in registry.known():  # every source that may have written, enabled today or not
        yield lake.bronze_table(root, source), "t.customer_ref = s.ref"
    yield lake.landing_quarantine_table(root), "t.raw_line RLIKE s.pattern"
    silver = root / "silver"
    for table in sorted(silver.iterdir()) if silver.is_dir() else []:
        if lake.exists(table):
            yield table, "t.customer_key = s.key"
    yield lake.silver_quarantine_table(root), "t.customer_key = s.key"
    yield quarantined_inputs_table(root), "t.customer_key = s.key"
    yield fact_quarantine_table(root), "t.customer_key = s.key"
    for mart in CUSTOMER_MARTS:
        yield lake.table_path(root, "gold", mart), "t.customer_key = s.key"
    yield recency_table(root), "t.customer_key = s.key"  # the gold build's carried states
    yield measures_table(root), "t.customer_key = s.key"
    # versions a silver run was about to replace, with their facts' keys (jobs.silver.build.remember_versions)
    yield intents_table(root), "t.held LIKE concat('%', s.key, '%') OR t.held RLIKE s.pattern"
    # Gate results keep observed values, which could quote an identifier.
    results = lake.table_path(root, lake.SYSTEM, "quality_results")
    quoting = [c for c in ("observed_value", "unexpected_sample", "gx_result") if c in lake.column_names(results)]
    if quoting:  # Gate results keep observed values and failing rows, which could quote an identifier.
        yield results, " OR ".join(f"t.{c} RLIKE s.pattern OR t.{c} LIKE concat('%', s.key, '%')" for c in quoting)


class ErasureIncomplete(RuntimeError):
    """After every step, a data file still holds the customer: nothing is recorded, the journal stays open."""


def journal_dir(lake_root: Path) -> Path:
    return location(lake_root) / lake.SYSTEM / "erasure_journal"


@dataclass
class Journal:
    """An erasure under way, on disk before its first delete: which tables it found the customer in, how many rows
    each lost, which are vacuumed. A rerun (after a kill or an error) resumes from it, so a table whose rows
    were deleted before the kill is still vacuumed although the rerun finds no row there. It holds the pseudonym,
    never the reference, and is removed once the erasure is verified and recorded."""

    path: Path
    request_id: str
    customer_key: str
    rows_removed: dict[str, int] = field(default_factory=dict)
    vacuumed: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, root: Path, request_id: str, key: str) -> "Journal":
        """This request's journal, carrying over what any unfinished erasure of the same customer had planned."""
        journal = cls(journal_dir(root) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request_id)}.json", request_id, key)
        for path in sorted(journal_dir(root).glob("*.json")):
            state = json.loads(path.read_text())
            if state["customer_key"] == key:
                for table, rows in state["rows_removed"].items():
                    journal.rows_removed[table] = journal.rows_removed.get(table, 0) + rows
                journal.vacuumed = sorted(set(journal.vacuumed) | set(state["vacuumed"]))
        return journal

    @property
    def resumed(self) -> bool:
        return bool(self.rows_removed)

    def save(self) -> None:
        storage.write_whole(self.path, json.dumps({"request_id": self.request_id, "customer_key": self.customer_key,
                                                   "rows_removed": self.rows_removed, "vacuumed": self.vacuumed}, sort_keys=True))

    def close(self) -> None:
        """The erasure is recorded: this and every other open journal of the customer are done."""
        for path in self.path.parent.glob("*.json"):
            if json.loads(path.read_text())["customer_key"] == self.customer_key:
                path.unlink()


def erase_customer(spark: SparkSession, settings: Settings, reference: str, request_id: str, run_id: str,
                   retain_hours: float | None = None) -> ErasureReport:
    reference = (reference or "").strip()
    if not reference:
        raise ErasureError("a customer reference is required")
    root = settings.lake_root
    if not lake.exists(lake.landing_ledger_table(root)):
        raise ErasureError(f"{root} is not a lake (it has no _system/landing_ledger): nothing erased, nothing recorded")
    key = pseudonym_py(reference, secret_for(root))  # refuses a secret other than the lake's own
    report = ErasureReport(request_id, key)
    retain = env_number("ERASURE_RETAIN_HOURS", 0.0) if retain_hours is None else retain_hours
    meta = lake.commit_metadata(JOB, run_id, request_id=request_id)
    source = spark.createDataFrame([(reference, key, _token(reference))], SOURCE_SCHEMA)
    view = f"erasure_{uuid.uuid4().hex[:12]}"
    source.createOrReplaceTempView(view)
    # Hold every writer's lock: no run may append the customer's rows back between DELETE and VACUUM, and no run
    # is using a staging folder, so every one left is a killed run's and can go. Nor may a compaction of a table every
    # run appends to (the gates, which hold none of these locks, compact their results) fail a DELETE by rewriting its rows.
    with lake.writers_held(root, registry.known()):
        journal = Journal.open(root, request_id, key)
        report.resumed = journal.resumed
        try:
            for path, condition in _targets(root):
                if not lake.exists(path):
                    continue
                matching = lake.read(spark, path).alias("t").join(source.alias("s"), F.expr(condition), "left_semi").count()
                if matching:
                    name = str(location(path).relative_to(root))
                    journal.rows_removed[name] = journal.rows_removed.get(name, 0) + matching
                    journal.save()  # before the delete: a kill after it still knows this table must be vacuumed
                    lake.sql_write(spark, f"MERGE INTO delta.`{path}` t USING {view} s ON {condition} WHEN MATCHED THEN DELETE",
                                   path, meta)
                    report.rows_removed[name] = matching
                    crash_point("erase_between_deletes")
        finally:  # the view holds the reference: a long-lived session must not keep it
            spark.catalog.dropTempView(view)
        crash_point("erase_after_delete")
        report.staging_removed = _remove_staging(root)
        for name in sorted(set(journal.rows_removed) - set(journal.vacuumed)):
            vacuum(spark, root / name, retain)
            journal.vacuumed.append(name)
            journal.save()
        report.vacuumed = sorted(journal.vacuumed)  # over every attempt, like the rows removed
        crash_point("erase_after_vacuum")
        report.quality_documents = _remove_quality_documents(root, reference, key)
        if retain == 0:  # with a retention window, old versions keep the rows until it passes (docs/privacy.md)
            leftovers = files_holding(root, reference, key)
            # Old versions of a table whose current version no longer holds the customer (a fact mended out of the
            # quarantine, a mart month rewritten) still do: vacuum those too, then look again.
            for table in sorted({_table_of(root / f) for f in leftovers} - {None} - {root / n for n in journal.vacuumed}):
                vacuum(spark, table, retain)
                journal.vacuumed.append(str(table.relative_to(root)))
                journal.save()
            report.vacuumed = sorted(journal.vacuumed)
            leftovers = files_holding(root, reference, key) if leftovers else leftovers
            report.verified = not leftovers
            if leftovers:
                raise ErasureIncomplete(f"erasure {request_id} incomplete: {len(leftovers)} data file(s) still hold the customer "
                                        f"(first: {leftovers[0]}); nothing recorded, run the same command again")
    report.landing_files = [str(p) for p in _landing_files_with(settings.landing_root, reference)]
    if not journal.rows_removed and not report.landing_files and not report.quality_documents and not _erased_before(spark, root, key):
        raise ErasureError("no customer with that reference in this lake (check the reference as the source systems send it): "
                           "nothing erased, nothing recorded")
    removed = journal.rows_removed  # over every attempt of this erasure, not only the last
    row = (request_id, key, dt.datetime.now(dt.timezone.utc), run_id, json.dumps(removed, sort_keys=True),
           json.dumps(report.vacuumed), json.dumps([_masked(p, reference) for p in report.landing_files]), len(report.quality_documents))
    record = spark.createDataFrame([row], ERASURES_SCHEMA)
    if lake.exists(erasures_table(root)):  # a record table from before a column was added
        lake.add_new_columns(spark, record, erasures_table(root), meta)
    lake.append(record, erasures_table(root), meta)
    report.rows_removed = dict(removed)
    journal.close()
    return report


def _table_of(path: Path) -> Path | None:
    """The Delta table a data file belongs to (the nearest folder with a ``_delta_log``)."""
    return next((folder for folder in path.parents if (folder / "_delta_log").is_dir()), None)


def _masked(path: str, reference: str) -> str:
    """A landing path as recorded: a file named after the customer must not put the reference into the record."""
    return re.sub(_token(reference), r"\1[erased]\2", path)


def _remove_staging(root: Path) -> list[str]:
    """Staging left by killed runs (landing's ``_system/staging/<id>/`` parts, gold's ``_staging/gold/<run>/`` marts)
    holds raw lines and customer keys; with every lock held no run is using one. Returns what was removed."""
    removed = []
    for folder in (lake.table_path(root, lake.SYSTEM, "staging"), root / lake.STAGING):
        for child in sorted(folder.iterdir()) if folder.is_dir() else []:
            storage.remove_tree(child) if child.is_dir() else child.unlink()
            removed.append(str(child.relative_to(root)))
    return removed


def files_holding(root: Path, reference: str, key: str) -> list[str]:
    """Every Parquet data file under the lake -- of any table, current or old version, staging included -- with a
    text cell holding the pseudonym or the reference as a whole token (the erasure record aside): the check an
    erasure passes before it is recorded."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from interaction_lake.privacy import identifying_columns

    candidates = identifying_columns() | {"customer_key", "customer_ref"}
    token = _token(reference)
    found = []
    for path in sorted(root.rglob("*.parquet")):
        if erasures_table(root) in path.parents or "_delta_log" in path.parts:
            continue
        with path.open("rb") as handle:  # a local file or an object
            data = pq.ParquetFile(handle)
            columns = [f.name for f in data.schema_arrow if f.name in candidates and str(f.type) in ("string", "large_string")]
            if not columns:
                continue
            table = data.read(columns=columns)
        for column in columns:
            values = table.column(column)
            if pc.any(pc.match_substring(values, key)).as_py() or pc.any(pc.match_substring_regex(values, token)).as_py():
                found.append(str(path.relative_to(root)))
                break
    return found


def _erased_before(spark: SparkSession, root: Path, key: str) -> bool:
    """An earlier request erased this customer (a repeated request is recorded again, as the regulator's trail)."""
    table = lake.read(spark, erasures_table(root))
    return table is not None and table.where(F.col("customer_key") == key).limit(1).count() > 0


def _remove_quality_documents(root: Path, reference: str, key: str) -> list[str]:
    """Great Expectations' stored validation results and Data Docs pages that quote the customer.

    A failed expectation lists sample unexpected values, which can be identifiers. Those documents are
    deleted (the gate's verdict stays in ``_system/quality_results``); the Data Docs index is rebuilt by the
    next gate. Returns the paths removed, relative to the lake."""
    token = re.compile(_token(reference).encode())
    removed = []
    # The project's working copy and, for a lake on an object store, the Data Docs uploaded to the lake.
    for project in dict.fromkeys([quality_project(root), lake_quality_folder(root)]):
        folder = project / "gx" / "uncommitted"
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file():
                content = path.read_bytes()
                if key.encode() in content or token.search(content):
                    path.unlink()
                    removed.append(str(path.relative_to(root)) if path.is_relative_to(root) else str(path))
    return removed


def vacuum(spark: SparkSession, path: Path, retain_hours: float) -> None:
    """Delete the data files no version newer than ``retain_hours`` needs.

    Delta SQL ``VACUUM`` where the engine has it; the embedded engine (Sail 0.7) has no VACUUM statement, so there the
    Delta protocol's own vacuum is run by delta-rs (the ``deltalake`` package) on the same table
    (``capabilities.delta_sql_maintenance``).
    """
    from interaction_lake import capabilities

    if capabilities.delta_sql_maintenance(spark):
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        spark.sql(f"VACUUM delta.`{path}` RETAIN {retain_hours} HOURS").collect()
        return
    from deltalake import DeltaTable

    DeltaTable(str(path)).vacuum(retention_hours=int(retain_hours), enforce_retention_duration=False, dry_run=False)


def _landing_files_with(landing_root: Path, reference: str) -> list[Path]:
    token = re.compile(_token(reference).encode())
    found = []
    for source in registry.known():
        for path in discover(landing_root / source):
            if token.search(path.read_bytes()):
                found.append(path)
    return found

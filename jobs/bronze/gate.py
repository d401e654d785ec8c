"""The bronze gate: validate each newly landed batch with ``expectations/bronze/<source>_events.json``.

A batch whose gate fails stays in bronze (bronze is the raw record) but is *held*: silver does not
read it (``held_batches``) until it is fixed and passes. Batches are validated once; a rerun validates
only batches without a verdict, so the gate is idempotent.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake, ledger, lineage
from interaction_lake.config import Settings
from interaction_lake.quality.gate import GateOutcome, latest_verdicts, render_data_docs, results_table, validate
from jobs.quality.views import bronze_events


def held_batches(spark: SparkSession, lake_root, source: str) -> set[str]:
    """Batches whose latest bronze validation failed."""
    return {v.batch_id for v in latest_verdicts(spark, lake_root, "bronze", f"{source}_events") if v.batch_id and not v.passed}


def gate_bronze(spark: SparkSession, settings: Settings, source: str, run_id: str) -> list[GateOutcome]:
    root = settings.lake_root
    if not lake.exists(lake.landing_ledger_table(root)):
        return []
    table = lake.bronze_table(root, source)
    with lineage.job_run(root, f"quality.gate.bronze.{source}", inputs=[table], outputs=[results_table(root)]):
        return _gate(spark, root, source, table, run_id)


def _gate(spark: SparkSession, root, source: str, table, run_id: str) -> list[GateOutcome]:
    validated = {v.batch_id for v in latest_verdicts(spark, root, "bronze", f"{source}_events")}
    # Every batch that brought records is judged, a batch whose every record was quarantined included (it has
    # no bronze rows; the row-count expectation fails it): the share quarantined is one of the checks.
    counts: dict[tuple[str, object], list[int]] = {}
    for e in ledger.latest_entries(spark, root, source).values():
        if e.status == ledger.COMMITTED and (e.records_landed or e.records_quarantined) and e.batch_id not in validated:
            landed_refused = counts.setdefault((e.batch_id, e.ingested_at.date()), [0, 0])
            landed_refused[0] += e.records_landed or 0
            landed_refused[1] += e.records_quarantined or 0
    if not counts:
        return []
    if lake.exists(table):
        version, table_id = lake.version(table), lake.table_id(table)
        bronze = lake.read_version(spark, table, version)
    else:  # every record the source sent so far was quarantined: judged on no rows
        from jobs.bronze.land import bronze_schema

        version, table_id, bronze = None, None, spark.createDataFrame([], bronze_schema(source))
    outcomes = []
    for (batch_id, ingest_date), (landed, refused) in sorted(counts.items()):
        rows = bronze.where((F.col("_ingest_date") == F.lit(ingest_date)) & (F.col("_batch_id") == batch_id))
        outcomes.append(validate(spark, root, "bronze", f"{source}_events", bronze_events(rows, refused / (landed + refused)), run_id,
                                 table_version=version, table_id=table_id, batch_id=batch_id, scope=f"batch {batch_id[:12]}"))
    render_data_docs(root, outcomes)
    return outcomes

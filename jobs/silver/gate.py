"""The silver gate: validate what a silver run changed, table by table, before gold may read it.

For each silver table whose version moved since its last validation, the partitions the new commits
touched (from the Delta log) are validated with ``expectations/silver/<table>.json``; the verdict is
recorded for that table version. Gold refuses to build while the latest verdict of any silver table
it reads is a failure (``blocked_tables``).
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake, lineage
from interaction_lake.config import Settings
from interaction_lake.generator import SOURCES
from interaction_lake.quality.gate import GateOutcome, Verdict, latest_verdicts_by_table, render_data_docs, results_table, validate
from jobs.quality.views import silver_events, silver_fact
from jobs.silver.build import fact_table, silver_events_table
from jobs.silver.lifecycles import FACTS


def _tables(root) -> list[tuple[str, object, str | None, bool]]:
    """(table name, path, partition column, is a fact)."""
    events = [(f"{s}_events", silver_events_table(root, s), "event_date", False) for s in SOURCES]
    return events + [(f.name, fact_table(root, f), f.partition, True) for f in FACTS]


def _last_validated(verdicts: list[Verdict], table_id: str | None = None) -> tuple[int | None, bool | None]:
    """(version, passed) of the table's latest validated version (of this incarnation of it, if ``table_id``)."""
    verdicts = [v for v in verdicts if v.table_version is not None and (table_id is None or v.table_id == table_id)]
    if not verdicts:
        return None, None
    latest = max(verdicts, key=lambda v: (v.validated_at, v.table_version))
    return latest.table_version, latest.passed


def blocked_tables(spark: SparkSession, root) -> list[str]:
    """Silver tables whose most recent validation failed."""
    verdicts = latest_verdicts_by_table(spark, root, "silver")
    return [name for name, path, _, _ in _tables(root)
            if lake.exists(path) and _last_validated(verdicts.get(name, []), lake.table_id(path))[1] is False]


def gate_silver(spark: SparkSession, settings: Settings, run_id: str) -> list[GateOutcome]:
    root = settings.lake_root
    with lineage.job_run(root, "quality.gate.silver", inputs=[path for _, path, _, _ in _tables(root)], outputs=[results_table(root)]):
        return _gate(spark, root, run_id)


def _gate(spark: SparkSession, root, run_id: str) -> list[GateOutcome]:
    dim_path = fact_table(root, next(f for f in FACTS if f.name == "customer_dim"))
    dim = lake.read(spark, dim_path)
    outcomes = []
    verdicts = latest_verdicts_by_table(spark, root, "silver")
    for name, path, partition, is_fact in _tables(root):
        if not lake.exists(path):
            continue
        version, table_id = lake.version(path), lake.table_id(path)
        last, _ = _last_validated(verdicts.get(name, []), table_id)
        if last == version:
            continue
        rows = lake.read_version(spark, path, version)
        scope = "whole table"
        if last is not None and partition:
            changed = lake.changed_partitions(path, last, version, partition)
            if changed is not None and None not in changed:
                if not changed:
                    continue
                rows = rows.where(F.col(partition).cast("string").isin(*sorted(changed)))
                scope = f"{len(changed)} changed {partition} partition(s)"
        view = silver_fact(name, rows, dim) if is_fact else silver_events(rows)
        outcomes.append(validate(spark, root, "silver", name, view, run_id, table_version=version, table_id=table_id, scope=scope))
    render_data_docs(root, outcomes)
    return outcomes

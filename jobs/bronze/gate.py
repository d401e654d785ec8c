"""The bronze gate: validate each newly landed batch with ``expectations/bronze/<source>_events.json``.

A batch whose gate fails stays in bronze (bronze is the raw record) but is *held*: silver does not read
it until it is fixed and passes. A failed batch of several files is then judged file by file (only then:
the passing path costs one validation a batch), so one bad file holds only itself and the batch's other
files flow on (``holds``); a batch whose files all pass alone (a failure only the whole batch shows) stays
held whole. Batches are validated once; a rerun validates only batches without a verdict, so the gate is
idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from interaction_lake import concurrently, lake, ledger, lineage
from interaction_lake.config import Settings
from interaction_lake.quality.gate import (GateOutcome, Verdict, latest_verdicts, latest_verdicts_by_table, render_stage_data_docs,
                                          results_table, validate)
from jobs.quality.views import bronze_events


@dataclass(frozen=True)
class Holds:
    """What silver must not read of a source: whole batches, and single files of otherwise passing batches."""

    batches: frozenset[str] = frozenset()
    files: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (batch_id, source_file)


def holds(spark: SparkSession, lake_root, source: str, verdicts: list[Verdict] | None = None) -> Holds:
    """From the latest verdicts (read here unless given): a failed batch is held whole, unless its files were judged
    alone after it, in which case only the files that failed alone are held (none failing alone: the batch stays held
    whole)."""
    if verdicts is None:
        verdicts = latest_verdicts(spark, lake_root, "bronze", f"{source}_events")
    batches, files = set(), set()
    for batch in (v for v in verdicts if v.batch_id and v.source_file is None and not v.passed):
        alone = [v for v in verdicts if v.batch_id == batch.batch_id and v.source_file and v.validated_at >= batch.validated_at]
        failing = {(v.batch_id, v.source_file) for v in alone if not v.passed}
        if failing:
            files |= failing
        elif not any(v.released for v in alone):  # every file passes alone: a failure only the batch shows (unless released)
            batches.add(batch.batch_id)
    return Holds(frozenset(batches), frozenset(files))


def held_batches(spark: SparkSession, lake_root, source: str) -> set[str]:
    """Batches held whole (see ``holds``)."""
    return set(holds(spark, lake_root, source).batches)


def gate_bronze(spark: SparkSession, settings: Settings, source: str, run_id: str, recheck: frozenset[str] = frozenset(),
                verdicts: list[Verdict] | None = None, entries: dict | None = None) -> list[GateOutcome]:
    """Validate the source's batches without a verdict, and the batches in ``recheck`` again (after a suite or data fix).
    ``verdicts``: the source's latest bronze verdicts, and ``entries`` its latest landing ledger entries
    (``ledger.latest_entries``), each read here unless given."""
    root = settings.lake_root
    if not lake.exists(lake.landing_ledger_table(root)):
        return []
    table = lake.bronze_table(root, source)
    with lineage.job_run(root, f"quality.gate.bronze.{source}", inputs=[table], outputs=[results_table(root)]):
        return _gate(spark, root, source, table, run_id, recheck, verdicts, entries)


def gate_bronze_sources(spark: SparkSession, settings: Settings, names, run_id: str) -> list[GateOutcome]:
    """``gate_bronze`` for each source, ``INTERACTION_LAKE_PARALLELISM`` at a time, each on an engine session of its own
    (``interaction_lake.concurrently``); the outcomes in the sources' order. Great Expectations, where it runs (a suite
    the compiled evaluator does not take, Data Docs), runs one at a time (``quality.gate``). The stage's verdicts and the
    landing ledger are each read once for every source: each gate writes only its own source's verdicts, and each read
    grows with every verdict given and every file landed. A batch landed after the ledger's read is judged next run."""
    verdicts = latest_verdicts_by_table(spark, settings.lake_root, "bronze")
    entries = ledger.latest_entries_by_source(spark, settings.lake_root)  # every source's: ``names`` may be a progress bar
    outcomes = concurrently.each(spark, settings, lambda session, source: gate_bronze(
        session, settings, source, run_id, verdicts=verdicts.get(f"{source}_events", []), entries=entries.get(source, {})), names)
    return [outcome for found in outcomes for outcome in found]


def _gate(spark: SparkSession, root, source: str, table, run_id: str, recheck: frozenset[str] = frozenset(),
          verdicts: list[Verdict] | None = None, entries: dict | None = None) -> list[GateOutcome]:
    if verdicts is None:
        verdicts = latest_verdicts(spark, root, "bronze", f"{source}_events")
    if entries is None:
        entries = ledger.latest_entries(spark, root, source)
    validated = {v.batch_id for v in verdicts} - set(recheck)
    # Every batch that brought records is judged, a batch whose every record was quarantined included (it has
    # no bronze rows; the row-count expectation fails it): the share quarantined is one of the checks.
    files: dict[tuple[str, object], dict[str, tuple[int, int]]] = {}  # (batch, ingest date) -> file -> (landed, refused)
    for e in entries.values():
        if e.status == ledger.COMMITTED and (e.records_landed or e.records_quarantined) and e.batch_id not in validated:
            files.setdefault((e.batch_id, e.ingested_at.date()), {})[e.file_path] = (e.records_landed or 0, e.records_quarantined or 0)
    if not files:
        return []
    if lake.exists(table):
        version, table_id = lake.version(table), lake.table_id(table)
        bronze = lake.read_version(spark, table, version)
    else:  # every record the source sent so far was quarantined: judged on no rows
        from jobs.bronze.land import bronze_schema

        version, table_id, bronze = None, None, spark.createDataFrame([], bronze_schema(source))
    outcomes = []
    for (batch_id, ingest_date), counts in sorted(files.items()):
        rows = bronze.where((F.col("_ingest_date") == F.lit(ingest_date)) & (F.col("_batch_id") == batch_id))

        def judge(frame, landed_refused, **where):
            landed, refused = (sum(n) for n in zip(*landed_refused))
            return validate(spark, root, "bronze", f"{source}_events", bronze_events(frame, refused / (landed + refused)), run_id,
                            table_version=version, table_id=table_id, batch_id=batch_id, **where)

        batch = judge(rows, counts.values(), scope=f"batch {batch_id}")
        outcomes.append(batch)
        if not batch.passed and len(counts) > 1:
            for path, landed_refused in sorted(counts.items()):
                outcomes.append(judge(rows.where(F.col("_source_file") == path), [landed_refused],
                                      scope=f"file {Path(path).name} of batch {batch_id}", source_file=path))
    render_stage_data_docs(root, outcomes)
    return outcomes

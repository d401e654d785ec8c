"""The silver gate: validate what a silver run changed, table by table, before gold may read it.

For each silver table whose version moved since its last validation, the partitions the new commits
touched (from the Delta log) are validated with ``expectations/silver/<table>.json``; the verdict is
recorded for that table version. With each lifecycle fact, the share of the same partitions' facts that
``quarantine/silver_facts`` holds instead is judged too (``expectations/silver/facts_quarantined.json``,
recorded as table ``<fact>_quarantined``): a day with one skewed call publishes the others, a day where
the feed is broken does not. Gold refuses to build while the latest verdict of any silver table it reads
is a failure (``blocked_tables``).
"""

from __future__ import annotations

import functools

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake, lineage
from interaction_lake.config import Settings
from interaction_lake import sources as registry
from interaction_lake.quality.gate import (GateOutcome, StageResults, Verdict, evaluate_stage, latest_verdicts_by_table,
                                          render_stage_data_docs, results_table, validate)
from interaction_lake.quality.suites import load_suite
from jobs.quality.views import facts_quarantined, silver_events, silver_fact
from jobs.silver.build import fact_quarantine_table, fact_table, silver_events_table
from jobs.silver.lifecycles import FACTS


QUARANTINED = "_quarantined"  # suffix of the verdicts on a fact's quarantined share


def _tables(root) -> list[tuple[str, object, str | None, bool]]:
    """(table name, path, partition column, is a fact)."""
    events = [(f"{s}_events", silver_events_table(root, s), "event_date", False) for s in registry.known()]
    return events + [(f.name, fact_table(root, f), f.partition, True) for f in FACTS]


def _judged(root) -> list[tuple[str, object]]:
    """(verdict name, the table its verdicts are about): every table, and each fact's quarantined share."""
    return [(name, path) for name, path, _, _ in _tables(root)] + [(f.name + QUARANTINED, fact_table(root, f)) for f in FACTS]


def _latest(verdicts: list[Verdict], table_id: str | None = None) -> Verdict | None:
    """The verdict on the table's latest validated version (of this incarnation of it, if ``table_id``)."""
    verdicts = [v for v in verdicts if v.table_version is not None and (table_id is None or v.table_id == table_id)]
    return max(verdicts, key=lambda v: (v.validated_at, v.table_version)) if verdicts else None


def _last_validated(verdicts: list[Verdict], table_id: str | None = None) -> tuple[int | None, bool | None]:
    """(version, passed) of the table's latest validated version (of this incarnation of it, if ``table_id``)."""
    latest = _latest(verdicts, table_id)
    return (None, None) if latest is None else (latest.table_version, latest.passed)


def blocked(spark: SparkSession, root) -> dict[str, Verdict]:
    """The silver tables whose most recent validation failed, each with that failing verdict."""
    verdicts = latest_verdicts_by_table(spark, root, "silver")
    found = {}
    for name, path in _judged(root):
        latest = _latest(verdicts.get(name, []), lake.table_id(path)) if lake.exists(path) else None
        if latest is not None and not latest.passed:
            found[name] = latest
    return found


def _without_small_shares(pending: list[tuple[DataFrame, dict]], min_facts: int) -> list[tuple[DataFrame, dict]]:
    """``pending`` without the quarantined shares of fewer than ``min_facts`` facts (the share of a handful is noise, not a
    verdict), every share counted (up to ``min_facts``) by one query."""
    shares = [index for index, (_, args) in enumerate(pending) if args.get("suite") == "facts_quarantined"]
    if not shares:
        return pending
    counted = functools.reduce(DataFrame.unionAll, [pending[index][0].limit(min_facts).select(F.lit(index).alias("share"))
                                                    for index in shares])
    enough = {row.share for row in counted.groupBy("share").count().collect() if row["count"] >= min_facts}
    return [entry for index, entry in enumerate(pending) if index not in shares or index in enough]


def blocked_tables(spark: SparkSession, root) -> list[str]:
    """Silver tables whose most recent validation failed."""
    return list(blocked(spark, root))


def gate_silver(spark: SparkSession, settings: Settings, run_id: str, recheck: frozenset[str] = frozenset()) -> list[GateOutcome]:
    """Validate what changed in each silver table; the tables in ``recheck`` again, whole (after a suite or data fix)."""
    root = settings.lake_root
    with lineage.job_run(root, "quality.gate.silver", inputs=[path for _, path, _, _ in _tables(root)], outputs=[results_table(root)]):
        return _gate(spark, settings, run_id, {name.removesuffix(QUARANTINED) for name in recheck})


def _gate(spark: SparkSession, settings: Settings, run_id: str, recheck: set[str] = frozenset()) -> list[GateOutcome]:
    root = settings.lake_root
    dim_path = fact_table(root, next(f for f in FACTS if f.name == "customer_dim"))
    dim = lake.read(spark, dim_path)
    held = lake.read(spark, fact_quarantine_table(root))
    skew = settings.silver.lifecycle_skew_seconds
    min_facts = int(load_suite("silver", "facts_quarantined").spec.get("meta", {}).get("min_facts", 0))
    verdicts = latest_verdicts_by_table(spark, root, "silver")
    pending: list[tuple[DataFrame, dict]] = []  # what to validate: (frame, validate's arguments)
    for name, path, partition, is_fact in _tables(root):
        if not lake.exists(path):
            continue
        version, table_id = lake.version(path), lake.table_id(path)
        last, _ = _last_validated(verdicts.get(name, []), table_id)
        if name in recheck:
            last = None  # judged again, whole
        elif last == version:
            continue
        rows = lake.read_version(spark, path, version)
        scope, changed = "whole table", None
        if last is not None and partition:
            changed = lake.changed_partitions(path, last, version, partition)
            if changed is not None and None not in changed:
                if not changed:
                    continue
                rows = rows.where(F.col(partition).cast("string").isin(*sorted(changed)))
                scope = f"{len(changed)} changed {partition} partition(s)"
            else:
                changed = None
        view = silver_fact(name, rows, dim, skew) if is_fact else silver_events(rows)
        pending.append((view, dict(table=name, table_version=version, table_id=table_id, scope=scope)))
        if is_fact:
            quarantined = None if held is None else held.where(F.col("fact") == name)
            if quarantined is not None and changed is not None:
                quarantined = quarantined.where(F.col("fact_date").cast("string").isin(*sorted(changed)))
            pending.append((facts_quarantined(rows, quarantined), dict(table=name + QUARANTINED, suite="facts_quarantined",
                                                                       table_version=version, table_id=table_id, scope=scope)))
    pending = _without_small_shares(pending, max(min_facts, 1))
    # every suite's aggregates in one query, then each validation recorded (one commit for the stage's results)
    evaluated = evaluate_stage("silver", [(frame, args.get("suite", args["table"])) for frame, args in pending])
    with StageResults(spark, root, "silver", run_id) as results:
        outcomes = [validate(spark, root, "silver", frame=frame, run_id=run_id, stage_results=results, evaluated=done, **args)
                    for (frame, args), done in zip(pending, evaluated)]
    render_stage_data_docs(root, outcomes)
    return outcomes

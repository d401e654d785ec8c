"""Build silver from newly landed bronze batches: events first, then the facts those events touch.

Incremental by bronze batch: the landing ledger says which batches exist (and their ingest dates,
so bronze is read partition-pruned); ``_system/silver_progress`` says which were processed. A run:

1. conforms the new batches' events, keeps one version of each (``conform.winning_versions``: the highest revision,
   then the latest delivery; an exact re-send changes nothing) and MERGEs them into ``silver/<source>_events`` on
   ``event_id``: a new event is inserted, a correction replaces the version silver held (its old event date too);
2. for each fact of the source, recomputes the rows of the keys the new events touch (and the keys a corrected
   event belonged to before), from all
   silver events of those keys within the fact's time span, and MERGEs them in (SCD2 rows that a
   recomputation retires are deleted in the same commit);
3. records the batches as processed.

Every step is idempotent, so a run that dies is simply run again. ``full=True`` rebuilds silver by
replaying every bronze batch; tests check that it equals the incremental result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import business_calendar, concurrently, lake, ledger, lineage, locks, storage
from interaction_lake.config import ConfigError, Settings
from interaction_lake.faults import crash_point
from interaction_lake import sources as registry
from interaction_lake.privacy import pseudonym, secret_for
from interaction_lake.quality.gate import Verdict, latest_verdicts_by_table
from jobs.silver.conform import CONTENT, LAST_OTHER, PARITY_GAPS, VERSION, conform, winning_versions
from jobs.silver.lifecycles import FACTS, Fact, broken_rule

JOB = "silver.build"
PROGRESS_SCHEMA = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("batch_id", T.StringType(), False),
    T.StructField("ingest_date", T.DateType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("processed_at", T.TimestampType(), False),
    # The file of the batch that was read; a batch is read file by file, so a file the bronze gate held and an operator
    # released later is read then (null: the whole batch, as recorded before files were tracked).
    T.StructField("source_file", T.StringType(), True),
])


def silver_events_table(lake_root: Path, source: str) -> Path:
    return lake.table_path(lake_root, "silver", f"{source}_events")


def fact_table(lake_root: Path, fact: Fact) -> Path:
    return lake.table_path(lake_root, "silver", fact.name)


def progress_table(lake_root: Path) -> Path:
    return lake.table_path(lake_root, lake.SYSTEM, "silver_progress")


def read_fact(spark: SparkSession, lake_root: Path, fact: Fact, version: int | None = None) -> DataFrame:
    """The fact table (at ``version`` if given), or an empty frame with its schema if it was never written
    (a source that has sent no events yet): downstream jobs need not special-case a missing table."""
    path = fact_table(lake_root, fact)
    if lake.exists(path):
        return lake.read(spark, path) if version is None else lake.read_version(spark, path, version)
    from jobs.bronze.land import bronze_schema

    empty = conform(spark.createDataFrame([], bronze_schema(fact.source)), fact.source, b"unused")
    return fact.build(empty, business_calendar.UTC)


@dataclass
class SilverReport:
    source: str
    batches: int = 0
    events_in: int = 0
    events_inserted: int = 0
    duplicates_suppressed: int = 0  # copies that did not become silver's version: exact re-sends and superseded versions
    conflicting_duplicates: int = 0  # of those, copies whose content differs from the version kept (a correction's losers)
    corrections: int = 0  # events whose version in silver this run replaced with a different content
    quarantined: int = 0  # events whose payload broke bronze-to-silver parity (quarantine/silver)
    held_back: int = 0  # committed batches not read because their bronze gate failed
    files_held_back: int = 0  # files of otherwise passing batches not read because they failed the bronze gate alone
    facts: dict[str, int] = field(default_factory=dict)  # fact -> keys recomputed
    facts_quarantined: dict[str, int] = field(default_factory=dict)  # fact -> of those, breaking a lifecycle rule


def build_silver(spark: SparkSession, settings: Settings, run_id: str, sources: tuple[str, ...] | None = None,
                 full: bool = False, track: Callable[[Iterable[str]], Iterable[str]] = iter) -> list[SilverReport]:
    """``sources``: default the enabled ones (``interaction_lake.sources``); ``track`` wraps the sources as they are
    built (the command line's progress bar)."""
    sources = tuple(sources or registry.enabled())
    secret = secret_for(settings.lake_root)  # first: a wrong secret must refuse before anything is dropped
    tz = settings.calendar
    rebuilding_all = full and set(sources) == set(registry.known())
    business_calendar.check(settings.lake_root, tz, has_silver=not rebuilding_all and _has_silver(settings.lake_root))
    if full:
        _drop_silver(settings.lake_root, sources)
    business_calendar.record(settings.lake_root, tz)
    held = fact_quarantine_table(settings.lake_root)
    began = lake.version(held) if lake.exists(held) else None

    # the bronze gates' verdicts, read once for every source: what holds a batch or file back (a read that grows with
    # every verdict ever given; a gate's verdict given after it is seen by the next run, as one given mid-build always was);
    # then the landing ledger, likewise once: the files committed (a batch landed after it is read by the next run)
    verdicts = latest_verdicts_by_table(spark, settings.lake_root, "bronze")
    entries = ledger.latest_entries_by_source(spark, settings.lake_root, sources)

    def build(session: SparkSession, job: str | object) -> SilverReport | None:
        if job is REFUSED_INPUTS:
            return refresh_quarantined_inputs(session, settings, secret, lake.commit_metadata(JOB, run_id, table="quarantined_inputs"))
        return _build_source(session, settings, job, run_id, secret, verdicts.get(f"{job}_events", []), entries.get(job, {}))

    # the sources two (settings.parallelism) at a time, each on a session of its own (interaction_lake.concurrently),
    # and beside them silver/quarantined_inputs, which reads only landing's quarantine
    reports = concurrently.each(spark, settings, build, itertools.chain([REFUSED_INPUTS], track(sources)))[1:]
    compact_fact_quarantine(spark, settings.lake_root, began, lake.commit_metadata(JOB, run_id, table="silver_facts"))
    return reports


REFUSED_INPUTS = object()  # build_silver's job that refreshes silver/quarantined_inputs


def compact_fact_quarantine(spark: SparkSession, lake_root: Path, since: int | None, meta: dict[str, str]) -> bool:
    """Compact ``quarantine/silver_facts`` when due since version ``since`` (``lake.compact_if_due``); whether it was.

    Every source's build writes it, each under its own source's lock, so no single build may compact it: a compaction
    beside another source's MERGE would fail that MERGE. So a silver run does it at its end, holding every source's
    silver lock -- and only if all are free at once: a build of another source running now keeps its MERGE, and the
    table is compacted when next due. Without it the table gains files every day for as long as facts break rules."""
    if since is None:
        return False
    try:  # in erasure's order (jobs.privacy.erase): no deadlock with it
        with locks.all_of(lake_root, [f"silver_{source}" for source in registry.known()], timeout_seconds=0):
            return lake.compact_if_due(spark, fact_quarantine_table(lake_root), since, meta)
    except locks.LockTimeout:
        return False


def refused_inputs(spark: SparkSession, lake_root: Path, secret: bytes, calendar: str) -> DataFrame | None:
    """The records landing refused that were a customer's inputs: those of ``quarantine/landing`` that still name their
    customer and time, with ``customer_key`` (the pseudonym) and ``event_date`` (the local date; a branch on its own
    clock, where the record's text names one, dates it by its zone) added. Records a feed mapping excluded on purpose
    are not missing inputs. None when nothing was ever refused."""
    quarantine = lake.read(spark, lake.landing_quarantine_table(lake_root))
    if quarantine is None or "customer_ref" not in quarantine.columns:
        return None
    branch = F.get_json_object(F.col("raw_line"), "$.branch_id")
    return (quarantine.where(F.col("customer_ref").isNotNull() & F.col("occurred_at").isNotNull() & (F.col("reason") != "excluded"))
            .withColumn("customer_key", pseudonym(F.col("customer_ref"), secret))
            .withColumn("event_date", business_calendar.local_date("occurred_at", calendar, branch)))


def quarantined_inputs_table(lake_root: Path) -> Path:
    return lake.table_path(lake_root, "silver", "quarantined_inputs")


def refresh_quarantined_inputs(spark: SparkSession, settings: Settings, secret: bytes, meta: dict[str, str]) -> None:
    """``silver/quarantined_inputs``: per source, customer (pseudonymised) and local date, how many of the customer's
    records landing refused -- where the refused record still names its customer and time (``customer_ref`` and
    ``occurred_at`` in ``quarantine/landing``). Records a feed mapping excluded on purpose are not missing inputs.
    Rebuilt whole each run (refusals are few), written only when it changes; gold marks the customer-months these
    leave incomplete (``inputs_complete = false``)."""
    refused, target = refused_inputs(spark, settings.lake_root, secret, settings.calendar), quarantined_inputs_table(settings.lake_root)
    if refused is None:
        return
    rows = refused.groupBy("source", "customer_key", "event_date").agg(F.count(F.lit(1)).alias("records"))
    if lake.exists(target):
        stored = lake.read(spark, target)
        if not rows.exceptAll(stored).limit(1).count() and not stored.exceptAll(rows).limit(1).count():
            return
    elif not rows.limit(1).count():
        return
    lake.overwrite(rows, target, meta)


def _has_silver(lake_root: Path) -> bool:
    return any(lake.exists(silver_events_table(lake_root, source)) for source in registry.known())


def _drop_silver(lake_root: Path, sources: tuple[str, ...]) -> None:
    for source in sources:
        storage.remove_tree(silver_events_table(lake_root, source))
        for fact in FACTS:
            if fact.source == source:
                storage.remove_tree(fact_table(lake_root, fact))
    storage.remove_tree(progress_table(lake_root))
    if set(sources) == set(registry.known()):  # else the replay recomputes every key of those sources, which re-judges their rows
        storage.remove_tree(fact_quarantine_table(lake_root))


def new_batches(spark: SparkSession, lake_root: Path, source: str, held, entries: dict) -> list[tuple[str, dt.date, tuple[str, ...]]]:
    """(batch, ingest date, files) silver has not read yet: of the source's latest ledger ``entries``
    (``ledger.latest_entries``), the committed files of batches not held whole, minus the files held alone
    (``jobs.bronze.gate.Holds``) and the files already read -- so a held file is read once released."""
    held_batches, held_files = held.batches, held.files
    files: dict[tuple[str, dt.date], set[str]] = {}
    for e in entries.values():
        if e.status == ledger.COMMITTED and e.records_landed and e.batch_id not in held_batches and (e.batch_id, e.file_path) not in held_files:
            files.setdefault((e.batch_id, e.ingested_at.date()), set()).add(e.file_path)
    progress = lake.read(spark, progress_table(lake_root))
    read: set[tuple[str, str | None]] = set()
    if progress is not None:
        if "source_file" not in progress.columns:
            progress = progress.withColumn("source_file", F.lit(None).cast("string"))
        read = {(r.batch_id, r.source_file) for r in progress.where(F.col("source") == source).select("batch_id", "source_file").collect()}
    whole = {batch for batch, file in read if file is None}
    todo = [(batch, day, tuple(sorted(f for f in paths if (batch, f) not in read))) for (batch, day), paths in files.items() if batch not in whole]
    return sorted(t for t in todo if t[2])


def _build_source(spark: SparkSession, settings: Settings, source: str, run_id: str, secret: bytes,
                  verdicts: list[Verdict], entries: dict) -> SilverReport:
    """One source's silver build, as the OpenLineage job run ``silver.build.<source>``; ``verdicts``: the source's latest
    bronze verdicts; ``entries``: its latest landing ledger entries."""
    root = settings.lake_root
    outputs = [silver_events_table(root, source), *(fact_table(root, f) for f in FACTS if f.source == source), progress_table(root)]
    with locks.exclusive(root, f"silver_{source}"), lineage.job_run(root, f"silver.build.{source}",
                                                                     inputs=[lake.bronze_table(root, source)], outputs=outputs):
        try:
            with lake.keeping(spark, root) as keep:
                return _build_one(spark, settings, source, run_id, secret, keep, verdicts, entries)
        finally:
            _drop_views(spark)


def _build_one(spark: SparkSession, settings: Settings, source: str, run_id: str, secret: bytes,
               keep: Callable[[DataFrame], DataFrame], verdicts: list[Verdict], entries: dict) -> SilverReport:
    """``keep`` (``lake.keeping``) computes a frame once for the source's build: the batches' conformed events and each
    fact's recomputation are each read by several queries, which would otherwise each evaluate them again."""
    from jobs.bronze.gate import holds

    report = SilverReport(source)
    held = holds(spark, settings.lake_root, source, verdicts)
    report.held_back, report.files_held_back = len(held.batches), len(held.files)
    batches = new_batches(spark, settings.lake_root, source, held, entries)
    if not batches:
        return report
    report.batches = len(batches)
    batch_ids = [b for b, _, _ in batches]
    parts = sorted(f"{batch}\u0001{file}" for batch, _, files in batches for file in files)  # one column: joins stay single-column
    bronze = lake.read(spark, lake.bronze_table(settings.lake_root, source)).where(
        F.col("_ingest_date").isin(*sorted({d for _, d, _ in batches})) & F.col("_batch_id").isin(*batch_ids)
        & F.concat_ws("\u0001", "_batch_id", "_source_file").isin(*parts))  # held files are not among them: the rest flows on
    checked = keep(conform(bronze, source, secret, with_parity=True, tz=settings.calendar))
    report.events_in = checked.count()
    meta = lake.commit_metadata(JOB, run_id, source=source)
    report.quarantined = quarantine_broken(spark, checked, source, settings.lake_root, batch_ids, meta)
    valid = checked.where(F.col(PARITY_GAPS) == "").drop(PARITY_GAPS)
    events = keep(winning_versions(valid))
    dates = sorted(r.event_date for r in events.select("event_date").distinct().collect())
    if not dates:
        _record_progress(spark, settings, source, batches, run_id, meta)
        return report

    target = silver_events_table(settings.lake_root, source)
    facts = [f for f in FACTS if f.source == source]
    # the tables only this source's build writes: compacted at the end, under its lock, as they take commits
    own = [target, *(fact_table(settings.lake_root, f) for f in facts)]
    began = {path: lake.version(path) if lake.exists(path) else None for path in own}
    # the versions a correction may replace, and their keys: as found now, and as a killed run of these batches found them
    noted = recalled_versions(spark, settings.lake_root, source, batch_ids)  # older than any found now: they win
    noted_ids = {version["event_id"] for version in noted}
    found = [version for version in versions_held(spark, target, events, facts) if version["event_id"] not in noted_ids]
    held_before = [*noted, *found]
    if found:  # a retry whose versions the run it retries wrote down writes nothing again
        remember_versions(spark, settings.lake_root, source, batch_ids, run_id, found, meta)
    dates = sorted({*dates, *(r["event_date"] for r in held_before)})
    merge_events(spark, events, target, {**meta, "table": f"{source}_events"}, prune_to=dates)
    crash_point("silver_after_events")
    all_events = lake.read(spark, target)
    # The batches' events as silver now holds them (a copy that lost to another version is not among
    # them, and changes no fact): read back partition-pruned instead of re-parsing bronze per use.
    new_events = all_events.where(F.col("event_date").isin(*dates) & F.col("_batch_id").isin(*batch_ids))
    report.events_inserted = new_events.count()
    report.duplicates_suppressed = report.events_in - report.events_inserted - report.quarantined
    _count_conflicts(report, valid, all_events.where(F.col("event_date").isin(*dates)), held_before)

    for fact in facts:
        keys = new_events.where(_present(fact.key_columns)).select(composite_key(fact.key_columns)).distinct()
        before = sorted({r[f"_key_{fact.name}"] for r in held_before if r[f"_key_{fact.name}"] is not None})
        moved = False
        if before:  # a corrected event leaves the fact it belonged to: that fact is recomputed too
            earlier = spark.createDataFrame([(k,) for k in before], keys.schema)
            moved = earlier.join(keys, keys.columns[0], "left_anti").limit(1).count() > 0
            keys = keys.unionByName(earlier).distinct()
        span = dt.timedelta(days=fact.span_days)
        window = all_events.where(F.col("event_date").between(dates[0] - span, dates[-1] + span))
        touched = window.withColumn(KEY, composite_key(fact.key_columns)).join(keys, KEY, "left_semi")
        rule, detail = broken_rule(fact, settings.silver.lifecycle_skew_seconds)
        rows = keep(fact.build(touched.drop(KEY), settings.calendar).withColumn(RULE, rule).withColumn(RULE_DETAIL, detail))
        report.facts[fact.name] = keys.count()
        # Facts that break a lifecycle rule are retired from the table (they may have been stored before a
        # correction or a skewed step arrived) and kept in quarantine/silver_facts instead.
        good, broken = rows.where(F.col(RULE).isNull()).drop(RULE, RULE_DETAIL), rows.where(F.col(RULE).isNotNull())
        report.facts_quarantined[fact.name] = broken.count()
        # a key a correction moved away from may have no events left: its stored row is retired like an SCD2 version
        upsert(spark, good, fact_table(settings.lake_root, fact), dataclasses.replace(fact, versioned=fact.versioned or moved),
               keys, {**meta, "table": fact.name},
               partitions=partition_range(fact, dates[0] - span, dates[-1] + span),
               retire=broken.drop(RULE, RULE_DETAIL) if report.facts_quarantined[fact.name] else None, keep=keep)
        quarantine_facts(spark, fact, rows, touched, settings.lake_root, run_id, report.facts_quarantined[fact.name],
                         {**meta, "table": "silver_facts"}, keep)
        crash_point("silver_after_fact")

    _record_progress(spark, settings, source, batches, run_id, meta)
    for path in own:  # a day's appends and MERGEs add small files to each partition they touch: without it, every
        lake.compact_if_due(spark, path, began[path], meta)  # reader opens more files each day (bench/README.md)
    return report


def _record_progress(spark: SparkSession, settings: Settings, source: str, batches, run_id: str, meta: dict[str, str]) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    frame = spark.createDataFrame([(source, b, d, run_id, now, f) for b, d, files in batches for f in files], PROGRESS_SCHEMA)
    lake.ensure_columns(spark, frame, progress_table(settings.lake_root), {**meta, "step": "progress"})  # recorded before files were
    lake.append(frame, progress_table(settings.lake_root), {**meta, "step": "progress"})


SILVER_QUARANTINE_COLUMNS = ("source", "event_id", "event_type", "customer_key", "reason", "detail",
                             "_source_file", "_file_checksum", "_line_number", "_batch_id", "_ingested_at")


def quarantine_broken(spark: SparkSession, checked: DataFrame, source: str, lake_root: Path, batch_ids: list[str],
                      meta: dict[str, str]) -> int:
    """Events whose payload the engine did not read whole go to ``quarantine/silver`` (reason ``payload_parity``,
    the fields lost in ``detail``), with their bronze lineage; no raw text is copied (bronze holds it). Idempotent:
    a line already quarantined is not written twice. Returns how many of the batches' events are there."""
    target = lake.silver_quarantine_table(lake_root)
    broken = (checked.where(F.col(PARITY_GAPS) != "")
              .select(F.lit(source).alias("source"), "event_id", "event_type", "customer_key", F.lit("payload_parity").alias("reason"),
                      F.concat(F.lit("contract fields in bronze that the engine read as null: "), F.col(PARITY_GAPS)).alias("detail"),
                      "_source_file", "_file_checksum", "_line_number", "_batch_id", "_ingested_at"))
    count = broken.count()
    if not count:
        return 0
    existing = lake.read(spark, target)
    if existing is not None:  # a rerun, or a released file of a batch already read: only lines not quarantined yet
        line = lambda frame: F.concat_ws("\u0001", frame["_batch_id"], frame["_source_file"], frame["_line_number"].cast("string"))  # noqa: E731
        known = existing.where((F.col("source") == source) & F.col("_batch_id").isin(*batch_ids)).select(line(existing).alias("_line"))
        broken = broken.withColumn("_line", line(broken)).join(known, "_line", "left_anti").drop("_line")
        if broken.limit(1).count() == 0:
            return count
    lake.append(broken, target, {**meta, "step": "quarantine"})
    return count


def fact_quarantine_table(lake_root: Path) -> Path:
    return lake.table_path(lake_root, lake.QUARANTINE, "silver_facts")


RULE, RULE_DETAIL = "_rule", "_rule_detail"
# Every source's build writes quarantine/silver_facts (each only its own facts' rows), and builds run at once
# (interaction_lake.concurrently): one write at a time, as a MERGE rewrites files holding other facts' rows too and a
# commit racing it would either fail it (delta-spark) or be retried over it (the embedded engine).
FACT_QUARANTINE_LOCK = "silver_facts"
FACT_QUARANTINE_SCHEMA = T.StructType([
    T.StructField("fact", T.StringType(), False),
    T.StructField("fact_key", T.StringType(), False),  # the fact's key columns, "name=value" joined by "|"
    T.StructField("fact_date", T.DateType(), True),  # the fact's partition value: the day (or month) it would be filed under
    T.StructField("customer_key", T.StringType(), True),
    T.StructField("rule", T.StringType(), False),
    T.StructField("detail", T.StringType(), True),
    T.StructField("events", T.ArrayType(T.StructType([
        T.StructField("event_id", T.StringType()), T.StructField("event_type", T.StringType()),
        T.StructField("occurred_at", T.TimestampType()), T.StructField("_source_file", T.StringType()),
        T.StructField("_line_number", T.LongType()), T.StructField("_batch_id", T.StringType())])), True),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("quarantined_at", T.TimestampType(), False),
])


def fact_key(fact: Fact) -> Column:
    """A readable, unambiguous text of a fact's key (a null part shows as ``name=<null>``)."""
    return F.concat_ws("|", *[F.concat(F.lit(f"{k}="), F.coalesce(F.col(k).cast("string"), F.lit("<null>"))) for k in fact.keys])


def quarantine_facts(spark: SparkSession, fact: Fact, rows: DataFrame, touched: DataFrame, lake_root: Path, run_id: str,
                     count: int, meta: dict[str, str], keep: Callable[[DataFrame], DataFrame] = lambda frame: frame) -> None:
    """Keep ``quarantine/silver_facts`` in step with the recomputed facts of the touched keys (``count`` of them break
    a rule): a fact that breaks a rule is there (rule, detail, its events with their bronze lineage), one that no
    longer breaks any is removed (its late opening event arrived).

    As ``upsert`` does, only the recomputed facts the quarantine holds go through a MERGE, and only if it changes one
    of them; facts quarantined for the first time are appended (a MERGE rewrites the quarantine's files: ~0.4 s,
    measured, against a tenth of that). A run killed between the two commits is finished by its retry. The quarantine
    rows are computed once (``keep``: gathering the broken facts' events reads the touched events), and not at all
    when no fact breaks a rule."""
    target = fact_quarantine_table(lake_root)
    keyed = rows.withColumn("fact_key", fact_key(fact))
    stored = lake.read(spark, target)
    held = (stored.where(F.col("fact") == fact.name).select("fact_key").join(keyed.select("fact_key"), "fact_key", "left_semi")
            if stored is not None else None)
    if not count and (held is None or not held.limit(1).count()):
        return  # nothing to add and nothing to mend: no commit
    if held is not None:  # the recomputed facts the quarantine holds, found once: the check, the MERGE and the append read them
        held = keep(held)
    broken = keyed.where(F.col(RULE).isNotNull()).withColumn(KEY, composite_key(fact.key_columns))
    # the events of the broken facts only: a day touches thousands of facts and breaks a few
    events = touched.join(broken.select(KEY), KEY, "left_semi").groupBy(KEY).agg(F.sort_array(F.collect_list(F.struct(
        "occurred_at", "event_id", "event_type", "_source_file", "_line_number", "_batch_id"))).alias("_events"))
    now = dt.datetime.now(dt.timezone.utc)
    fields = FACT_QUARANTINE_SCHEMA["events"].dataType.elementType.fieldNames()
    if count:
        quarantined = keep(broken.join(events, KEY, "left").select(
            F.lit(fact.name).alias("fact"), "fact_key",
            (F.col(fact.partition).cast("date") if fact.partition else F.lit(None).cast("date")).alias("fact_date"),
            F.col("customer_key") if "customer_key" in rows.columns else F.lit(None).cast("string").alias("customer_key"),
            F.col(RULE).alias("rule"), F.col(RULE_DETAIL).alias("detail"), F.col("_events").alias("events"),
            F.lit(run_id).alias("run_id"), F.lit(now).cast("timestamp").alias("quarantined_at")))
    else:
        quarantined = spark.createDataFrame([], FACT_QUARANTINE_SCHEMA)
    # the table's event structs, in its field order; shaped after ``keep``, whose frame reads back with list elements
    # that may be null by their type, which the engine will not write into the table's non-null ones
    quarantined = quarantined.withColumn("events", F.transform("events", lambda e: F.struct(*[e[f].alias(f) for f in fields])))
    if held is not None:
        # Every recomputed fact the quarantine holds is in the MERGE's source: one that now breaks no rule deletes its row.
        mended = (keyed.where(F.col(RULE).isNull()).join(held, "fact_key", "left_semi")
                  .select(F.lit(fact.name).alias("fact"), "fact_key").withColumn("_mended", F.lit(True)))
        source = (quarantined.join(held, "fact_key", "left_semi").withColumn("_mended", F.lit(False))
                  .unionByName(mended, allowMissingColumns=True))
        columns = FACT_QUARANTINE_SCHEMA.fieldNames()
        changes = (" OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in ("rule", "detail", "customer_key", "fact_date"))
                   + " OR size(t.events) <> size(s.events)")
        view, on = _view(source), "t.fact = s.fact AND t.fact_key = s.fact_key"
        if spark.sql(f"SELECT 1 FROM {view} s JOIN delta.`{target}` t ON {on} WHERE s._mended OR {changes} LIMIT 1").take(1):
            with locks.exclusive(lake_root, FACT_QUARANTINE_LOCK):
                lake.sql_write(
                    spark,
                    f"MERGE INTO delta.`{target}` t USING {view} s ON {on} "
                    f"WHEN MATCHED AND s._mended THEN DELETE "
                    f"WHEN MATCHED AND ({changes}) THEN UPDATE SET {', '.join(f't.`{c}` = s.`{c}`' for c in columns)}",
                    target, meta)
            crash_point("silver_between_fact_quarantine_merge_and_insert")
        # held before the MERGE, which deleted only mended facts: none of these
        quarantined = quarantined.join(held, "fact_key", "left_anti")
    if count and quarantined.limit(1).count():  # facts quarantined for the first time
        with locks.exclusive(lake_root, FACT_QUARANTINE_LOCK):
            lake.append(quarantined, target, meta)


KEY = "_touched_key"


def composite_key(columns: tuple[str, ...]):
    """One string column for a multi-column key: Sail 0.7.2 returns no rows for multi-column semi joins."""
    return F.concat_ws("\u0001", *[F.col(c).cast("string") for c in columns]).alias(KEY)


def _present(columns: tuple[str, ...]):
    return functools.reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in columns])


# the temporary views made for MERGE statements, per session (sources built at once each have their own: concurrently)
_VIEWS: dict[int, list[str]] = {}


def _view(df: DataFrame) -> str:
    name = f"v_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(name)
    _VIEWS.setdefault(id(df.sparkSession), []).append(name)
    return name


def _drop_views(spark: SparkSession) -> None:
    """Drop the MERGE statements' temporary views: a long-lived session (the benchmark, a scheduler's worker) would
    otherwise keep every day's views, and the plans they hold, in its catalog."""
    for name in _VIEWS.pop(id(spark), []):
        spark.catalog.dropTempView(name)


def _write_new(df: DataFrame, path: Path, metadata: dict[str, str], partition: str | None) -> None:
    lake.append(df, path, metadata, (partition,) if partition else ())


def versions_held(spark: SparkSession, target: Path, events: DataFrame, facts: list[Fact]) -> list[dict]:
    """The versions silver holds of ``events``' event ids whose content differs from the arriving one, with their date,
    content and each fact's key: what a correction replaces (or a stale copy loses to). Read before the MERGE changes
    them."""
    if not lake.exists(target):
        return []
    # First which of the arriving ids silver holds, and on which dates, from two narrow columns: most days hold none,
    # and joining every stored row with the arriving events took twice as long, growing with the table (a day's
    # callcentre events against the 1M month's: 0.09 s against 0.045). Then those rows only, from their dates' partitions.
    stored = lake.read(spark, target)
    dates = {r.event_date for r in stored.select("event_id", "event_date").join(events.select("event_id"), "event_id", "left_semi")
             .select("event_date").distinct().collect()}
    if not dates:
        return []
    known = F.col("event_date").isin(*sorted(dates - {None}))
    on_dates = known | F.col("event_date").isNull() if None in dates else known
    arriving = events.select("event_id", F.col(CONTENT).alias("_arriving"))
    held = stored.where(on_dates).join(arriving, "event_id")
    if CONTENT in held.columns:  # an exact re-send changes nothing, and touches no fact
        held = held.where(~F.col(CONTENT).eqNullSafe(F.col("_arriving")))
    columns = [F.col("event_id"), F.col("event_date"), F.col(CONTENT) if CONTENT in held.columns else F.lit(None).cast("string").alias(CONTENT)]
    columns += [F.when(_present(f.key_columns), composite_key(f.key_columns)).alias(f"_key_{f.name}") for f in facts]
    return [r.asDict() for r in held.select(*columns).collect()]


def intents_table(lake_root: Path) -> Path:
    """What a run's events MERGE is about to replace, per batch: ``versions_held`` written down before the MERGE."""
    return lake.table_path(lake_root, lake.SYSTEM, "silver_intents")


INTENT_SCHEMA = T.StructType([T.StructField("source", T.StringType(), False), T.StructField("batch_id", T.StringType(), False),
                              T.StructField("run_id", T.StringType(), False), T.StructField("held", T.StringType(), False)])


def remember_versions(spark: SparkSession, lake_root: Path, source: str, batch_ids: list[str], run_id: str, held: list[dict],
                      meta: dict[str, str]) -> None:
    """Write down, before the MERGE replaces them, the stored versions these batches replace (corrections: rare; nothing
    is written without one). A run killed after the MERGE leaves the table holding the new versions, so its retry
    could no longer tell which facts the old ones belonged to; it finds them here (``recalled_versions``)."""
    if held:
        text = json.dumps(held, default=str, sort_keys=True)
        rows = spark.createDataFrame([(source, batch, run_id, text) for batch in batch_ids], INTENT_SCHEMA)
        lake.append(rows, intents_table(lake_root), {**meta, "step": "intents"})


def recalled_versions(spark: SparkSession, lake_root: Path, source: str, batch_ids: list[str]) -> list[dict]:
    """What an earlier, killed run of any of these batches wrote down (``remember_versions``): for an event it names,
    its version wins over one ``versions_held`` finds now, being the older (what silver held before any run of these
    batches)."""
    path = intents_table(lake_root)
    if not lake.exists(path):
        return []
    recalled: dict[str, dict] = {}
    for row in lake.read(spark, path).where((F.col("source") == source) & F.col("batch_id").isin(*batch_ids)).select("held").collect():
        for version in json.loads(row.held):
            recalled.setdefault(version["event_id"], {**version, "event_date": dt.date.fromisoformat(version["event_date"])})
    return list(recalled.values())


def _count_conflicts(report: SilverReport, valid: DataFrame, stored: DataFrame, held_before: list[dict]) -> None:
    """Split the run's duplicates: copies whose content differs from the version silver now holds, and the events
    whose stored version changed content (corrections)."""
    kept = stored.join(valid.select("event_id").distinct(), "event_id", "left_semi").select("event_id", F.col(CONTENT).alias("_kept"))
    if not held_before and not report.duplicates_suppressed:
        return
    report.conflicting_duplicates = (valid.join(kept, "event_id").where(F.col(CONTENT) != F.col("_kept")).count())
    before = {r["event_id"]: r[CONTENT] for r in held_before}
    if before:
        now = {r["event_id"]: r["_kept"] for r in kept.where(F.col("event_id").isin(*before)).collect()}
        report.corrections = sum(1 for event_id, content in now.items() if before[event_id] != content)


def merge_events(spark: SparkSession, rows: DataFrame, path: Path, metadata: dict[str, str], prune_to: list[dt.date]) -> None:
    """New events inserted; a version that outranks the stored one (``conform.version_key``) and differs from it --
    or ends a run of it broken by another content in this batch -- replaces it, old event date and all (``prune_to``
    must hold the stored versions' dates). So the stored version is always what a replay of every copy would keep.

    Only the events with a stored copy in those dates go through a MERGE, and only if one of them changes what is
    stored; the others -- nearly all of a day's -- are then appended. A MERGE rewrites every file of the dates it
    matches in, so inserting a day's events by MERGE cost 1.0-1.5 s a source where the append costs 0.03 s
    (measured, bench/README.md). The two commits give what the one MERGE gave: they touch disjoint events (a
    replacement keeps its event inside ``prune_to``), and a run killed between them is finished by the next (the
    replaced events then change nothing). The MERGE comes first because both read the table as it is at the time:
    the embedded engine cannot read a pinned version once a later commit has checkpointed past it."""
    stored = rows.drop(LAST_OTHER)
    if not lake.exists(path):
        _write_new(stored, path, metadata, "event_date")
        return
    lake.add_new_columns(spark, stored, path, metadata)
    in_dates = lake.read(spark, path).where(F.col("event_date").isin(*prune_to)).select("event_id")
    columns = stored.columns
    dates = ", ".join(f"DATE'{d.isoformat()}'" for d in prune_to)
    held = f"coalesce(t.`{VERSION}`, '')"
    replaces = (f"s.`{VERSION}` > {held} AND (NOT (t.`{CONTENT}` <=> s.`{CONTENT}`) "
                f"OR (s.`{LAST_OTHER}` IS NOT NULL AND s.`{LAST_OTHER}` > {held}))")
    source, matches = _view(rows), f"t.`event_id` = s.`event_id` AND t.`event_date` IN ({dates})"
    # Asked first on both engines: cheaper than a MERGE that changes nothing (which delta-spark would also commit as an
    # empty version: interaction_lake.capabilities.merge_commits_without_changes).
    if spark.sql(f"SELECT 1 FROM {source} s JOIN delta.`{path}` t ON {matches} WHERE {replaces} LIMIT 1").take(1):
        lake.sql_write(
            spark,
            f"MERGE INTO delta.`{path}` t USING {_view(rows.join(in_dates, 'event_id', 'left_semi'))} s ON {matches} "
            f"WHEN MATCHED AND {replaces} THEN UPDATE SET {', '.join(f't.`{c}` = s.`{c}`' for c in columns)}",
            path, metadata)
        crash_point("silver_between_merge_and_insert")
    new = stored.join(in_dates, "event_id", "left_anti")  # the table as it is now: the MERGE moved no event out of the dates
    if new.limit(1).count():
        lake.append(new, path, {**metadata, "step": "insert"}, ("event_date",))


class StoredShapeError(ConfigError):
    """A silver table was built by an earlier version of the pipeline whose key or column types differ: only a replay
    of bronze (``build-silver --full``) can bring it to the current shape without mixing the two."""


def check_stored_shape(path: Path, rows: DataFrame, keys: tuple[str, ...]) -> None:
    """Refuse, in one line, to MERGE into a table whose stored key columns or column types differ from this build's:
    a key column added later would match no stored row (every fact stored twice), a changed type would not MERGE."""
    from deltalake import DeltaTable

    stored = {f.name: f for f in DeltaTable(str(path)).schema().fields}
    missing = [k for k in keys if k not in stored]
    new_types = {f.name: f.dataType.jsonValue() for f in rows.schema.fields}
    # primitive types only: nested ones differ in nullability flags between writers without being different
    changed = sorted(n for n, f in stored.items() if isinstance(new_types.get(n), str)
                     and isinstance(_delta_type(f), str) and _delta_type(f) != new_types[n])
    if missing or changed:
        what = (f"its key now includes {', '.join(missing)}" if missing else "") + ("; " if missing and changed else "") + (
            f"the type of {', '.join(changed)} changed" if changed else "")
        raise StoredShapeError(f"{path} was built by an earlier version of the pipeline ({what}): "
                               "rebuild silver with 'build-silver --full', then 'build-marts --full'")


def _delta_type(field) -> object:
    """A delta-rs field's type in Spark's JSON form (the primitive names are the same: long, double, decimal(20,4))."""
    return json.loads(field.to_json())["type"]


def partition_range(fact: Fact, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
    """The fact partitions that can hold a row of a key with events between ``first`` and ``last``.

    A fact row is filed under the date of one of its key's events, and a key's events lie within the fact's
    span of each other -- the assumption that already bounds which events a run re-reads -- so the rows of
    the keys that events between two dates touch lie within the span around those dates. A monthly snapshot is
    filed under its snapshot's month, and an extract taken after a month end dates its events in the next month
    (found by the benchmark: a re-sent Sept 30 snapshot dated 1 October was stored twice), so a monthly range starts
    a month earlier."""
    if fact.partition is None:
        return None
    if fact.partition == "month":
        start = first.replace(day=1) - dt.timedelta(days=1)
        return start.replace(day=1), last.replace(day=1)
    return first, last


def _holding_partitions(fact: Fact, matched: DataFrame) -> str:
    """For a fact of a long span, a MERGE condition naming the partitions that hold ``matched`` (stored rows of the
    source's keys): a MERGE can match a stored row in no other, and the engine then reads those partitions instead of
    the whole span's (a year's for complaints, every day for a lake younger than that). Empty ("") for a fact of a
    day's span, whose range is narrow already, and when no row is stored (no MERGE then)."""
    if fact.partition is None or fact.span_days <= 1:
        return ""
    held = sorted({r[0] for r in matched.select(fact.partition).distinct().collect()})
    if not held or not all(type(day) is dt.date for day in held):
        return ""
    days = ", ".join(f"DATE'{day.isoformat()}'" for day in held)
    return f" AND t.`{fact.partition}` IN ({days})"


def upsert(spark: SparkSession, rows: DataFrame, path: Path, fact: Fact, touched: DataFrame, metadata: dict[str, str],
           partitions: tuple[dt.date, dt.date] | None = None, retire: DataFrame | None = None, split: bool = True,
           keep: Callable[[DataFrame], DataFrame] = lambda frame: frame) -> None:
    """Replace the rows of the touched keys with their recomputation; delete the rows of ``retire`` (same columns:
    recomputed facts that may no longer be stored).

    ``partitions`` (see ``partition_range``) limits the MERGE's target to those partitions with literals the
    engine prunes on, so a day's upsert does not read and match against all of history.

    Only the rows whose key is stored (in those partitions) go through the MERGE; the others -- most of a day's
    visits and calls are new -- are appended after it, as ``merge_events`` does with events: a MERGE costs ~0.5 s a
    fact where the append costs a tenth of it. The result is the one MERGE's (``split=False``, the reference: the
    differential test in tests/integration/jobs/silver/test_build.py); a run killed between the two commits is
    finished by its retry, whose recomputed rows then find the MERGEd ones equal and append the rest. ``keep``
    (``lake.keeping``) computes the stored keys among the source's once for the queries that use them."""
    if not lake.exists(path):
        _write_new(rows, path, metadata, fact.partition)
        return
    check_stored_shape(path, rows, fact.keys)
    lake.add_new_columns(spark, rows, path, metadata)
    columns = rows.columns
    source = rows.withColumn("_retire", F.lit(False))
    if retire is not None:
        source = source.unionByName(retire.where(_present(fact.keys)).select(*columns).withColumn("_retire", F.lit(True)))
    if fact.versioned:
        current = lake.read(spark, path).withColumn(KEY, composite_key(fact.key_columns)).join(touched, KEY, "left_semi").drop(KEY)
        retired = (current.withColumn(KEY, composite_key(fact.keys))
                   .join(rows.select(composite_key(fact.keys)).distinct(), KEY, "left_anti").drop(KEY))
        source = source.unionByName(retired.select(*columns).withColumn("_retire", F.lit(True)))
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in fact.keys)  # keys are never null (filtered above)
    if partitions:
        on += f" AND t.`{fact.partition}` BETWEEN DATE'{partitions[0].isoformat()}' AND DATE'{partitions[1].isoformat()}'"
    assign = ", ".join(f"t.`{c}` = s.`{c}`" for c in columns)
    names = ", ".join(f"`{c}`" for c in columns)
    values = ", ".join(f"s.`{c}`" for c in columns)
    # A recomputed row equal to the stored one is not written: its file is not rewritten, so its partition does
    # not count as changed for the silver gate and gold, and a long-span fact (complaints: a year) re-derived
    # every day rewrites only what really changed.
    differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in columns)
    new = None
    if split:
        stored = lake.read(spark, path)
        if partitions:
            stored = stored.where(F.col(fact.partition).between(F.lit(partitions[0]), F.lit(partitions[1])))
        keyed = source.withColumn(KEY, composite_key(fact.keys))
        # the stored rows' keys (and partitions) among the source's, found once: the split, the partitions named and
        # the append each read them, and the long-span facts' range is the whole table (a year of complaints)
        matched = keep(stored.select(*([fact.partition] if fact.partition else []), composite_key(fact.keys))
                       .join(keyed.select(KEY), KEY, "left_semi"))
        on += _holding_partitions(fact, matched)
        stored_keys = matched.select(KEY).distinct()
        new = keyed.where(~F.col("_retire")).join(stored_keys, KEY, "left_anti").drop(KEY, "_retire")
        source = keyed.join(stored_keys, KEY, "left_semi").drop(KEY)
    if not split or source.limit(1).count():
        lake.sql_write(
            spark,
            f"MERGE INTO delta.`{path}` t USING {_view(source)} s ON {on} "
            f"WHEN MATCHED AND s._retire THEN DELETE "
            f"WHEN MATCHED AND ({differs}) THEN UPDATE SET {assign} "
            f"WHEN NOT MATCHED AND NOT s._retire THEN INSERT ({names}) VALUES ({values})",
            path, metadata,
        )
        crash_point("silver_between_fact_merge_and_insert")
    # the keys stored before the MERGE, which changed no key's presence among these rows (it deletes only retired
    # keys, inserts none)
    if new is not None and new.limit(1).count():
        lake.append(new, path, {**metadata, "step": "insert"}, (fact.partition,) if fact.partition else ())

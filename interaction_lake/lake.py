"""Where the lake's tables live and how jobs read and append to them (Delta, with commit metadata).

Layout under ``Settings.lake_root``::

    bronze/<source>_events      raw events as landed, one table per source
    quarantine/landing          records refused at landing, with the reason
    _system/landing_ledger      which landing file went into which batch (exactly-once)
    _system/commit_log          who made each SQL (MERGE) commit: table, version, job, run id, task
    _system/lineage/            OpenLineage events when no other transport is configured (interaction_lake.lineage)
    _system/staging/            large row sets on their way into a table (``StagedRows``), deleted after the write,
                                and frames a job reads several times (``materialised``), deleted after the job

Every write records who made it in the Delta commit's ``userMetadata`` (job, run id, batch id and,
under Airflow, ``task`` = ``<dag_id>.<task_id>``), so an auditor can tie a table version to the run
that wrote it. SQL ``MERGE`` commits set the same metadata through Delta's
``spark.databricks.delta.commitInfo.userMetadata`` (honoured by delta-spark; the embedded engine, Sail
0.x, ignores it), and are also recorded in ``_system/commit_log``, so the trail is complete on both engines.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from interaction_lake import storage
from interaction_lake.storage import location

log = logging.getLogger(__name__)
BRONZE = "bronze"
QUARANTINE = "quarantine"
SYSTEM = "_system"
STATE = "_state"  # a layer's internal tables (gold/_state/customer_recency), not published
LAYERS = (BRONZE, "silver", "gold", QUARANTINE, SYSTEM)


def table_path(lake_root: Path, layer: str, name: str) -> Path:
    return location(lake_root) / layer / name


def bronze_table(lake_root: Path, source: str) -> Path:
    return table_path(lake_root, BRONZE, f"{source}_events")


def landing_quarantine_table(lake_root: Path) -> Path:
    return table_path(lake_root, QUARANTINE, "landing")


def silver_quarantine_table(lake_root: Path) -> Path:
    """Events whose payload the engine did not read whole (silver's ``payload_parity`` check)."""
    return table_path(lake_root, QUARANTINE, "silver")


def landing_ledger_table(lake_root: Path) -> Path:
    return table_path(lake_root, SYSTEM, "landing_ledger")


def exists(path: Path) -> bool:
    return any(name.endswith(".json") for name in _log_names(path))


def _log_names(path: Path) -> list[str]:
    """The file names in the table's ``_delta_log`` (none if there is no table): one listing, on disk or object store."""
    return storage.names(location(path) / "_delta_log")


def column_names(path: Path) -> list[str]:
    """The table's columns, from its Delta log (no engine needed); none when there is no table."""
    return [field["name"] for field in schema_fields(path)] if exists(path) else []


# table -> (version, its fields): a version's schema never changes. Least recently used first, and bounded: gold's
# staged marts are new paths every day, so a long-lived process would otherwise keep every one it ever read.
_SCHEMAS: collections.OrderedDict[str, tuple[int, list[dict]]] = collections.OrderedDict()
_SCHEMAS_KEPT = 256


def schema_fields(path: Path, at_version: int | None = None) -> list[dict]:
    """The table's columns as Delta's JSON schema fields (name, type, nullable, metadata) at its latest version --
    ``at_version`` if the caller knows it already.

    Opening a table replays its log (~5-10 ms, more as the log grows), and a day's jobs ask for the same tables'
    columns dozens of times (OpenLineage facets, column lineage); the latest version is one listing, so each
    version's schema is read once per process."""
    from deltalake import DeltaTable

    at_version = version(path) if at_version is None else at_version
    key = str(path)
    seen, fields = _SCHEMAS.get(key, (None, None))
    if seen != at_version:
        table = DeltaTable(key)
        fields = json.loads(table.schema().to_json())["fields"]
        _SCHEMAS[key] = table.version(), fields
        while len(_SCHEMAS) > _SCHEMAS_KEPT:
            _SCHEMAS.popitem(last=False)
    _SCHEMAS.move_to_end(key)
    return fields


def arrow(table, columns: list[str] | None = None):
    """A delta-rs ``DeltaTable``'s rows as an Arrow table (``columns`` only, if given), read without an engine.

    On an object store the scan runs on the calling thread: Arrow's I/O threads, calling into delta-rs' store handler,
    can still be alive when the interpreter exits, which then aborts the process ("terminate called without an active
    exception"; seen on 1 exit in 15 on S3, never with a single-threaded scan) -- an exit code a scheduler reads as failure.
    """
    if storage.is_local(location(table.table_uri)):
        return table.to_pyarrow_table(columns=columns)
    return table.to_pyarrow_dataset().to_table(columns=columns, use_threads=False)


def read(spark: SparkSession, path: Path) -> DataFrame | None:
    """The table as a DataFrame, or None if nothing was ever written there."""
    return spark.read.format("delta").load(str(path)) if exists(path) else None


# Rows up to this many travel inside the query plan. Spark Connect refuses a plan message over 128 MiB
# (a day's first landing of a large bank is well over that), so larger sets go through staged files.
INLINE_ROWS = 20_000
# Rows per staged Parquet part: what a writer holds in memory at most, however large the batch.
PART_ROWS = 100_000


@dataclasses.dataclass(frozen=True)
class Same:
    """One value for every row of a column (``StagedRows.add_columns``)."""
    value: object


def _arrow_column(values, kind, count: int):
    import pyarrow as pa

    if isinstance(values, Same):
        return pa.repeat(pa.scalar(values.value, kind), count)
    if kind == pa.string() and values and isinstance(values[0], bytes):
        return pa.array(values, type=pa.binary()).cast(kind)  # the cast refuses bytes that are not UTF-8
    if pa.types.is_timestamp(kind) and values and isinstance(values[0], str):
        return pa.array(values, type=pa.string()).cast(kind)  # ISO 8601 text, parsed by Arrow
    return pa.array(values, type=kind)


class StagedRows:
    """Rows added one at a time, read back as one DataFrame for one write.

    Up to ``INLINE_ROWS`` they travel inline; beyond that they are written as Parquet parts of
    ``PART_ROWS`` rows under ``_system/staging/<id>/`` as they come, so memory stays bounded by one part
    whatever the batch size, and the write that reads them is still one Delta commit (atomic), which
    chunked appends would not be. Use as a context manager: the parts are deleted on exit.
    """

    def __init__(self, spark: SparkSession, schema: T.StructType, lake_root: Path):
        self.spark, self.schema = spark, schema
        self.folder = table_path(lake_root, SYSTEM, "staging") / uuid.uuid4().hex
        self.count = 0
        self._rows: list[tuple] = []
        self._parts = 0

    def add(self, row: tuple) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= PART_ROWS:
            self._flush()

    def extend(self, rows) -> None:
        for row in rows:
            self.add(row)

    @property
    def arrow_schema(self):
        from pyspark.sql.pandas.types import to_arrow_schema

        return to_arrow_schema(self.schema)

    def add_columns(self, columns: list, count: int) -> None:
        """``count`` rows given column by column, written as a part of their own: landing's compiled path, which holds
        its records as columns already. A column is a list of values, or a ``Same`` value for every row; a text column
        may hold UTF-8 bytes (validated as they are converted: five times cheaper than Python strings), a timestamp
        column ISO 8601 text."""
        if count:
            self._write(columns, count)
            self.count += count

    def frame(self) -> DataFrame:
        if not self._parts and len(self._rows) <= INLINE_ROWS:
            return self.spark.createDataFrame(list(self._rows), self.schema)
        self._flush()
        return self.spark.read.schema(self.schema).parquet(str(self.folder))

    def _flush(self) -> None:
        if self._rows:
            self._write(list(zip(*self._rows)), len(self._rows))
            self._rows = []

    def _write(self, columns: list, count: int) -> None:
        """One staged part of ``count`` rows given column by column."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self.arrow_schema
        table = pa.Table.from_arrays([_arrow_column(col, f.type, count) for col, f in zip(columns, schema)], schema=schema)
        if storage.is_local(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        # read once and deleted: compressing it is wasted work, and so is a dictionary of a column of distinct values
        # (Parquet's default builds one for every column, then gives it up): only a column of one value gets one
        repeated = [f.name for col, f in zip(columns, schema) if isinstance(col, Same)]
        with (self.folder / f"part-{self._parts:05d}.parquet").open("wb") as handle:
            pq.write_table(table, handle, compression="none", use_dictionary=repeated)
        self._parts += 1

    def __enter__(self) -> "StagedRows":
        return self

    def __exit__(self, *exc) -> None:
        storage.remove_tree(self.folder)


@contextlib.contextmanager
def materialised(spark: SparkSession, df: DataFrame, lake_root: Path) -> Iterator[DataFrame]:
    """``df`` computed once: written as Parquet under ``_system/staging/<id>/`` and read back, so the queries that use
    it read its rows instead of each evaluating its whole plan again; the folder is deleted on exit.

    A DataFrame is a plan, not rows: silver uses a batch's conformed events, and each fact's recomputation, in six
    to eight queries, and each evaluated them from bronze (or silver) again -- ``persist()`` is a no-op on the
    embedded engine (measured: bench/README.md). Parquet under the lake root works on every engine and deployment
    (a Spark cluster's executors see the lake, not the client's disk), keeps memory bounded whatever the batch's
    size, and is left only by a killed run, as landing's staged parts are (erasure deletes those)."""
    folder = table_path(lake_root, SYSTEM, "staging") / uuid.uuid4().hex
    try:
        df.write.mode("overwrite").parquet(str(folder))
        # read with the schema as computed (an engine may write no file for no rows); Parquet keeps every type
        written = [name for name in storage.names(folder) if name.endswith(".parquet")]
        yield spark.read.schema(df.schema).parquet(str(folder)) if written else spark.createDataFrame([], df.schema)
    finally:
        storage.remove_tree(folder)


@contextlib.contextmanager
def keeping(spark: SparkSession, lake_root: Path) -> Iterator[Callable[[DataFrame], DataFrame]]:
    """A ``keep`` function for a job's block: ``keep(df)`` is ``df`` computed once (``materialised``), its rows kept
    until the block ends."""
    with contextlib.ExitStack() as kept:
        yield lambda df: kept.enter_context(materialised(spark, df, lake_root))


STATS_COLUMNS = "delta.dataSkippingStatsColumns"
# delta-spark refuses a statistics column of a type Delta keeps no min/max for (found by running the jobs on Apache
# Spark: "Data skipping is not supported for column ... of type BooleanType"); the embedded engine ignores it.
_NO_MIN_MAX = (T.BooleanType, T.BinaryType, T.ArrayType, T.MapType, T.StructType)
# The embedded engine reads a file's column from its statistics when their minimum equals their maximum (a one-row
# file, a constant column), and parses a double of 17 significant digits from the log's JSON up to one unit in the
# last place off: a mart's -28.712742334794818 read back as -28.712742334794815 (capabilities.exact_doubles_from_statistics).
_INEXACT_FROM_STATISTICS = (T.DoubleType, T.FloatType)
_NO_STATISTICS_TYPES = _NO_MIN_MAX + _INEXACT_FROM_STATISTICS


def statistics_columns(schema: T.StructType, partition_by: tuple[str, ...] = ()) -> str:
    """The ``delta.dataSkippingStatsColumns`` of a table of ``schema``'s columns (see ``creation_options``)."""
    from interaction_lake.privacy import PATH_COLUMNS, identifying_columns

    denied = identifying_columns() | PATH_COLUMNS | set(partition_by)
    return ",".join(f.name for f in schema.fields if f.name not in denied and not isinstance(f.dataType, _NO_STATISTICS_TYPES))


def creation_options(df: DataFrame, path: Path, partition_by: tuple[str, ...] = ()) -> dict[str, str]:
    """Table properties for a write that may create the table (``delta.``-prefixed writer options become table
    properties on creation, on Apache Spark + delta-spark and on the embedded engine alike).

    Delta copies per-file min/max statistics of the first 32 columns into its log by default, and log files
    outlive data files (``delta.logRetentionDuration``): a customer's reference, pseudonym or name would stay
    in ``_delta_log`` after their rows were erased and vacuumed. So statistics are kept only for the columns
    that identify no one (``privacy.identifying_columns``) and are not floating-point numbers, which the embedded
    engine may read back from them one unit in the last place off; no job prunes on either.
    """
    return {} if exists(path) else _new_table_options(df, partition_by)


def _new_table_options(df: DataFrame, partition_by: tuple[str, ...]) -> dict[str, str]:
    return {STATS_COLUMNS: statistics_columns(df.schema, partition_by)}


def limit_statistics(path: Path, metadata: dict[str, str], table=None) -> bool:
    """Make an existing table's later files keep the statistics ``creation_options`` allows, no more: a table made by
    an older release may list a floating-point column, or (a mart defined before marts were limited) no list at all,
    so that Delta kept its first 32 columns'. One delta-rs commit when the list changes; whether it did. Files already
    written keep their statistics until rewritten (a compaction, a full rebuild). ``table``: the table, already open."""
    from deltalake import CommitProperties, DeltaTable

    table = table or DeltaTable(str(path))
    schema, details = T.StructType.fromJson(json.loads(table.schema().to_json())), table.metadata()
    allowed = statistics_columns(schema, tuple(details.partition_columns))
    listed = details.configuration.get(STATS_COLUMNS)
    if listed is None:
        kept = allowed
    else:  # the listed columns it allows (and any name the schema lacks: not its to judge)
        kept = ",".join(n for n in listed.split(",") if n and (n in allowed.split(",") or n not in schema.names))
    if kept == listed:
        return False
    table.alter.set_table_properties({STATS_COLUMNS: kept}, commit_properties=CommitProperties(
        custom_metadata={"userMetadata": json.dumps({**metadata, "step": "statistics"}, sort_keys=True)}))
    return True


def append(df: DataFrame, path: Path, metadata: dict[str, str], partition_by: tuple[str, ...] = (),
           transaction: tuple[str, int] | None = None) -> None:
    """Append ``df`` in one commit. ``transaction`` (app id, version): Delta's idempotent write, where the engine honours
    it (``capabilities.idempotent_writes``): the commit is skipped if the table already holds that app id's version."""
    from interaction_lake import capabilities

    writer = df.write.format("delta").mode("append").option("userMetadata", json.dumps(metadata, sort_keys=True))
    if transaction is not None and capabilities.idempotent_writes(df.sparkSession):
        writer = writer.option("txnAppId", transaction[0]).option("txnVersion", str(transaction[1]))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    with creating(path) as new, committing(df.sparkSession, path):
        writer.options(**(_new_table_options(df, partition_by) if new else {})).save(str(path))
    if compacted_on_append(path):
        made = version(path)
        compact_if_due(df.sparkSession, path, made - 1, metadata, now=made)


def compacted_on_append(path: Path) -> bool:
    """Whether ``append`` compacts the table as it takes commits (``compact_if_due``): the tables only ever appended to,
    by many runs under different locks -- ``_system``'s, and the landing and silver quarantines -- which no job's own
    compaction covers and which would otherwise gain a file or more every run. A compaction beside another run's append
    is no conflict (it removes only files it rewrote); erasure, their only other writer, holds every lock.
    ``quarantine/silver_facts`` is not among them: silver builds of several sources MERGE into it, and a compaction
    racing a MERGE would fail it (a silver run compacts it holding every source's lock: ``compact_fact_quarantine``)."""
    where = location(path)
    root = where.parent.parent
    return where.parent.name == SYSTEM or where in (landing_quarantine_table(root), silver_quarantine_table(root))


def appended_tables(lake_root: Path) -> list[Path]:
    """The lake's tables that ``append`` compacts (``compacted_on_append``), those that exist, in path order."""
    root = location(lake_root)
    system = [root / SYSTEM / name for name in storage.names(root / SYSTEM)]
    candidates = [*system, landing_quarantine_table(root), silver_quarantine_table(root)]
    return sorted((p for p in candidates if compacted_on_append(p) and exists(p)), key=str)


@contextlib.contextmanager
def writers_held(lake_root: Path, sources: tuple[str, ...] | list[str]) -> Iterator[list[Path]]:
    """While inside, no job writes and no run compacts a table every run appends to (erasure, repairs): every job's
    lock (``locks.every_job``), then the compaction locks (``compactions_held``) of the tables ``appended_tables``
    lists once those are held -- which it yields. A gate, which takes no job lock, may still append its results."""
    from interaction_lake import locks

    with locks.every_job(lake_root, sources):
        tables = appended_tables(lake_root)
        with compactions_held(tables):
            yield tables


def compactions_held(paths: list[Path]) -> contextlib.AbstractContextManager[None]:
    """Hold the ``compact`` locks of these tables (``compact``) while inside, waiting for a compaction under way: for a
    writer that deletes rows from tables compacted on append (erasure), whose DELETE a compaction committed meanwhile
    would fail (Delta refuses a delete of rows another commit rewrote; found by hand on delta-rs). Taken in one order,
    after the caller's job locks, as every compaction takes its one lock: none deadlocks another."""
    from interaction_lake import locks

    wheres = sorted({location(p) for p in paths}, key=str)
    if not wheres:
        return contextlib.nullcontext()
    return locks.all_of(lake_root_of(wheres[0]), [_table_lock_name(where, "compact") for where in wheres])


def overwrite(df: DataFrame, path: Path, metadata: dict[str, str], partition_by: tuple[str, ...] = ()) -> None:
    """Replace the table's contents (and schema) in one commit: a table rebuilt whole from its inputs."""
    _overwrite(df, path, metadata, partition_by, creation_options(df, path, partition_by))


def _overwrite(df: DataFrame, path: Path, metadata: dict[str, str], partition_by: tuple[str, ...], options: dict[str, str]) -> None:
    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").option(
        "userMetadata", json.dumps(metadata, sort_keys=True)).options(**options)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    with committing(df.sparkSession, path):
        writer.save(str(path))


NO_STATISTICS = {"delta.dataSkippingNumIndexedCols": "0"}


def stage(df: DataFrame, path: Path, metadata: dict[str, str], partition_by: tuple[str, ...] = (), like: Path | None = None) -> None:
    """Write ``df`` as a new table a run judges and then publishes into the table ``like`` (gold's staged marts), as
    ``overwrite`` does. Its files keep the statistics ``like`` keeps, so that publishing can commit them as they are
    (``adoption.adopt``); without ``like``, or while it does not exist, none at all (a row count only), and no plan is
    analysed to list the columns that may keep them (``creation_options``: ~70 ms a table on the embedded engine).
    Either way its log holds no one's values while it lives (``creation_options`` says why)."""
    kept = _statistics_kept(like) if like is not None and exists(like) else None
    _overwrite(df, path, metadata, partition_by, {} if exists(path) else NO_STATISTICS if kept is None else {STATS_COLUMNS: kept})


def _statistics_kept(path: Path) -> str | None:
    from deltalake import DeltaTable

    return DeltaTable(str(location(path))).metadata().configuration.get(STATS_COLUMNS)


@dataclasses.dataclass(frozen=True)
class Definition:
    """What a published table says about itself in its Delta log: a description, column comments, the columns that are
    never null (Delta NOT NULL: a write with a null there fails on both engines)."""

    description: str
    comments: dict[str, str]
    not_null: frozenset[str] = frozenset()


def define(schema: T.StructType, path: Path, definition: Definition, partition_by: tuple[str, ...], metadata: dict[str, str]) -> None:
    """Make the table at ``path`` hold ``schema``'s columns, described by ``definition``, before data is written into it
    (without ``overwriteSchema``, so the engine keeps the definition; both engines do).

    A new table, or one whose columns or partitioning differ (a code upgrade), is (re)defined by delta-rs in one commit,
    empty until the data commit that follows: the engines cannot write comments themselves (Sail 0.7.2 stores a column's
    metadata under a key of its own, which Spark does not read as a comment) nor make a column NOT NULL. A table whose
    columns match gets only what the glossary changed: a commit for the description, one per changed comment.
    """
    from deltalake import CommitProperties, DeltaTable, Schema

    wanted = T.StructType([T.StructField(f.name, f.dataType, f.name not in definition.not_null,
                                         {"comment": definition.comments[f.name]} if f.name in definition.comments else {})
                           for f in schema])
    commit = CommitProperties(custom_metadata={"userMetadata": json.dumps({**metadata, "step": "define"}, sort_keys=True)})
    if holds_shape(schema, path, partition_by):
        table = DeltaTable(str(path))
        limit_statistics(path, metadata, table)
        if table.metadata().description != definition.description:
            table.alter.set_table_description(definition.description, commit_properties=commit)
        for column in json.loads(table.schema().to_json())["fields"]:
            comment = definition.comments.get(column["name"])
            if comment is not None and column.get("metadata", {}).get("comment") != comment:
                table.alter.set_column_metadata(column["name"], {"comment": comment}, commit_properties=commit)
        return
    DeltaTable.create(str(path), schema=Schema.from_json(wanted.json()), mode="overwrite", partition_by=list(partition_by) or None,
                      description=definition.description, commit_properties=commit,
                      configuration={STATS_COLUMNS: statistics_columns(wanted, partition_by)})


def holds_shape(schema: T.StructType, path: Path, partition_by: tuple[str, ...], ordered: bool = True) -> bool:
    """The table at ``path`` exists with ``schema``'s columns (names, types -- not nullability -- and, if ``ordered``,
    order) and partitioning: false for a new table and for one a code upgrade changed, which ``define`` re-creates.
    (A frame read back from a partitioned table has its partition columns last: compare such a frame unordered.)"""
    from deltalake import DeltaTable

    if not exists(path):
        return False
    table = DeltaTable(str(path))
    wanted, current = column_shapes(schema.jsonValue()["fields"]), column_shapes(json.loads(table.schema().to_json())["fields"])
    same = wanted == current if ordered else sorted(wanted) == sorted(current)
    return same and list(table.metadata().partition_columns) == list(partition_by)


def column_shapes(fields: list[dict]) -> list[tuple[str, str]]:
    """A Delta/Spark JSON schema's columns as (name, type without nullability or metadata), in their order."""
    return [(f["name"], json.dumps(_shape(f["type"]), sort_keys=True)) for f in fields]


def _shape(data_type):
    """A Delta/Spark JSON type without nullability (engines infer ``containsNull`` differently for the same column)."""
    if isinstance(data_type, dict):
        return {k: _shape(v) for k, v in data_type.items() if k not in ("containsNull", "valueContainsNull", "nullable", "metadata")}
    if isinstance(data_type, list):
        return [_shape(v) for v in data_type]
    return data_type


def replace(df: DataFrame, path: Path, metadata: dict[str, str], where: str | None = None) -> None:
    """Replace the rows of a defined table (``define``) -- all of them, or those matching ``where`` -- in one commit,
    keeping its definition."""
    writer = df.write.format("delta").mode("overwrite").option("userMetadata", json.dumps(metadata, sort_keys=True))
    if where:
        writer = writer.option("replaceWhere", where)
    with committing(df.sparkSession, path):
        writer.save(str(path))


# The _system tables (ledger, quality results, commit log, progress) take a few rows per job run, so each
# run adds a small file; every reader would open more files each day. Every COMPACT_EVERY commits they are
# compacted into one, so reading them costs the same on day 300 as on day 3 (bench/README.md). A data table is
# compacted by the job that writes it, inside that job's lock (silver: its own source's tables).
COMPACT_EVERY = 25


def compact_if_due(spark: SparkSession, path: Path, since: int | None, metadata: dict[str, str], now: int | None = None) -> bool:
    """Compact the table if its version (``now``, when the caller has just read it) passed a multiple of
    ``COMPACT_EVERY`` since version ``since`` (None: the table did not exist then); whether it did. For the job that
    writes the table, under its lock: a table that existed at ``since`` still does. Maintenance, not part of a job's
    result: a failure (a conflicting writer, an erasure, wins) is logged and the next due compaction tries again."""
    if since is None or (version(path) if now is None else now) // COMPACT_EVERY == since // COMPACT_EVERY:
        return False
    from interaction_lake.locks import LockTimeout

    try:
        compact(spark, path, {**metadata, "step": "compact"}, wait=False)
    except LockTimeout:  # two appenders found the same compaction due: the other run is doing it
        log.info("compaction of %s left to the run compacting it now", path)
        return False
    except Exception as error:
        log.warning("compaction of %s skipped: %s", path, error)
        return False
    return True


def compact(spark: SparkSession, path: Path, metadata: dict[str, str], wait: bool = True) -> None:
    """Rewrite the table's small files as one (Delta OPTIMIZE: ``dataChange=false``, same rows, same version
    history): the engine's ``OPTIMIZE`` where it has one, else delta-rs' (``capabilities.delta_sql_maintenance``).
    A concurrent append is not a conflict (the compaction only removes files it rewrote).

    A concurrent compaction would be, and delta-rs does not refuse it: since its PR #3982 (deltalake 1.6.6 here) a commit whose
    removes are ``dataChange=false`` passes its conflict check even when the winning commit removed the same files, so
    two compactions of one version both commit, and every row they rewrote is in the table twice (the landing ledger
    of a 60-day benchmark held each early row 64 times: bench/README.md). So a compaction holds the table's
    ``compact`` lock from reading the table to its commit; ``wait=False``: ``locks.LockTimeout`` at once if another
    run holds it."""
    from deltalake import CommitProperties, DeltaTable

    from interaction_lake import capabilities

    with _table_lock(location(path), "compact", timeout_seconds=None if wait else 0):
        if capabilities.delta_sql_maintenance(spark):  # its commit carries the metadata (delta-spark honours the setting)
            with _user_metadata(spark, metadata), committing(spark, path):
                spark.sql(f"OPTIMIZE delta.`{path}`").collect()
            return
        DeltaTable(str(path)).optimize.compact(
            commit_properties=CommitProperties(custom_metadata={"userMetadata": json.dumps(metadata, sort_keys=True)}))


def add_new_columns(spark: SparkSession, df: DataFrame, path: Path, metadata: dict[str, str]) -> list[str]:
    """Give the table any column of ``df`` it lacks (nullable; old rows read null), before a SQL MERGE.

    ``MERGE ... INSERT *`` keeps only the target's columns, so a field a new contract version adds would be
    dropped silently. Delta SQL ``ALTER TABLE ... ADD COLUMNS`` where the engine has it; the embedded engine
    (Sail 0.7) has no ALTER TABLE and ignores ``mergeSchema`` on appends to these tables, so there delta-rs
    commits the same schema change (``capabilities.delta_sql_maintenance``). The commit is recorded in
    ``_system/commit_log``. A table made by an older release first has its statistics limited (``limit_statistics``).
    """
    from deltalake import DeltaTable

    from interaction_lake import capabilities

    table = DeltaTable(str(path))
    limit_statistics(path, metadata, table)  # a table made by an older release
    existing = {f.name for f in table.schema().fields}
    new = [f for f in df.schema.fields if f.name not in existing]
    if not new:
        return []
    if capabilities.delta_sql_maintenance(spark):
        with committing(spark, path):
            spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ("
                      + ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in new) + ")").collect()
    else:
        from deltalake.schema import Field

        DeltaTable(str(path)).alter.add_columns([Field.from_json(json.dumps({**f.jsonValue(), "nullable": True})) for f in new])
    _record_commit(spark, path, {**metadata, "step": "schema", "added_columns": ",".join(f.name for f in new)})
    return [f.name for f in new]


_CURRENT: set[str] = set()  # tables already given every column of their writer's schema, in this process


def ensure_columns(spark: SparkSession, df: DataFrame, path: Path, metadata: dict[str, str]) -> None:
    """Before an append: a table created by an older release gets the columns added since (``add_new_columns``).
    Checked once per table and process, not on every write."""
    if str(path) not in _CURRENT and exists(path):
        add_new_columns(spark, df, path, metadata)
    _CURRENT.add(str(path))


def version(path: Path) -> int:
    """The table's latest version: the highest commit file in its Delta log (the protocol's own rule), so
    asking costs a directory listing, not loading the table's state, which grows with its files."""
    numbers = [int(name[:20]) for name in _log_names(path) if len(name) == 25 and name.endswith(".json") and name[:20].isdigit()]
    if numbers:
        return max(numbers)
    from deltalake import DeltaTable

    return DeltaTable(str(path)).version()


def table_id(path: Path) -> str:
    """The table's unique id (Delta metadata); a table dropped and re-created gets a new one. Read from the
    first commit, which creates the table and never changes (delta-rs loads the table if log clean-up removed it)."""
    first = location(path) / "_delta_log" / f"{0:020d}.json"
    if first.is_file():
        for line in first.read_text().splitlines():
            action = json.loads(line) if line.strip() else {}
            if "metaData" in action:
                return action["metaData"]["id"]
    from deltalake import DeltaTable

    return DeltaTable(str(path)).metadata().id


def version_readable(path: Path, version: int) -> bool:
    """Whether every data file of that version is still on disk (VACUUM, e.g. after an erasure, removes old ones)."""
    from deltalake import DeltaTable

    try:
        uris = DeltaTable(str(path), version=version).file_uris()
    except Exception:  # the version's log entries are gone too
        return False
    return all(location(uri).exists() for uri in uris)


def read_version(spark: SparkSession, path: Path, version: int) -> DataFrame:
    """The table as it was at ``version``. An engine that cannot time-travel behind the latest checkpoint
    (``capabilities.time_travel_behind_checkpoint``) reads such a version's data files itself."""
    from interaction_lake import capabilities

    if version >= _last_checkpoint(path) or capabilities.time_travel_behind_checkpoint(spark):
        return spark.read.format("delta").option("versionAsOf", version).load(str(path))
    return _read_version_files(spark, path, version)


def _last_checkpoint(path: Path) -> int:
    """The version of the table's latest checkpoint (``_delta_log/_last_checkpoint``), -1 if it has none."""
    hint = location(path) / "_delta_log" / "_last_checkpoint"
    try:
        return int(json.loads(hint.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return -1


def _read_version_files(spark: SparkSession, path: Path, version: int) -> DataFrame:
    """Version ``version`` of a Delta table from the data files its log lists (delta-rs replays the log).

    Partition values live in the log, not in the files (the embedded engine does not take them from the
    folder names either), so each partition's files are read on their own and given their values. Valid for
    tables without deletion vectors or column mapping, which is every table the embedded engine writes.
    """
    import functools
    from urllib.parse import unquote

    import pyarrow as pa
    from deltalake import DeltaTable
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    table = DeltaTable(str(path), version=version)
    schema = from_arrow_schema(pa.schema(table.schema().to_arrow()))
    partitions = table.metadata().partition_columns
    data_schema = T.StructType([f for f in schema.fields if f.name not in partitions])
    groups: dict[tuple, list[str]] = {}
    for action in pa.table(table.get_add_actions(flatten=True)).to_pylist():
        key = tuple(action.get(f"partition.{name}") for name in partitions)
        groups.setdefault(key, []).append(str(location(path) / unquote(action["path"])))
    frames = []
    for key, files in sorted(groups.items(), key=repr):
        frame = spark.read.schema(data_schema).parquet(*files)
        for name, value in zip(partitions, key):
            frame = frame.withColumn(name, F.lit(value).cast(schema[name].dataType))
        frames.append(frame.select(*schema.fieldNames()))
    if not frames:
        return spark.createDataFrame([], schema)
    return functools.reduce(DataFrame.unionByName, frames)


def changed_partitions(path: Path, after: int, up_to: int, column: str) -> set[str | None] | None:
    """Values of partition ``column`` whose files versions ``after`` (exclusive) to ``up_to`` added or removed.

    Read straight from the commit files of the Delta log (the protocol's ``add``/``remove`` actions
    carry ``partitionValues``; those with ``dataChange=false``, a compaction's, change no data). None when a commit file
    is gone (log clean-up): the caller must then assume everything changed.
    """
    actions = _data_changes(path, after, up_to)
    return None if actions is None else {(a.get("partitionValues") or {}).get(column) for a in actions}


def changed_files(path: Path, after: int, up_to: int) -> list[str] | None:
    """The data files (full paths, as an engine reads them) that versions ``after`` (exclusive) to ``up_to`` added or
    removed, compactions' apart: every row that changed is in one of them. None when a commit file is gone (log
    clean-up) or a removed file was deleted (vacuum): the caller must then assume everything changed."""
    from urllib.parse import unquote

    actions = _data_changes(path, after, up_to)
    if actions is None:
        return None
    files = {str(location(path) / unquote(a["path"])) for a in actions}
    return sorted(files) if all(location(where).exists() for where in files) else None


def _data_changes(path: Path, after: int, up_to: int) -> list[dict] | None:
    """The ``add`` and ``remove`` actions of versions ``after`` (exclusive) to ``up_to`` that change data (a compaction's
    carry ``dataChange=false``: it moves rows, changes none); None when a commit file is gone."""
    actions = []
    for number in range(after + 1, up_to + 1):
        commit = location(path) / "_delta_log" / f"{number:020d}.json"
        if not commit.is_file():
            return None
        for line in commit.read_text().splitlines():
            action = json.loads(line) if line.strip() else {}
            actions += [action[kind] for kind in ("add", "remove") if kind in action and action[kind].get("dataChange", True)]
    return actions


TASK_ENV = "INTERACTION_LAKE_TASK"
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
COMMIT_LOG_SCHEMA = ("table string, version long, job string, run_id string, task string, "
                     "user_metadata string, recorded_at timestamp")


def commit_metadata(job: str, run_id: str, **extra: str) -> dict[str, str]:
    """What a commit records: the job, the run id, extra context, and the orchestrator's task if any."""
    meta = {"job": job, "run_id": run_id, **{k: str(v) for k, v in extra.items()}}
    task = os.environ.get(TASK_ENV)
    if task:
        meta["task"] = task
    return meta


def commit_log_table(lake_root: Path) -> Path:
    return table_path(lake_root, SYSTEM, "commit_log")


STAGING = "_staging"


def lake_root_of(path: Path) -> Path:
    """Every table lives at ``<lake_root>/<layer>/<name>``, a layer's own state at ``<lake_root>/<layer>/_state/<name>``,
    a table staged before it is published at ``<lake_root>/_staging/<layer>/<run>/<name>``. (Before the second rule, commits to
    ``gold/_state/customer_recency`` were recorded in a ``gold/_system/commit_log``; before the third, the commit leases of
    gold's staged marts were taken under ``_staging/gold/_system/locks/``.)"""
    where = location(path)
    if len(where.parents) > 3 and where.parents[2].name == STAGING and where.parents[1].name in LAYERS:
        return where.parents[3]  # <root>/_staging/<layer>/<run>/<name>
    return where.parents[2] if where.parent.name == STATE else where.parents[1]


def sql_write(spark: SparkSession, statement: str, path: Path, metadata: dict[str, str]) -> None:
    """Run a SQL write (MERGE, DELETE) on the Delta table at ``path`` and record who made the commit."""
    before = version(path)
    with _user_metadata(spark, metadata), committing(spark, path):
        spark.sql(statement)
    made = version(path)
    if made != before:  # a statement that changed nothing may make no commit: none to attribute
        _record_commit(spark, path, metadata, made)


@contextlib.contextmanager
def creating(path: Path) -> Iterator[bool]:
    """Around an append that may create the table; yields whether it creates it (``creation_options`` then apply).
    While the table does not exist, the table's creation lock is held, so that of two writers appending to a new table
    at once (sources built at once appending to a shared table on its first day: ``interaction_lake.concurrently``)
    one creates it and the other, finding it made once it holds the lock, appends -- delta-spark fails the second of
    two creations (the embedded engine retries it as an append). An existing table: one look at its log, no lock."""
    if exists(path):
        yield False
        return
    with _table_lock(location(path), "create"):
        yield not exists(path)


def _table_lock(where: Path, kind: str, timeout_seconds: float | None = None) -> contextlib.AbstractContextManager[None]:
    """The table's lake lock ``_table_lock_name`` (``locks.exclusive``)."""
    from interaction_lake import locks

    return locks.exclusive(lake_root_of(where), _table_lock_name(where, kind), timeout_seconds)


def _table_lock_name(where: Path, kind: str) -> str:
    """``<kind>-<the table's path under its lake root>``, its slashes as dashes."""
    return f"{kind}-" + str(where.relative_to(lake_root_of(where))).replace("/", "-")


@contextlib.contextmanager
def committing(spark: SparkSession, path: Path) -> Iterator[None]:
    """Around one commit to the table at ``path``: where the engine cannot commit exclusively on the lake's object store
    (``capabilities.exclusive_commits_on_object_stores``), hold the table's commit lease, so two processes never write
    the same version; elsewhere nothing."""
    from interaction_lake import capabilities

    where = location(path)
    if storage.is_local(where) or capabilities.exclusive_commits_on_object_stores(spark):
        yield
        return
    with _table_lock(where, "commit"):
        yield


@contextlib.contextmanager
def _user_metadata(spark: SparkSession, metadata: dict[str, str]) -> Iterator[None]:
    """The session's SQL commits carry ``metadata`` as their userMetadata while inside (delta-spark honours it)."""
    spark.conf.set(USER_METADATA_CONF, json.dumps(metadata, sort_keys=True))
    try:
        yield
    finally:
        spark.conf.unset(USER_METADATA_CONF)


def _record_commit(spark: SparkSession, path: Path, metadata: dict[str, str], made: int | None = None) -> None:
    """Append who made version ``made`` of the table (default: its latest) to ``_system/commit_log``."""
    root = lake_root_of(path)
    row = (str(location(path).relative_to(root)), version(path) if made is None else made, metadata.get("job"), metadata.get("run_id"),
           metadata.get("task"), json.dumps(metadata, sort_keys=True), dt.datetime.now(dt.timezone.utc))
    append(spark.createDataFrame([row], COMMIT_LOG_SCHEMA), commit_log_table(root), metadata)


def commit_info(path: Path, version: int) -> dict[str, str]:
    """Who made version ``version`` of the table: its commit's userMetadata, else its ``_system/commit_log`` entry."""
    from deltalake import DeltaTable

    [commit] = [h for h in DeltaTable(str(path)).history() if h["version"] == version]
    if commit.get("userMetadata"):
        return json.loads(commit["userMetadata"])
    root = lake_root_of(path)
    if exists(commit_log_table(root)):
        table = str(location(path).relative_to(root))
        for entry in arrow(DeltaTable(str(commit_log_table(root)))).to_pylist():
            if entry["table"] == table and entry["version"] == version:
                return json.loads(entry["user_metadata"])
    return {}

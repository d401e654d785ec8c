"""Where the lake's tables live and how jobs read and append to them (Delta, with commit metadata).

Layout under ``Settings.lake_root``::

    bronze/<source>_events      raw events as landed, one table per source
    quarantine/landing          records refused at landing, with the reason
    _system/landing_ledger      which landing file went into which batch (exactly-once)
    _system/commit_log          who made each SQL (MERGE) commit: table, version, job, run id, task
    _system/lineage/            OpenLineage events when no other transport is configured (interaction_lake.lineage)
    _system/staging/            large row sets on their way into a table (``staged_rows``), deleted after the write

Every write records who made it in the Delta commit's ``userMetadata`` (job, run id, batch id and,
under Airflow, ``task`` = ``<dag_id>.<task_id>``), so an auditor can tie a table version to the run
that wrote it. SQL ``MERGE`` commits set the same metadata through Delta's
``spark.databricks.delta.commitInfo.userMetadata`` (honoured by delta-spark; the embedded engine, Sail
0.x, ignores it), and are also recorded in ``_system/commit_log``, so the trail is complete on both engines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

BRONZE = "bronze"
QUARANTINE = "quarantine"
SYSTEM = "_system"


def table_path(lake_root: Path, layer: str, name: str) -> Path:
    return Path(lake_root) / layer / name


def bronze_table(lake_root: Path, source: str) -> Path:
    return table_path(lake_root, BRONZE, f"{source}_events")


def landing_quarantine_table(lake_root: Path) -> Path:
    return table_path(lake_root, QUARANTINE, "landing")


def landing_ledger_table(lake_root: Path) -> Path:
    return table_path(lake_root, SYSTEM, "landing_ledger")


def exists(path: Path) -> bool:
    return (Path(path) / "_delta_log").is_dir() and any((Path(path) / "_delta_log").glob("*.json"))


def read(spark: SparkSession, path: Path) -> DataFrame | None:
    """The table as a DataFrame, or None if nothing was ever written there."""
    return spark.read.format("delta").load(str(path)) if exists(path) else None


# Rows up to this many travel inside the query plan. Spark Connect refuses a plan message over 128 MiB
# (a day's first landing of a large bank is well over that), so larger sets go through a staged file.
INLINE_ROWS = 20_000


@contextlib.contextmanager
def staged_rows(spark: SparkSession, rows: Sequence[tuple], schema: T.StructType, lake_root: Path) -> Iterator[DataFrame]:
    """A DataFrame of Python rows, however many: inline when small, else read from a Parquet file staged
    under ``_system/staging`` and deleted once the caller's write is done. Either way one write stays one
    Delta commit (atomic), which chunked appends would not be."""
    if len(rows) <= INLINE_ROWS:
        yield spark.createDataFrame(list(rows), schema)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(schema)
    columns = list(zip(*rows))
    table = pa.Table.from_arrays([pa.array(col, type=field.type) for col, field in zip(columns, arrow_schema)], schema=arrow_schema)
    staging = table_path(lake_root, SYSTEM, "staging")
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / f"{uuid.uuid4().hex}.parquet"
    pq.write_table(table, path)
    try:
        yield spark.read.schema(schema).parquet(str(path))
    finally:
        path.unlink(missing_ok=True)


def append(df: DataFrame, path: Path, metadata: dict[str, str], partition_by: tuple[str, ...] = ()) -> None:
    writer = df.write.format("delta").mode("append").option("userMetadata", json.dumps(metadata, sort_keys=True))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(str(path))


def add_new_columns(spark: SparkSession, df: DataFrame, path: Path, metadata: dict[str, str]) -> list[str]:
    """Give the table any column of ``df`` it lacks (nullable; old rows read null), before a SQL MERGE.

    ``MERGE ... INSERT *`` keeps only the target's columns, so a field a new contract version adds would be
    dropped silently. Delta SQL ``ALTER TABLE ... ADD COLUMNS`` adds them on Apache Spark; the embedded engine
    (Sail 0.7) has no ALTER TABLE and ignores ``mergeSchema`` on appends to these tables, so there delta-rs
    commits the same schema change. The commit is recorded in ``_system/commit_log``.
    """
    from deltalake import DeltaTable

    existing = {f.name for f in DeltaTable(str(path)).schema().fields}
    new = [f for f in df.schema.fields if f.name not in existing]
    if not new:
        return []
    try:
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ("
                  + ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in new) + ")").collect()
    except Exception as error:  # the engine's SQL has no ALTER TABLE for Delta paths
        if "ALTER TABLE" not in str(error):
            raise
        from deltalake.schema import Field

        DeltaTable(str(path)).alter.add_columns([Field.from_json(json.dumps({**f.jsonValue(), "nullable": True})) for f in new])
    _record_commit(spark, path, {**metadata, "step": "schema", "added_columns": ",".join(f.name for f in new)})
    return [f.name for f in new]


def version(path: Path) -> int:
    """The table's latest version (read from the Delta log by delta-rs, no engine needed)."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).version()


def table_id(path: Path) -> str:
    """The table's unique id (Delta metadata); a table dropped and re-created gets a new one."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).metadata().id


def version_readable(path: Path, version: int) -> bool:
    """Whether every data file of that version is still on disk (VACUUM, e.g. after an erasure, removes old ones)."""
    from deltalake import DeltaTable

    try:
        uris = DeltaTable(str(path), version=version).file_uris()
    except Exception:  # the version's log entries are gone too
        return False
    return all(Path(uri.removeprefix("file://")).exists() for uri in uris)


def read_version(spark: SparkSession, path: Path, version: int) -> DataFrame:
    return spark.read.format("delta").option("versionAsOf", version).load(str(path))


def changed_partitions(path: Path, after: int, up_to: int, column: str) -> set[str | None] | None:
    """Values of partition ``column`` whose files versions ``after`` (exclusive) to ``up_to`` added or removed.

    Read straight from the commit files of the Delta log (the protocol's ``add``/``remove`` actions
    carry ``partitionValues``). None when a commit file is gone (log clean-up): the caller must then
    assume everything changed.
    """
    values: set[str | None] = set()
    for number in range(after + 1, up_to + 1):
        commit = Path(path) / "_delta_log" / f"{number:020d}.json"
        if not commit.is_file():
            return None
        for line in commit.read_text().splitlines():
            action = json.loads(line) if line.strip() else {}
            for kind in ("add", "remove"):
                if kind in action:
                    values.add((action[kind].get("partitionValues") or {}).get(column))
    return values


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


def lake_root_of(path: Path) -> Path:
    """Every table lives at ``<lake_root>/<layer>/<name>``."""
    return Path(path).parents[1]


def sql_write(spark: SparkSession, statement: str, path: Path, metadata: dict[str, str]) -> None:
    """Run a SQL write (MERGE, DELETE) on the Delta table at ``path`` and record who made the commit."""
    text = json.dumps(metadata, sort_keys=True)
    spark.conf.set(USER_METADATA_CONF, text)
    try:
        spark.sql(statement)
    finally:
        spark.conf.unset(USER_METADATA_CONF)
    _record_commit(spark, path, metadata)


def _record_commit(spark: SparkSession, path: Path, metadata: dict[str, str]) -> None:
    """Append who made the table's latest commit to ``_system/commit_log``."""
    root = lake_root_of(path)
    row = (str(Path(path).relative_to(root)), version(path), metadata.get("job"), metadata.get("run_id"),
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
        table = str(Path(path).relative_to(root))
        for entry in DeltaTable(str(commit_log_table(root))).to_pyarrow_table().to_pylist():
            if entry["table"] == table and entry["version"] == version:
                return json.loads(entry["user_metadata"])
    return {}

"""Where the lake's tables live and how jobs read and append to them (Delta, with commit metadata).

Layout under ``Settings.lake_root``::

    bronze/<source>_events      raw events as landed, one table per source
    quarantine/landing          records refused at landing, with the reason
    _system/landing_ledger      which landing file went into which batch (exactly-once)

Every write records who made it in the Delta commit's ``userMetadata`` (job, run id, batch id), so
an auditor can tie a table version to the run that wrote it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

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


def append(df: DataFrame, path: Path, metadata: dict[str, str], partition_by: tuple[str, ...] = ()) -> None:
    writer = df.write.format("delta").mode("append").option("userMetadata", json.dumps(metadata, sort_keys=True))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(str(path))


def version(path: Path) -> int:
    """The table's latest version (read from the Delta log by delta-rs, no engine needed)."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).version()


def table_id(path: Path) -> str:
    """The table's unique id (Delta metadata); a table dropped and re-created gets a new one."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).metadata().id


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


def commit_metadata(job: str, run_id: str, **extra: str) -> dict[str, str]:
    return {"job": job, "run_id": run_id, **{k: str(v) for k, v in extra.items()}}

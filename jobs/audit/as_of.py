"""A mart as it was: read it at a past Delta version or time, and rebuild that version from silver to prove it.

Every gold commit records the silver table versions it read, the months it replaced, its ``as_of``
date and the metric configuration's fingerprint (see jobs/gold/build.py). ``rebuild`` reads silver
pinned at those versions (Delta time travel), recomputes the mart with the same pure functions and
compares it with what the commit wrote for those months: an auditor's reproducibility check.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake
from interaction_lake.storage import location
from interaction_lake.marts_config import MartsConfig
from jobs.gold.build import FACT, SNAPSHOT_MARTS, compute_marts, mart_table
from jobs.gold.measures import months_between_inclusive
from jobs.silver.build import fact_table, quarantined_inputs_table, read_fact


class AsOfError(ValueError):
    """No such mart, version or time; or a version that no gold build wrote."""


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp: dt.datetime
    operation: str
    metadata: dict


def commit_at(path: Path, version: int | None = None, timestamp: dt.datetime | None = None) -> Commit:
    """The commit that produced the table state at ``version``, or the last one at or before ``timestamp``."""
    from deltalake import DeltaTable

    if not lake.exists(path):
        raise AsOfError(f"no Delta table at {path}")
    history = DeltaTable(str(path)).history()
    commits = {h["version"]: h for h in history}
    if timestamp is not None:
        millis = timestamp.timestamp() * 1000
        before = [v for v, h in commits.items() if h["timestamp"] <= millis]
        if not before:
            first = dt.datetime.fromtimestamp(min(h["timestamp"] for h in history) / 1000, dt.timezone.utc)
            raise AsOfError(f"{path.name} did not exist at {timestamp.isoformat()} (first commit {first.isoformat()})")
        version = max(before)
    version = max(commits) if version is None else version
    if version not in commits:
        raise AsOfError(f"{path.name} has no version {version} (versions {min(commits)}..{max(commits)} are in its log)")
    h = commits[version]
    return Commit(version, dt.datetime.fromtimestamp(h["timestamp"] / 1000, dt.timezone.utc), h.get("operation", ""),
                  lake.commit_info(path, version))


def read_as_of(spark: SparkSession, lake_root: Path, mart: str, version: int | None = None,
               timestamp: dt.datetime | None = None) -> tuple[DataFrame, Commit]:
    path = mart_table(lake_root, mart)
    commit = commit_at(path, version, timestamp)
    _readable(path, commit.version)
    return lake.read_version(spark, path, commit.version), commit


def _readable(path: Path, version: int) -> None:
    if not lake.version_readable(path, version):
        raise AsOfError(f"{location(path).parent.name}/{location(path).name} version {version} was vacuumed (a VACUUM or a customer "
                        "erasure removed its data files); it can no longer be read")


def rebuild(spark: SparkSession, lake_root: Path, mart: str, commit: Commit, config: MartsConfig | None = None) -> DataFrame:
    """The mart rows ``commit`` wrote, recomputed from silver at the versions that commit read."""
    meta = commit.metadata
    if meta.get("step") == "define":
        raise AsOfError(f"version {commit.version} of {mart} is its definition (columns, comments, NOT NULL keys from the "
                        "glossary), committed before the rows that follow it: it holds no rows to rebuild")
    if meta.get("job") != "gold.build" or "silver_versions" not in meta:
        raise AsOfError(f"version {commit.version} of {mart} was not written by a gold build; nothing to rebuild from")
    config = config or MartsConfig.load()
    versions = json.loads(meta["silver_versions"])
    for name, v in versions.items():
        _readable(fact_table(lake_root, FACT[name]), v)
    facts = {name: read_fact(spark, lake_root, fact, versions.get(name)) for name, fact in FACT.items()}
    months = months_between_inclusive(dt.date.fromisoformat(meta["first_month"]), dt.date.fromisoformat(meta["last_month"]))
    return compute_marts(spark, facts, months, dt.date.fromisoformat(meta["as_of"]), config,
                         refused=_refused_inputs(spark, lake_root, commit))[mart]


def _refused_inputs(spark: SparkSession, lake_root: Path, commit: Commit) -> DataFrame | None:
    """``silver/quarantined_inputs`` as the build read it (a customer's refused inputs mark their value incomplete): at
    the version its commit records, or -- for a build made before that was recorded -- the last version committed
    before it."""
    from deltalake import DeltaTable

    path = quarantined_inputs_table(lake_root)
    if "quarantined_inputs_version" in commit.metadata:
        version = int(commit.metadata["quarantined_inputs_version"])
    elif lake.exists(path):
        before = [h["version"] for h in DeltaTable(str(path)).history() if h["timestamp"] <= commit.timestamp.timestamp() * 1000]
        version = max(before) if before else None
    else:
        version = None
    if version is None:
        return None
    _readable(path, version)
    return lake.read_version(spark, path, version)


def written_by(frame: DataFrame, mart: str, commit: Commit) -> DataFrame:
    """The rows of a mart version that ``commit`` itself wrote (the months it replaced; all of a snapshot mart)."""
    if mart in SNAPSHOT_MARTS:
        return frame
    first, last = (dt.date.fromisoformat(commit.metadata[k]) for k in ("first_month", "last_month"))
    return frame.where(F.col("month").between(F.lit(first), F.lit(last)))


@dataclass(frozen=True)
class Differences:
    """Rows stored but not rebuilt and rows rebuilt but not stored (as multisets): their counts and the first
    ``shown`` of each, so an auditor sees which rows and columns differ, not only that some do."""

    stored_only: int
    rebuilt_only: int
    stored_rows: list[dict]
    rebuilt_rows: list[dict]

    @property
    def none(self) -> bool:
        return self.stored_only == self.rebuilt_only == 0


def differences(stored: DataFrame, rebuilt: DataFrame, grain: tuple[str, ...], shown: int = 5) -> Differences:
    """The rows only ``stored`` holds and only ``rebuilt`` holds, counted, and the first ``shown`` of each ordered by the
    mart's ``grain`` (its glossary entry's key columns), so a row and its changed counterpart show side by side."""
    columns = stored.columns
    only_stored, only_rebuilt = stored.exceptAll(rebuilt.select(*columns)), rebuilt.select(*columns).exceptAll(stored)
    ordered = [F.col(c) for c in grain if c in columns]
    rows = [[r.asDict() for r in frame.orderBy(*ordered).limit(shown).collect()] for frame in (only_stored, only_rebuilt)]
    return Differences(only_stored.count(), only_rebuilt.count(), *rows)

"""What the gates hold back, and how an operator resolves it: list it with why, judge it again, or release it.

Held is what a failed gate keeps from the next stage: a bronze batch (or single files of it) that silver does not
read, a silver table whose latest verdict failed so the marts do not build. It stays held -- and listed, with the
expectations that failed and what they saw -- until a later verdict passes: a re-check after the suite or the data
was fixed (``recheck``), or an operator's release (``release``), which is recorded in ``_system/quality_results``
as a verdict of its own: who, when, why (``scope`` = "released by <who>: <reason>", expectation
``manual_release``). A green run the next day does not hide it: only a verdict about the held thing itself does.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake
from interaction_lake import sources as registry
from interaction_lake.quality.gate import RELEASED, RESULTS_SCHEMA, latest_verdicts_by_table, results_table, seen


@dataclass
class Held:
    stage: str
    table: str
    since: dt.datetime
    batch_id: str | None = None
    source_file: str | None = None
    table_version: int | None = None
    table_id: str | None = None
    reasons: list[str] = field(default_factory=list)  # the failed error expectations of the verdict that holds it

    def subject(self) -> str:
        if self.stage == "bronze":
            return f"bronze/{self.table} batch {self.batch_id}" + (f" file {self.source_file}" if self.source_file else " (whole batch)")
        return f"silver/{self.table} v{self.table_version}"


class NotHeld(ValueError):
    """What was named to release is not held (a user mistake: exit 2)."""


def held(spark: SparkSession, root: Path, explain: bool = True) -> list[Held]:
    """Everything a gate holds now, oldest first, each with why (unless ``explain`` is off: to act on it, not show it)."""
    from jobs.bronze.gate import holds
    from jobs.silver.gate import blocked

    found: list[Held] = []
    bronze = latest_verdicts_by_table(spark, root, "bronze")
    for source in registry.known():
        table = f"{source}_events"
        current = holds(spark, root, source, bronze.get(table, []))
        for v in bronze.get(table, []):
            whole = v.source_file is None and v.batch_id in current.batches
            if whole or (v.batch_id, v.source_file) in current.files:
                found.append(Held("bronze", table, v.validated_at, v.batch_id, v.source_file, v.table_version, v.table_id))
    for name, v in blocked(spark, root).items():
        found.append(Held("silver", name, v.validated_at, table_version=v.table_version, table_id=v.table_id))
    if explain:
        _explain(spark, root, found)
    return sorted(found, key=lambda h: h.since)


def _explain(spark: SparkSession, root: Path, found: list[Held]) -> None:
    """Each held thing's failed error expectations, from the verdict that holds it."""
    results = lake.read(spark, results_table(root))
    if results is None or not found:
        return
    columns = [c for c in ("stage", "table_name", "validated_at", "batch_id", "source_file", "table_version", "expectation",
                           "column_name", "observed_value", "unexpected_count", "element_count", "unexpected_percent",
                           "unexpected_sample") if c in results.columns]
    tables = sorted({h.table for h in found})
    rows = (results.where(~F.col("success") & (F.col("severity") == "error") & F.col("table_name").isin(*tables))
            .select(*columns).collect())  # failures are few; matched to their verdicts below
    for h in found:
        for r in rows:
            r = r.asDict()
            if (r["stage"], r["table_name"], r["validated_at"]) != (h.stage, h.table, h.since):
                continue
            if h.stage == "bronze" and (r["batch_id"], r.get("source_file")) != (h.batch_id, h.source_file):
                continue
            info = {"observed_value": json.loads(r["observed_value"]) if r["observed_value"] else None,
                    "unexpected_count": r["unexpected_count"], "element_count": r["element_count"],
                    "unexpected_percent": r.get("unexpected_percent")}
            if info["unexpected_count"] is None:
                info.pop("unexpected_count")
            sample = json.loads(r["unexpected_sample"]) if r.get("unexpected_sample") else []
            h.reasons.append(f"{r['expectation']}({r['column_name'] or ''}): {seen(info, sample)}")


def release(spark: SparkSession, root: Path, reason: str, *, batch_id: str | None = None, source_file: str | None = None,
            table: str | None = None, who: str | None = None) -> list[Held]:
    """Release what is held -- a bronze batch (with its held files), one held file of a batch, or a blocked silver
    table -- by recording a passing verdict that says who released it and why; return what was released."""
    if not reason.strip():
        raise NotHeld("a release needs a reason (--reason): it is the audit record")
    now_held = held(spark, root, explain=False)
    if batch_id:
        chosen = [h for h in now_held if h.stage == "bronze" and h.batch_id == batch_id
                  and (source_file is None or (h.source_file and (h.source_file == source_file or Path(h.source_file).name == source_file)))]
    else:
        chosen = [h for h in now_held if h.stage == "silver" and h.table in (table, f"{table}_quarantined")]
    if not chosen:
        what = f"batch {batch_id}" + (f" file {source_file}" if source_file else "") if batch_id else f"silver table {table}"
        raise NotHeld(f"{what} is not held (interaction-lake quality held lists what is)")
    who = who or getpass.getuser()
    now = dt.datetime.now(dt.timezone.utc)
    run_id = f"release-{now:%Y%m%dT%H%M%S%f}"
    scope = f"{RELEASED}{who}: {reason.strip()}"
    kwargs = json.dumps({"reason": reason.strip(), "released_by": who}, sort_keys=True)
    # A batch released whole gets one verdict for the batch; a file, one for that file (the batch stays judged by its files).
    subjects = {(h.stage, h.table, h.batch_id, h.source_file if source_file else None, h.table_version, h.table_id) for h in chosen}
    records = [(run_id, now, stage, name, version, table_id, batch, scope, "manual", "manual_release", None, kwargs, "error", True,
                json.dumps(reason.strip()), None, None, True, 0.0, file, None, None, None)
               for stage, name, batch, file, version, table_id in sorted(subjects, key=str)]
    frame = spark.createDataFrame(records, RESULTS_SCHEMA)
    meta = lake.commit_metadata("quality.release", run_id, released_by=who)
    lake.ensure_columns(spark, frame, results_table(root), meta)
    lake.append(frame, results_table(root), meta)
    return chosen


def recheck(spark, settings, run_id: str) -> list:
    """Judge everything held again with the current suites and data; the outcomes (a pass releases it)."""
    from jobs.bronze.gate import gate_bronze
    from jobs.silver.gate import gate_silver

    now_held = held(spark, settings.lake_root, explain=False)
    outcomes = []
    for source in registry.known():
        batches = frozenset(h.batch_id for h in now_held if h.stage == "bronze" and h.table == f"{source}_events")
        if batches:
            outcomes += gate_bronze(spark, settings, source, run_id, recheck=batches)
    tables = frozenset(h.table for h in now_held if h.stage == "silver")
    if tables:
        outcomes += gate_silver(spark, settings, run_id, recheck=tables)
    return outcomes

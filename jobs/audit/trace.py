"""Trace a mart row back to what it was computed from: silver facts -> silver events -> bronze records -> landing files.

Which silver rows a mart row reads is declared here per mart (``LINEAGE``), from the mart's grain and
the definitions in docs/metrics.md:

- ``customer_value`` (customer_key, month): the customer's counter visits, calls, surveys, complaints
  and account-manager contacts of that month, and their product holdings at the row's balance snapshot;
- ``key_customers_at_risk`` (customer_key, as_of_date): the same facts over the risk look-back window;
- ``service_quality`` (period, period_start, channel, unit_id): the counter visits of the branch (or
  calls of the queue) in that day or month; ``unit_id = ALL`` takes the whole channel;
- ``am_effectiveness`` (am_id, month): the manager's contacts of that month.

- ``branch_wait_by_hour`` (month, branch_id, hour_of_day): the month's counter visits of the branch (every
  branch for ``ALL``) whose ticket was issued in that hour of the bank's local clock;
- ``satisfaction`` (period, period_start, channel, branch_id, segment): the day's or month's surveys and complaints
  whose channel, branch and segment -- the customer's segment and home branch on that day, looked up in the SCD2
  ``customer_dim`` as the mart does -- are the row's; the dimension versions used are listed too.

- ``value_tier_migration`` (month, from_tier, to_tier): the ``customer_value`` rows it counts -- the month's
  customers whose previous tier (``new`` for none) and tier are the row's, read at the ``customer_value`` version
  that was current when the migration row was written; each is traced further as a ``customer_value`` row.

A customer's row (``customer_value``, ``key_customers_at_risk``) also lists the customer's records that landing refused
and the row would have read (``quarantine/landing``: source, reason, file, line, batch; never the raw text): what was
left out of its figures (``customer_value.quarantined_inputs`` counts them).

A fact row is joined to its events by the fact's event key columns; an event to the bronze record
that silver kept (same event id and batch); a bronze record to the landing ledger's file entry
(path, SHA-256 checksum, run). Bronze payload columns (``raw_line``, ``record_json``) hold PII and are
never read here.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from interaction_lake import lake
from interaction_lake.business_calendar import local_hour
from interaction_lake.marts_config import MartsConfig
from interaction_lake.privacy import secret_for
from jobs.gold.branch_waits import ALL
from jobs.gold.build import ACTIVITY_FACTS, FACT, FACT_DATE, mart_table
from jobs.gold.customers import UNKNOWN, with_customer_attributes
from jobs.gold.measures import add_months
from jobs.silver.build import composite_key, fact_table, refused_inputs, silver_events_table

BRONZE_LINEAGE = ("event_id", "event_type", "occurred_at", "_source_file", "_line_number", "_file_checksum", "_batch_id",
                  "_run_id", "_ingested_at")


class TraceError(ValueError):
    """The mart or key cannot be traced (unknown mart, missing key column, no such row)."""


def _between(column: str, first: dt.date, last: dt.date) -> Column:
    return F.col(column).between(F.lit(first), F.lit(last))


def _month_range(month: dt.date) -> tuple[dt.date, dt.date]:
    return month, add_months(month, 1) - dt.timedelta(days=1)


def _customer_facts(customer: str, first: dt.date, last: dt.date) -> dict[str, Column]:
    who = F.col("customer_key") == F.lit(customer)
    return {name: who & _between(FACT_DATE[name], first, last) for name in ACTIVITY_FACTS}


def _customer_value(row: dict, config: MartsConfig) -> dict[str, Column]:
    first, last = _month_range(row["month"])
    # Balances come from the month's chosen snapshot (the last one on or before the month's end).
    snapshot = F.col("snapshot_date") == F.lit(row["balance_snapshot_date"]) if row["balance_snapshot_date"] else F.lit(False)
    return {**_customer_facts(row["customer_key"], first, last),
            "product_holding": (F.col("customer_key") == F.lit(row["customer_key"])) & snapshot}


def _at_risk(row: dict, config: MartsConfig) -> dict[str, Column]:
    as_of = row["as_of_date"]
    first = as_of - dt.timedelta(days=config.risk_lookback_days)
    return {**_customer_facts(row["customer_key"], first, as_of),
            "product_holding": (F.col("customer_key") == F.lit(row["customer_key"])) & _between("snapshot_date", first, as_of)}


def _service_quality(row: dict, config: MartsConfig) -> dict[str, Column]:
    first, last = _period_range(row)
    fact, unit = ("counter_visit", F.col("branch_id")) if row["channel"] == "counter" else ("call", F.coalesce("queue_id", "abandoned_queue_id"))
    where = _between(FACT_DATE[fact], first, last)
    return {fact: where if row["unit_id"] == "ALL" else where & (unit == F.lit(row["unit_id"]))}


def _am_effectiveness(row: dict, config: MartsConfig) -> dict[str, Column]:
    first, last = _month_range(row["month"])
    return {"am_contact": (F.col("am_id") == F.lit(row["am_id"])) & _between("contact_date", first, last)}


def _branch_wait(row: dict, config: MartsConfig) -> dict[str, Selection]:
    first, last = _month_range(row["month"])
    where = (_between("visit_date", first, last) & F.col("issued_at").isNotNull()
             & (local_hour("issued_at", config.calendar, "branch_id") == F.lit(row["hour_of_day"])))
    return {"counter_visit": where if row["branch_id"] == ALL else where & (F.col("branch_id") == F.lit(row["branch_id"]))}


def _period_range(row: dict) -> tuple[dt.date, dt.date]:
    """The local dates a ``day`` or ``month`` row covers."""
    first = row["period_start"]
    return (first, first) if row["period"] == "day" else _month_range(first)


def _satisfaction(row: dict, config: MartsConfig) -> dict[str, Selection]:
    first, last = _period_range(row)

    def pick(date_column: str, branch: Column) -> Selection:
        def select(facts: DataFrame, dim: DataFrame | None) -> DataFrame:
            rows = (with_customer_attributes(facts, dim, date_column) if dim is not None
                    else facts.withColumn("segment", F.lit(UNKNOWN)).withColumn("home_branch_id", F.lit(None).cast("string")))
            return rows.where(_between(date_column, first, last) & (F.coalesce("channel", F.lit(UNKNOWN)) == F.lit(row["channel"]))
                              & (branch == F.lit(row["branch_id"])) & (F.col("segment") == F.lit(row["segment"])))
        return select

    return {"survey_response": pick("survey_date", F.coalesce("branch_id", "home_branch_id", F.lit(UNKNOWN))),
            "complaint": pick("opened_date", F.coalesce("home_branch_id", F.lit(UNKNOWN)))}


# Which rows of a fact a mart row reads: a condition on the fact, or, where the mart resolves customers through the
# SCD2 dimension, a function of the fact and the dimension (as the mart joins them).
Selection = Column | Callable[[DataFrame, DataFrame | None], DataFrame]


def _tier_members(row: dict) -> Column:
    return ((F.col("month") == F.lit(row["month"])) & (F.coalesce("previous_value_tier", F.lit("new")) == F.lit(row["from_tier"]))
            & (F.col("value_tier") == F.lit(row["to_tier"])))


def _refused_for_value(row: dict, config: MartsConfig) -> Column:
    """The refused records ``customer_value.quarantined_inputs`` counts: holdings of the row's balance snapshot,
    interactions dated in its month (as ``jobs.gold.customer_value.refused_inputs``)."""
    first, last = _month_range(row["month"])
    day = F.col("event_date")
    snapshot = day == F.lit(row["balance_snapshot_date"]) if row["balance_snapshot_date"] else F.lit(False)
    return F.when(F.col("source") == "holdings", snapshot).otherwise(day.between(F.lit(first), F.lit(last)))


def _refused_for_risk(row: dict, config: MartsConfig) -> Column:
    as_of = row["as_of_date"]
    return F.col("event_date").between(F.lit(as_of - dt.timedelta(days=config.risk_lookback_days)), F.lit(as_of))


@dataclass(frozen=True)
class MartLineage:
    key: tuple[str, ...]
    facts: Callable[[dict, MartsConfig], dict[str, Column]]
    members: Callable[[dict], Column] | None = None  # a mart counting another mart's rows: which rows of customer_value
    # a customer's row: which of the customer's records refused at landing it would have read (``event_date``: their day)
    refused: Callable[[dict, MartsConfig], Column] | None = None


LINEAGE = {
    "customer_value": MartLineage(("customer_key", "month"), _customer_value, refused=_refused_for_value),
    "key_customers_at_risk": MartLineage(("customer_key", "as_of_date"), _at_risk, refused=_refused_for_risk),
    "service_quality": MartLineage(("period", "period_start", "channel", "unit_id"), _service_quality),
    "am_effectiveness": MartLineage(("am_id", "month"), _am_effectiveness),
    "branch_wait_by_hour": MartLineage(("month", "branch_id", "hour_of_day"), _branch_wait),
    "satisfaction": MartLineage(("period", "period_start", "channel", "branch_id", "segment"), _satisfaction),
    "value_tier_migration": MartLineage(("month", "from_tier", "to_tier"), lambda row, config: {}, _tier_members),
}
REFUSED_COLUMNS = ("source", "reason", "occurred_at", "_source_file", "_line_number", "_batch_id")  # never the raw line
MEMBER_COLUMNS = ("customer_key", "month", "previous_value_tier", "value_tier", "contribution", "cumulative_share_before")


@dataclass
class FactTrace:
    fact: str
    source: str
    rows: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    bronze: list[dict] = field(default_factory=list)
    # the other copies bronze holds of those events: ``resent`` (the same content again) or ``superseded`` (another
    # content: a correction replaced it, or it lost to a higher revision), each with its file and line
    other_versions: list[dict] = field(default_factory=list)


@dataclass
class Trace:
    mart: str
    key: dict[str, str]
    version: int
    row: dict
    facts: list[FactTrace]
    files: list[dict]
    dimension: list[dict] = field(default_factory=list)  # the customer_dim versions the mart resolved its facts through
    members: list[dict] = field(default_factory=list)  # the customer_value rows a count of customers counted
    members_version: int | None = None  # the customer_value version they were read at
    # the customer's records landing refused that the row would have read: left out of its figures (quarantine/landing)
    quarantined: list[dict] = field(default_factory=list)


def mart_row(spark: SparkSession, lake_root: Path, mart: str, key: dict[str, str], version: int | None = None) -> tuple[dict, int]:
    """The one mart row with this key (at ``version``, default latest) and the version read."""
    if mart not in LINEAGE:
        raise TraceError(f"cannot trace {mart!r}: traceable marts are {', '.join(sorted(LINEAGE))}")
    lineage = LINEAGE[mart]
    missing = [k for k in lineage.key if k not in key]
    unknown = [k for k in key if k not in lineage.key]
    if missing or unknown:
        raise TraceError(f"{mart} rows are keyed by {', '.join(lineage.key)}; give each once as --key column=value"
                         + (f" (missing: {', '.join(missing)})" if missing else "") + (f" (not a key: {', '.join(unknown)})" if unknown else ""))
    path = mart_table(lake_root, mart)
    if not lake.exists(path):
        raise TraceError(f"no mart table at {path}: build the marts first")
    version = lake.version(path) if version is None else version
    table = lake.read_version(spark, path, version)
    where = [F.col(k).cast("string") == F.lit(v) for k, v in key.items()]
    rows = table.where(functools.reduce(operator.and_, where)).limit(2).collect()
    if not rows:
        examples = ["  ".join(f"--key {k}={r[k]}" for k in lineage.key) for r in table.select(*lineage.key).limit(3).collect()]
        raise TraceError(f"no {mart} row with {_fmt(key)} at version {version}"
                         + ("; rows look like: " + " | ".join(examples) if examples else ""))
    if len(rows) > 1:
        raise TraceError(f"more than one {mart} row with {_fmt(key)} at version {version}")
    return rows[0].asDict(), version


def trace(spark: SparkSession, lake_root: Path, mart: str, key: dict[str, str], version: int | None = None,
          config: MartsConfig | None = None) -> Trace:
    row, version = mart_row(spark, lake_root, mart, key, version)
    config = config or MartsConfig.load()
    selections = LINEAGE[mart].facts(row, config)
    dim = lake.read(spark, fact_table(lake_root, FACT["customer_dim"])) if any(callable(w) for w in selections.values()) else None
    facts = [_trace_fact(spark, lake_root, name, where, dim) for name, where in selections.items()]
    files = _files(spark, lake_root, [b for f in facts for b in f.bronze])
    trace = Trace(mart, key, version, row, facts, files)
    if LINEAGE[mart].members is not None:
        trace.members_version, trace.members = _members(spark, lake_root, mart, version, LINEAGE[mart].members(row))
    if LINEAGE[mart].refused is not None:
        trace.quarantined = _refused(spark, lake_root, row["customer_key"], LINEAGE[mart].refused(row, config), config)
    if dim is not None:
        customers = sorted({r["customer_key"] for f in facts for r in f.rows if r.get("customer_key")})
        trace.dimension = _sorted(dim.where(F.col("customer_key").isin(*customers)).collect(), ("customer_key", "valid_from")) if customers else []
    return trace


def _refused(spark: SparkSession, lake_root: Path, customer: str, where: Column, config: MartsConfig) -> list[dict]:
    """The customer's refused inputs (``jobs.silver.build.refused_inputs``, as ``silver/quarantined_inputs`` counts
    them) that ``where`` selects; their lineage only, never their raw text."""
    refused = refused_inputs(spark, lake_root, secret_for(lake_root), config.calendar)
    if refused is None:
        return []
    rows = refused.where((F.col("customer_key") == F.lit(customer)) & where).select(*REFUSED_COLUMNS)
    return _sorted(rows.collect(), ("_source_file", "_line_number"))


def _members(spark: SparkSession, lake_root: Path, mart: str, version: int, where: Column) -> tuple[int, list[dict]]:
    """The customer_value rows a count counted: at the customer_value version current when ``mart``'s ``version`` was
    committed (the build publishes customer_value first)."""
    from deltalake import DeltaTable

    written = next(h["timestamp"] for h in DeltaTable(str(mart_table(lake_root, mart))).history() if h["version"] == version)
    source = mart_table(lake_root, "customer_value")
    at = max(h["version"] for h in DeltaTable(str(source)).history() if h["timestamp"] <= written)
    rows = lake.read_version(spark, source, at).where(where).select(*MEMBER_COLUMNS).collect()
    return at, _sorted(rows, ("customer_key",))


def _trace_fact(spark: SparkSession, lake_root: Path, name: str, where: Selection, dim: DataFrame | None = None) -> FactTrace:
    fact = FACT[name]
    result = FactTrace(name, fact.source)
    path = fact_table(lake_root, fact)
    if not lake.exists(path):
        return result
    table = lake.read(spark, path)
    rows = table.where(where) if isinstance(where, Column) else where(table, dim).select(*table.columns)
    result.rows = _sorted(rows.collect(), fact.keys)
    if not result.rows:
        return result
    keys = rows.select(composite_key(fact.key_columns)).distinct()
    events = lake.read(spark, silver_events_table(lake_root, fact.source))
    events = events.withColumn("_k", composite_key(fact.key_columns)).join(keys.withColumnRenamed(keys.columns[0], "_k"), "_k",
                                                                           "left_semi").drop("_k")
    result.events = _sorted(events.drop("customer_key").collect(), ("occurred_at", "event_id"))
    ids = sorted({(e["event_id"], e["_batch_id"]) for e in result.events})
    copies = {(e["event_id"], e["_batch_id"], e["_source_file"], e["_line_number"]) for e in result.events}
    bronze = lake.read(spark, lake.bronze_table(lake_root, fact.source)).select(*BRONZE_LINEAGE, "record_json")
    every = _sorted(bronze.where(F.col("event_id").isin(*sorted({i for i, _ in ids}))).collect(), ("_source_file", "_line_number"))
    is_kept = lambda r: (r["event_id"], r["_batch_id"], r["_source_file"], r["_line_number"]) in copies  # noqa: E731
    content = {r["event_id"]: r["record_json"] for r in every if is_kept(r)}
    result.bronze = [{k: v for k, v in r.items() if k != "record_json"} for r in every if is_kept(r)]
    result.other_versions = [{**{k: v for k, v in r.items() if k != "record_json"},
                              "version": "resent" if r["record_json"] == content.get(r["event_id"]) else "superseded"}
                             for r in every if not is_kept(r)]
    return result


def _files(spark: SparkSession, lake_root: Path, bronze: list[dict]) -> list[dict]:
    """The landing files of these bronze records, as the ledger recorded them when they landed."""
    wanted = {(b["_source_file"], b["_file_checksum"]) for b in bronze}
    if not wanted:
        return []
    ledger = lake.read(spark, lake.landing_ledger_table(lake_root))
    entries = ledger.where(F.col("file_checksum").isin(*sorted({c for _, c in wanted}))).collect()
    by_file = {}
    for e in entries:
        if (e["file_path"], e["file_checksum"]) in wanted and e["batch_id"]:
            by_file[(e["file_path"], e["file_checksum"])] = e.asDict()
    return [{"file_path": p, "file_checksum": c, **{k: (by_file.get((p, c)) or {}).get(k) for k in ("source", "batch_id", "run_id", "ingested_at")},
             "records": sum(1 for b in bronze if (b["_source_file"], b["_file_checksum"]) == (p, c))}
            for p, c in sorted(wanted)]


def _sorted(rows, columns) -> list[dict]:
    return sorted((r.asDict() for r in rows), key=lambda r: tuple(str(r.get(c)) for c in columns))


def _fmt(key: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())

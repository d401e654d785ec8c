"""Build the gold marts from silver: the I/O shell around the pure mart functions.

Incremental by month. ``_system/gold_progress`` records the silver table versions each run read. A run:

1. finds what changed in silver since those versions, from the Delta log (the partitions that commits
   added or removed; for the unpartitioned customer dimension, the rows that differ), and from that the
   first month whose figures can change; for ``service_quality`` alone, calls reach back ``fcr_window_days`` (a
   repeat call changes the first call's resolution), so in a month's first days it alone redoes the month before;
2. reads silver pinned at the current versions (time travel), so a silver run landing meanwhile is
   picked up next time, not half-read;
3. recomputes every monthly mart from that month (its own first month: ``GoldReport.first_months``) to the month of
   the data's latest date and replaces exactly those months (``replaceWhere``, one commit per mart, whose metadata
   names them); later months are included because
   recency, the previous month's tier and balance evolution carry forward;
4. rebuilds ``key_customers_at_risk`` whole;
5. carries recency forward: ``gold/_state/customer_recency`` keeps, per month, each customer's latest
   interaction within the recency lookback (``customer_value.last_interactions``). A run that finds the
   month before its first month there reads interactions from that month on, not a year back, so a day's
   build costs the same in month 13 as in month 2; without it (first run, full rebuild, a changed
   lookback) it reads the year. Not a mart: build state, written with the marts, erased with them;
6. write-audit-publish: the marts are first written to ``_staging/gold/<run>/`` (``Settings.parallelism`` at a time,
   from this build's session: ``customer_value`` beside the other facts' marts, then the marts derived from its staged
   rows; published likewise, each mart its own commit), the gold gate
   validates the staged tables (``expectations/gold/``), and only if no error-severity expectation
   failed are they published to ``gold/`` and the silver versions recorded. A failed gate leaves the
   published marts untouched and the staged ones in place for inspection, and raises ``GateFailed``.
   The recency state is written after the marts are published, before the progress record: a run
   killed in between is redone from a first month no later than its own, whose carried month it did
   not touch;
7. computes each customer's own measures again only where they changed: ``gold/_state/customer_months`` keeps
   ``customer_value.customer_months`` (balances, income, interactions, cost to serve) per month; a run reuses a
   stored month's rows for every customer absent from the data files that the measured facts' commits since the last
   build added or removed (``lake.changed_files``; rows that changed are in those files), if the month was stored
   under this configuration and from the balance snapshot this run would choose, and recency likewise. What depends
   on the as-of date or on other customers (recency days, prorated income, attributes, shares, tiers, scores) is
   computed for every customer. Written with the recency state; a run killed before its progress record is redone
   against the older progress, whose changed files include this run's. The month before the first month, whose
   figures cannot have changed, gives its tiers (each customer's previous tier) and balances (the account managers'
   balance evolution) as published, rather than being computed again, if it was published under this configuration
   (``published_month``).

It refuses to start (``GateBlocked``) while any silver table's latest gate verdict is a failure.

Nothing changed in silver means nothing is written. ``full=True`` recomputes every month.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import adoption, business_calendar, concurrently, glossary, lake, lineage, locks, storage
from interaction_lake.faults import crash_point
from interaction_lake.marts_config import MartsConfig
from interaction_lake.storage import location
from interaction_lake.quality.gate import (GateBlocked, GateFailed, GateOutcome, StageResults, evaluate_stage, render_stage_data_docs,
                                          results_table, validate)
from jobs.gold import am_effectiveness, at_risk, branch_waits, customer_value, satisfaction, service_quality
from jobs.gold.customers import holding_amounts, interactions, months_frame, snapshot_of_months
from jobs.gold.measures import add_months, money_sum, months_between_inclusive
from jobs.quality.views import gold_mart
from jobs.silver.build import fact_table, quarantined_inputs_table, read_fact
from jobs.silver.gate import blocked_tables
from jobs.silver.lifecycles import FACTS

JOB = "gold.build"
GOLD = "gold"
FACT = {fact.name: fact for fact in FACTS}
# The date each fact is filed under (its partition; holdings by month) and the mart month it drives.
FACT_DATE = {"counter_visit": "visit_date", "call": "call_date", "survey_response": "survey_date",
             "complaint": "opened_date", "am_contact": "contact_date", "product_holding": "month"}
ACTIVITY_FACTS = ("counter_visit", "call", "survey_response", "complaint", "am_contact")
MONTHLY_MARTS = ("customer_value", "value_tier_migration", "service_quality", "branch_wait_by_hour", "satisfaction", "am_effectiveness")
SNAPSHOT_MARTS = ("key_customers_at_risk",)
MARTS = MONTHLY_MARTS + SNAPSHOT_MARTS
FROM_VALUES = ("value_tier_migration", "key_customers_at_risk")  # derived from customer_value's rows (see ``compute``)
# The silver facts each mart is about: a mart is built when at least one of them holds rows, so a bank that sends
# only call-centre data gets service_quality, one that sends only holdings gets customer_value (any subset of sources).
MART_INPUTS = {
    "customer_value": ("product_holding",), "value_tier_migration": ("product_holding",),
    "service_quality": ("counter_visit", "call"), "branch_wait_by_hour": ("counter_visit",),
    "satisfaction": ("survey_response", "complaint"), "am_effectiveness": ("am_contact",),
    "key_customers_at_risk": ("product_holding",),
}
PROGRESS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("built_at", T.TimestampType(), False),
    T.StructField("silver_table", T.StringType(), False),
    T.StructField("silver_version", T.LongType(), False),
    T.StructField("first_month", T.DateType(), True),
    # the silver table's Delta id: 'build-silver --full' re-creates tables from version 0, so a version number
    # alone could match while every row (and customer key) differs (added later: older rows hold null)
    T.StructField("silver_table_id", T.StringType(), True),
    # the data's as-of date of the build: when it moves on, the month then in progress is recomputed (added later)
    T.StructField("as_of_date", T.DateType(), True),
])


class NothingToBuild(Exception):
    """Silver holds no activity yet."""


def mart_table(lake_root: Path, mart: str) -> Path:
    return lake.table_path(lake_root, GOLD, mart)


def progress_table(lake_root: Path) -> Path:
    return lake.table_path(lake_root, lake.SYSTEM, "gold_progress")


def recency_table(lake_root: Path) -> Path:
    """The recency state the build carries from run to run (see the module docstring, step 5)."""
    return lake.table_path(lake_root, GOLD, lake.STATE) / "customer_recency"


def measures_table(lake_root: Path) -> Path:
    """Each customer's measures per month (``customer_value.customer_months``), kept for the next run (step 7)."""
    return lake.table_path(lake_root, GOLD, lake.STATE) / "customer_months"


@dataclass
class GoldReport:
    run_id: str
    as_of: dt.date | None = None
    first_month: dt.date | None = None  # the earliest month any mart recomputed
    first_months: dict[str, dt.date] = field(default_factory=dict)  # mart -> its first month recomputed (monthly marts)
    last_month: dt.date | None = None
    rows: dict[str, int] = field(default_factory=dict)  # mart -> rows written this run
    silver_versions: dict[str, int] = field(default_factory=dict)
    gates: list[GateOutcome] = field(default_factory=list)
    recency_carried: bool = False  # recency came from the stored state of the month before first_month
    measures_reused: list[dt.date] = field(default_factory=list)  # months whose unchanged customers' measures were stored
    previous_month_published: bool = False  # the previous tiers and balances came from the published month before
    not_built: dict[str, str] = field(default_factory=dict)  # mart -> why (its inputs are absent from silver)
    reshaped: list[str] = field(default_factory=list)  # marts whose columns this code changed: every month recomputed

    @property
    def up_to_date(self) -> bool:
        return self.first_month is None


def staging_root(lake_root: Path, run_id: str) -> Path:
    return location(lake_root) / lake.STAGING / GOLD / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def build_gold(spark: SparkSession, settings, run_id: str, config: MartsConfig | None = None, full: bool = False,
               gate: bool = True) -> GoldReport:
    """Build the marts (the OpenLineage job run ``gold.build``: silver facts in, marts out)."""
    root = settings.lake_root
    with locks.exclusive(root, "gold"), lineage.job_run(root, JOB, inputs=[fact_table(root, fact) for fact in FACT.values()],
                         outputs=[recency_table(root), progress_table(root), results_table(root)]) as run:
        with lake.keeping(spark, root) as keep:  # what the build materialises, deleted when it ends
            return _build_gold(spark, settings, run_id, config, full, gate, run, keep)


def _build_gold(spark: SparkSession, settings, run_id: str, config: MartsConfig | None, full: bool, gate: bool,
                run: lineage.JobRun, keep: Callable[[DataFrame], DataFrame]) -> GoldReport:
    config = config or MartsConfig.load()
    root = settings.lake_root
    blocked = blocked_tables(spark, root)
    if blocked:
        raise GateBlocked(f"silver table(s) {', '.join(blocked)} failed their latest data-quality gate; the marts are not rebuilt "
                          "until silver passes again (see _system/quality_results and the Data Docs)")
    versions = {name: lake.version(fact_table(root, fact)) for name, fact in FACT.items() if lake.exists(fact_table(root, fact))}
    business_calendar.check(root, config.calendar, has_silver=bool(versions))  # silver's dates are on that calendar
    table_ids = {name: lake.table_id(fact_table(root, FACT[name])) for name in versions}
    report = GoldReport(run_id, silver_versions=versions)
    facts = {name: read_fact(spark, root, fact, versions.get(name)) for name, fact in FACT.items()}
    spans = _fact_spans(facts)
    present = {name for name in versions if spans[name].rows}
    built = [name for name in MARTS if present & set(MART_INPUTS[name])]
    report.not_built = {name: f"no {' or '.join(MART_INPUTS[name])} facts in silver (their source is not sent, or not enabled)"
                        for name in MARTS if name not in built}
    if not built:
        raise NothingToBuild(f"no silver facts under {root}/silver yet: run build-silver first")
    as_of = _latest_activity_date(spans)
    done = None if full else _last_progress(spark, root)
    changed = None if full else _first_changed_date(spark, root, versions, table_ids, config, done)
    if changed is False:
        return report  # silver unchanged since the last run: nothing to do, nothing written
    first_day = changed.marts if changed else _earliest_activity_date(spans)
    service_day = changed.service_quality if changed else first_day
    before = _last_as_of(spark, root)
    if changed and before is not None and before != as_of:
        # the month then in progress is complete now, or further along: recompute it
        first_day, service_day = min(first_day, before), min(service_day, before)
    first_month, service_month = (min(day, as_of).replace(day=1) for day in (first_day, service_day))
    months = months_between_inclusive(first_month, as_of)
    report.as_of, report.first_month, report.last_month = as_of, service_month, months[-1]
    report.first_months = {name: service_month if name == "service_quality" else first_month for name in MONTHLY_MARTS}
    refused_version = lake.version(quarantined_inputs_table(root)) if lake.exists(quarantined_inputs_table(root)) else None
    # Every input's version is recorded, so 'audit as-of --rebuild' reads exactly what this build read.
    pinned = {} if refused_version is None else {"quarantined_inputs_version": str(refused_version)}
    meta = lake.commit_metadata(JOB, run_id, first_month=months[0].isoformat(), last_month=months[-1].isoformat(),
                                as_of=as_of.isoformat(), config=config.fingerprint(),
                                silver_versions=json.dumps(versions, sort_keys=True), **pinned)
    carried = None if full else _carried_recency(spark, root, add_months(months[0], -1), config)
    report.recency_carried = carried is not None
    refused = None if refused_version is None else lake.read_version(spark, quarantined_inputs_table(root), refused_version)
    stored = None if changed is None else _stored(spark, root, facts, done, versions, months, as_of, config, keep)
    published_previous = None if changed is None else published_month(spark, root, add_months(months[0], -1), config, keep)
    report.previous_month_published = published_previous is not None
    report.measures_reused = sorted(m for m in stored.months if m in months or published_previous is None) if stored else []
    computed = compute(spark, facts, months, as_of, config, carried, refused, keep, stored, published_previous, service_month)
    marts, from_values = computed.marts, computed.from_values
    marts = {name: frame for name, frame in marts.items() if name in built}
    staging = staging_root(root, run_id)
    storage.remove_tree(staging)
    staged: dict[str, DataFrame] = {}

    def stage(_, name: str) -> None:  # the marts' frames are this build's session's: written from it
        frame = marts[name]
        if name in FROM_VALUES and "customer_value" in staged:  # rather than compute every customer's month again
            frame = from_values(staged["customer_value"].drop(*PERIOD_STATUS))[name]
        lake.stage(frame, staging / name, {**_own(meta, name, report), "step": "staged"}, _partitioning(name), like=mart_table(root, name))
        staged[name] = lake.read(spark, staging / name)

    # customer_value beside the marts of other facts, then the marts derived from its staged rows; two at a time
    # (settings.parallelism): a write leaves the engine's cores idle between its steps
    for wave in ([n for n in marts if n not in FROM_VALUES], [n for n in marts if n in FROM_VALUES]):
        concurrently.each(spark, settings, stage, wave, own_sessions=False)
    staged = {name: staged[name] for name in marts}  # in the marts' order: the gates' and publication's
    # Judged on the staged tables' schemas (read from their logs; a frame's would need the engine to analyse its plan)
    reshaped = [name for name in staged if lake.exists(mart_table(root, name))
                and not lake.holds_shape(staged[name].schema, mart_table(root, name), _partitioning(name), ordered=False)]
    if reshaped and not full:  # a code upgrade changed a mart's columns: it is re-created, so every month is recomputed
        report = _build_gold(spark, settings, run_id, config, True, gate, run, keep)
        report.reshaped = reshaped
        return report
    if gate:  # audit
        published_from = {name: facts[name].where(F.col(FACT_DATE[name]) >= F.lit(service_month)) for name in ("counter_visit", "call")}
        judged = {name: gold_mart(name, staged[name], published_from, staged) for name in built}
        evaluated = evaluate_stage("gold", [(frame, name) for name, frame in judged.items()])  # one query for every mart's suite
        with StageResults(spark, root, "gold", run_id) as results:
            report.gates = [validate(spark, root, "gold", name, frame, run_id, evaluated=done, stage_results=results,
                                     scope=f"staged months {report.first_months.get(name, months[0]):%Y-%m}..{months[-1]:%Y-%m}")
                            for (name, frame), done in zip(judged.items(), evaluated)]
        render_stage_data_docs(root, report.gates)
        for outcome in report.gates:  # each gate's verdicts, on the staged table it judged
            with lineage.job_run(root, f"quality.gate.gold.{outcome.table}", inputs=[staging / outcome.table], parent=run.as_parent(),
                                 input_facets={staging / outcome.table: {"dataQualityAssertions": lineage.assertions_facet(outcome)}}):
                pass
        if not all(o.passed for o in report.gates):
            raise GateFailed(report.gates)
    crash_point("gold_before_publish")

    def publish(_, name: str) -> None:  # one lineage job per mart, reading what its definition reads
        path = mart_table(root, name)
        with lineage.job_run(root, f"gold.{name}", inputs=lineage.mart_sources(root, name), outputs=[path], parent=run.as_parent(),
                             output_facets={path: functools.partial(lineage.mart_facets, root, name)}):
            _publish(staged[name], path, report.first_months.get(name, months[0]), _own(meta, name, report), full, staging / name)
        report.rows[name] = staged[name].count()
        crash_point("gold_mid_publish")

    concurrently.each(spark, settings, publish, list(staged), own_sessions=False)  # each mart its own table and commit
    report.rows = {name: report.rows[name] for name in staged}
    _publish(computed.recency, recency_table(root), months[0], {**meta, "table": "customer_recency"}, full)
    _publish(computed.measures.withColumn("config", F.lit(config.fingerprint())), measures_table(root), months[0],
             {**meta, "table": "customer_months"}, full)
    storage.remove_tree(staging)
    now = dt.datetime.now(dt.timezone.utc)
    progress = spark.createDataFrame([(run_id, now, name, v, report.first_month, table_ids[name], as_of) for name, v in sorted(versions.items())],
                                     PROGRESS_SCHEMA)
    lake.ensure_columns(spark, progress, progress_table(root), meta)
    lake.append(progress, progress_table(root), {**meta, "step": "progress"})
    return report


def _own(meta: dict[str, str], mart: str, report: GoldReport) -> dict[str, str]:
    """A mart's commit metadata: the run's, naming the mart and the first month it replaced (which 'audit as-of
    --rebuild' recomputes from)."""
    first = report.first_months.get(mart)
    return {**meta, "table": mart, **({"first_month": first.isoformat()} if first else {})}


def compute_marts(spark: SparkSession, facts: dict[str, DataFrame], months: list[dt.date], as_of: dt.date,
                  config: MartsConfig, carried: DataFrame | None = None, refused: DataFrame | None = None) -> dict[str, DataFrame]:
    """Every mart for ``months`` from silver facts: pure, no writes (tests call it on hand-made facts)."""
    return compute(spark, facts, months, as_of, config, carried, refused).marts


class Computed(NamedTuple):
    """What ``compute`` returns: the marts, the two states the build stores for the next run, and how the marts in
    ``FROM_VALUES`` follow from ``customer_value``'s rows."""
    marts: dict[str, DataFrame]
    recency: DataFrame  # last_interactions of the months, with the lookback it used (gold/_state/customer_recency)
    measures: DataFrame  # customer_value.customer_months of the months (gold/_state/customer_months)
    from_values: Callable[[DataFrame], dict[str, DataFrame]]


def compute(spark: SparkSession, facts: dict[str, DataFrame], months: list[dt.date], as_of: dt.date, config: MartsConfig,
            carried: DataFrame | None = None, refused: DataFrame | None = None, keep: Callable[[DataFrame], DataFrame] = lambda frame: frame,
            stored: customer_value.Stored | None = None, published_previous: DataFrame | None = None,
            service_from: dt.date | None = None) -> Computed:
    """The marts for ``months``, the states to carry forward (recency and customer measures of ``months``), and how the
    marts in ``FROM_VALUES`` follow from ``customer_value``'s rows: given those rows (without ``PERIOD_STATUS``), the
    same marts as ``marts`` holds, so a build that has written ``customer_value`` derives them from what it
    wrote instead of computing every customer's month again (three times the work, measured).

    ``carried``: the stored recency state of the month before ``months[0]``. With it, recency and the
    monthly counts read interactions from that month on, and the at-risk signals their own lookback;
    without it, everything reads ``recency_lookback_days`` further back. ``refused``: ``silver/quarantined_inputs``.
    ``keep``: given a frame several marts read, one to read instead -- the build's I/O shell passes one that computes it
    once (``lake.keeping``: the month's interactions are read three times, the monthly balances five, the scored
    customer months twice when more than one month is scored, and each read would evaluate them again); the default, the frame itself, keeps this
    function pure. ``stored``: the states earlier builds stored (``customer_value.Stored``), to recompute customer
    measures and recency only for the customers whose inputs changed; the result is the same without it.
    ``published_previous``: ``customer_value``'s published rows of the month before ``months[0]`` (at least
    ``BALANCE_KEYS`` and ``value_tier``), when that month's figures cannot have changed: its tiers and balances are taken
    from them instead of computing the month again. ``service_from``: the first month of ``service_quality``, if earlier
    than ``months[0]`` (its first-contact resolution reaches back: ``_first_changed_date``).
    """
    first = months[0]
    service_first = min(service_from or first, first)
    previous = add_months(first, -1)
    year_back = min(previous - dt.timedelta(days=config.recency_lookback_days), as_of - dt.timedelta(days=365))
    recent = min(previous, as_of - dt.timedelta(days=config.risk_lookback_days))
    reach = {name: year_back for name in ACTIVITY_FACTS}
    if carried is not None:  # open complaints stay in reach for a year: they are few
        reach.update(counter_visit=recent, call=recent, am_contact=recent,
                     survey_response=recent - dt.timedelta(days=FACT["survey_response"].span_days))
    reach.update({name: min(reach[name], service_first) for name in ("counter_visit", "call")})
    window = {name: frame.where(F.col(FACT_DATE[name]) >= F.lit(reach[name])) for name, frame in facts.items() if name in ACTIVITY_FACTS}
    holdings = holdings_in_reach(facts["product_holding"], first, as_of)
    dim = facts["customer_dim"]
    # The month before is computed too (its tiers and balances are the first month's "previous"), unless it is published
    every_month = [previous, *months] if published_previous is None else months
    # With the carried state (the month before's), recency and the month counts need the computed months' interactions
    # only: the month before's too when it is computed, else from the first month on.
    since = every_month[0] if carried is not None else year_back
    seen = keep(interactions(*(window[name].where(F.col(FACT_DATE[name]) >= F.lit(since)) for name in ("counter_visit", "call", "am_contact"))))
    chosen = snapshot_of_months(holdings, months_frame(spark, every_month))
    measures = keep(customer_value.customer_months(spark, holdings, seen, every_month, config, stored, chosen))
    recency = keep(customer_value.recency(spark, seen, carried, every_month, as_of, config, stored))
    values = customer_value.customer_value(measures, recency, chosen, dim, months, as_of, config, refused, keep,
                                           None if published_previous is None else published_previous.select("customer_key", "value_tier"))
    # monthly_balances' rows (customers in the month's snapshot), as far as am_effectiveness reads them
    balances = measures.select(*BALANCE_KEYS)
    if published_previous is not None:
        balances = balances.unionByName(published_previous.select(*BALANCE_KEYS))
    balances = balances.where(F.col("balance_snapshot_date").isNotNull())
    from_first = {name: frame.where(F.col(FACT_DATE[name]) >= F.lit(first)) for name, frame in window.items()}
    served = {name: window[name].where(F.col(FACT_DATE[name]) >= F.lit(service_first)) for name in ("counter_visit", "call")}
    calls = service_quality.with_first_contact_resolution(served["call"], config.fcr_window_days)  # looks only forward
    amounts, latest = holding_amounts(holdings, config), _last_two_snapshot_dates(holdings, as_of)  # once: asks the engine

    def from_values(rows: DataFrame) -> dict[str, DataFrame]:
        now = rows.where(F.col("month") == F.lit(as_of.replace(day=1)))
        # the balances of the customers the mart can list only (at 10M, 65k of 950k: 3.8 -> 0.8 s a day, measured)
        snapshots = _snapshot_totals(amounts.join(at_risk.listed(now).select("customer_key"), "customer_key", "left_semi"), latest)
        derived = {
            "value_tier_migration": customer_value.tier_migration(rows),
            "key_customers_at_risk": at_risk.key_customers_at_risk(now, window["survey_response"], window["complaint"],
                                                                   window["counter_visit"], window["call"], snapshots, as_of, config),
        }
        return {name: with_period_status(frame, as_of, glossary.marts()[name].columns) for name, frame in derived.items()}

    marts = {
        "customer_value": values,
        "service_quality": service_quality.service_quality(served["counter_visit"], calls, config),
        "branch_wait_by_hour": branch_waits.branch_wait_by_hour(from_first["counter_visit"], config),
        "satisfaction": satisfaction.satisfaction(from_first["survey_response"], from_first["complaint"], dim, config),
        "am_effectiveness": am_effectiveness.am_effectiveness(from_first["am_contact"], balances, dim, months),
    }
    state = recency.where(F.col("month") >= F.lit(first)).withColumn("lookback_days", F.lit(config.recency_lookback_days))
    marts = {name: with_period_status(frame, as_of, glossary.marts()[name].columns) for name, frame in marts.items()} | from_values(values)
    return Computed({name: marts[name] for name in MARTS}, state, measures.where(F.col("month") >= F.lit(first)), from_values)


BALANCE_KEYS = ("month", "customer_key", "balance_snapshot_date", "total_balance")


def holdings_in_reach(holdings: DataFrame, first: dt.date, as_of: dt.date) -> DataFrame:
    """The holdings a build from ``first`` reads: from three months before its first month (or the as-of month)."""
    return holdings.where(F.col("month") >= F.lit(add_months(min(first, as_of.replace(day=1)), -3)))


PERIOD_STATUS = ("as_of_date", "period_complete")


def with_period_status(frame: DataFrame, as_of: dt.date, columns: Iterable[str] | None = None) -> DataFrame:
    """``as_of_date`` (the data's latest date within the period: its last day once complete, so a finished month's
    rows do not change as days go by, and a rebuild equals the daily builds) and ``period_complete`` (the data
    reaches the period's last day) on every row of a periodic mart: a month in progress is said to be one, in the
    mart and in the report ("to date"). A snapshot mart (``key_customers_at_risk``) already carries its as-of date.

    ``columns``: the mart's columns as the glossary documents them (tests hold the two equal), which saves asking the
    engine to analyse the frame's plan for them (~0.1 s a mart on the embedded engine, measured)."""
    columns = frame.columns if columns is None else set(columns)
    if "period_start" in columns:
        last_day = F.when(F.col("period") == "day", F.col("period_start")).otherwise(F.last_day("period_start"))
    elif "month" in columns:
        last_day = F.last_day("month")
    else:
        return frame
    return (frame.withColumn("as_of_date", F.least(last_day, F.lit(as_of)))
            .withColumn("period_complete", last_day <= F.lit(as_of)))


def _carried_recency(spark: SparkSession, root: Path, month: dt.date, config: MartsConfig) -> DataFrame | None:
    """The stored recency state of ``month`` (customer_key, last_interaction_date), or None when there is
    none for it at the configured lookback, in which case the build reads a year of interactions instead."""
    path = recency_table(root)
    if not lake.exists(path):
        return None
    # pinned: this run replaces the later months of the same table before the read is evaluated
    state = lake.read_version(spark, path, lake.version(path)).where(
        (F.col("month") == F.lit(month)) & (F.col("lookback_days") == F.lit(config.recency_lookback_days)))
    if not state.limit(1).count():
        return None
    return state.select("customer_key", "last_interaction_date")


def _last_two_snapshot_dates(holdings: DataFrame, as_of: dt.date) -> list[dt.date]:
    dates = [r.snapshot_date for r in holdings.where(F.col("snapshot_date") <= F.lit(as_of)).select("snapshot_date").distinct().collect()]
    return sorted(dates)[-2:]


def _snapshot_totals(amounts: DataFrame, dates: list[dt.date]) -> DataFrame:
    """(customer_key, snapshot_date, total_balance) of ``holding_amounts`` rows on ``dates``."""
    return (amounts.where(F.col("snapshot_date").isin(*dates) if dates else F.lit(False))
            .groupBy("customer_key", "snapshot_date").agg(money_sum(F.coalesce("_balance", F.lit(0))).alias("total_balance")))


@dataclass(frozen=True)
class Span:
    """What a build needs to know of a fact table before reading it: whether it holds rows, and the first and last
    dates it is filed under (``FACT_DATE``; holdings also their last snapshot date)."""
    rows: int
    first: dt.date | None
    last: dt.date | None
    last_snapshot: dt.date | None = None


def _fact_spans(facts: dict[str, DataFrame]) -> dict[str, Span]:
    """``Span`` of every fact, in one query (one per fact cost ~14 engine round trips a build: presence, latest and
    earliest date)."""
    def summary(name: str) -> DataFrame:
        date = F.col(FACT_DATE[name]) if name in FACT_DATE else F.lit(None).cast("date")
        snapshot = F.col("snapshot_date") if name == "product_holding" else F.lit(None).cast("date")
        return facts[name].agg(F.lit(name).alias("fact"), F.count(F.lit(1)).alias("rows"), F.min(date).alias("first"),
                               F.max(date).alias("last"), F.max(snapshot).alias("last_snapshot"))
    rows = functools.reduce(DataFrame.unionByName, [summary(name) for name in facts]).collect()
    return {r.fact: Span(r.rows, r.first, r.last, r.last_snapshot) for r in rows}


def _latest_activity_date(spans: dict[str, Span]) -> dt.date:
    """The data's as-of date: its latest interaction; for a bank that sends only holdings, its latest snapshot."""
    found = [spans[name].last for name in ACTIVITY_FACTS if spans[name].last is not None]
    if not found and spans["product_holding"].last_snapshot is not None:
        found = [spans["product_holding"].last_snapshot]
    if not found:
        raise NothingToBuild("silver holds no activity and no holdings yet")
    return max(found)


def _earliest_activity_date(spans: dict[str, Span]) -> dt.date:
    return min(spans[name].first for name in (*ACTIVITY_FACTS, "product_holding") if spans[name].first is not None)


def _last_as_of(spark: SparkSession, root: Path) -> dt.date | None:
    """The data's as-of date at the last build (None before the first, or for progress recorded before it was kept)."""
    progress = lake.read(spark, progress_table(root))
    if progress is None or "as_of_date" not in progress.columns:
        return None
    row = progress.orderBy(F.col("built_at").desc()).select("as_of_date").limit(1).collect()
    return row[0][0] if row else None


def _last_progress(spark: SparkSession, root: Path) -> dict[str, tuple[int, str | None]] | None:
    progress = lake.read(spark, progress_table(root))
    if progress is None:
        return None
    last = progress.agg(F.max("built_at")).collect()[0][0]
    if last is None:
        return None
    return {r.silver_table: (r.silver_version, r.asDict().get("silver_table_id"))
            for r in progress.where(F.col("built_at") == F.lit(last)).collect()}


class FirstChange(NamedTuple):
    """The earliest date whose marts can change, and the earliest whose ``service_quality`` can: a repeat call changes the
    first-contact resolution of the calls up to ``fcr_window_days`` before it, which only that mart reports."""
    marts: dt.date
    service_quality: dt.date


def _first_changed_date(spark: SparkSession, root: Path, versions: dict[str, int], table_ids: dict[str, str],
                        config: MartsConfig, done: dict[str, tuple[int, str | None]] | None) -> FirstChange | None | bool:
    """The earliest dates whose marts can change since the last run (``done``: ``_last_progress``); False if nothing
    changed; None if unknown (first run, the log no longer covers the gap, changes that carry no date such as only
    deletes), which means rebuild everything."""
    if done is None:
        return None
    dates: list[dt.date] = []
    calls: list[dt.date] = []
    changed = False
    for name, version in versions.items():
        before, before_id = done.get(name, (None, None))
        if before_id is not None and before_id != table_ids[name]:
            return None  # the table was re-created (build-silver --full): its versions started again
        if before == version:
            continue
        if before is None:
            return None
        changed = True
        path = fact_table(root, FACT[name])
        if name == "customer_dim":
            if not lake.version_readable(path, before):  # vacuumed (an erasure): compare against nothing, rebuild all
                return None
            new, old = lake.read_version(spark, path, version), lake.read_version(spark, path, before)
            diff = new.exceptAll(old).unionByName(old.exceptAll(new)).agg(F.min("valid_from")).collect()[0][0]
            dates += [diff] if diff else []
        else:
            values = lake.changed_partitions(path, before, version, FACT[name].partition)
            if values is None or None in values:
                return None
            days = [dt.date.fromisoformat(v) for v in values]
            dates += days
            if name == "call":
                calls += days
    if not changed:
        return False
    if not dates:
        return None
    return FirstChange(min(dates), min(dates + [day - dt.timedelta(days=config.fcr_window_days) for day in calls]))


def published_month(spark: SparkSession, root: Path, month: dt.date, config: MartsConfig,
                     keep: Callable[[DataFrame], DataFrame] = lambda frame: frame) -> DataFrame | None:
    """``customer_value``'s published tiers and balances of ``month`` (``BALANCE_KEYS`` and ``value_tier``), or None if it
    holds none (the month was never published: a first build scores the month before its first month without
    publishing it) or was published under another configuration (tier lines, costs: as the stored measures of that
    month, written by the same build, say). Kept (``keep``): besides being read twice, the published columns carry the
    glossary's comments, and the embedded engine fails to write a union of frames whose columns' metadata differ (ADR
    0001, "Known engine faults"); the kept copy has none."""
    path, state = mart_table(root, "customer_value"), measures_table(root)
    if not lake.exists(path) or not lake.exists(state):
        return None
    configs = lake.read(spark, state).where(F.col("month") == F.lit(month)).select("config").distinct().limit(2).collect()
    if [r.config for r in configs] != [config.fingerprint()]:
        return None
    # pinned: this run replaces the later months of the same table before the read is evaluated
    rows = lake.read_version(spark, path, lake.version(path)).where(F.col("month") == F.lit(month))
    return keep(rows.select(*BALANCE_KEYS, "value_tier")) if rows.limit(1).count() else None


MEASURED_FACTS = ("counter_visit", "call", "am_contact", "product_holding")  # what customer_months reads


def _stored(spark: SparkSession, root: Path, facts: dict[str, DataFrame], done: dict[str, tuple[int, str | None]] | None,
            versions: dict[str, int], months: list[dt.date], as_of: dt.date, config: MartsConfig,
            keep: Callable[[DataFrame], DataFrame]) -> customer_value.Stored | None:
    """The stored measures and recency this run may reuse (step 7), or None. A month is reused when both states hold
    it, computed under this configuration and, for balances, from the snapshot this run would choose for it; the
    customers recomputed are those in every data file that the measured facts' commits since the last run added or
    removed (unknown, e.g. after a vacuum: nothing is reused)."""
    path, recency_path = measures_table(root), recency_table(root)
    if done is None or not lake.exists(path) or not lake.exists(recency_path):
        return None
    # pinned: this run replaces the later months of the same tables before its reads are evaluated
    measures = lake.read_version(spark, path, lake.version(path))
    recency = lake.read_version(spark, recency_path, lake.version(recency_path)).where(
        F.col("lookback_days") == F.lit(config.recency_lookback_days))
    candidates = [add_months(months[0], -1), *months]
    held = {r.month: (r.snapshot, r.configs, r.config) for r in measures.where(F.col("month").isin(*candidates)).groupBy("month")
            .agg(F.max("balance_snapshot_date").alias("snapshot"), F.countDistinct("config").alias("configs"),
                 F.max("config").alias("config")).collect()}
    with_recency = {r.month for r in recency.where(F.col("month").isin(*candidates)).select("month").distinct().collect()}
    chosen = {r.month: r.balance_snapshot_date for r in snapshot_of_months(
        holdings_in_reach(facts["product_holding"], months[0], as_of), months_frame(spark, candidates)).collect()}
    reusable = frozenset(m for m in candidates if m in with_recency and m in held
                         and held[m] == (chosen.get(m), 1, config.fingerprint()))
    if not reusable:
        return None
    changed = _changed_customers(spark, root, done, versions)
    if changed is None:
        return None
    return customer_value.Stored(reusable, measures.select(*customer_value.MEASURE_COLUMNS),
                                 recency.select("month", "customer_key", "last_interaction_date"), keep(changed))


def _changed_customers(spark: SparkSession, root: Path, done: dict[str, tuple[int, str | None]], versions: dict[str, int]) -> DataFrame | None:
    """(customer_key): every customer in a data file that a measured fact's commits since ``done`` added or removed --
    a superset of the customers whose rows changed; None when the log or a removed file is gone."""
    files: list[str] = []
    for name in MEASURED_FACTS:
        if name not in versions:
            continue
        before = done.get(name, (-1, None))[0]
        if before != versions[name]:
            found = lake.changed_files(fact_table(root, FACT[name]), before, versions[name])
            if found is None:
                return None
            files += found
    keys = T.StructType([T.StructField("customer_key", T.StringType(), True)])
    if not files:
        return spark.createDataFrame([], keys)
    return spark.read.schema(keys).parquet(*files).where(F.col("customer_key").isNotNull()).distinct()


def _partitioning(mart: str) -> tuple[str, ...]:
    return () if mart in SNAPSHOT_MARTS else ("month",)


def _publish(frame: DataFrame, path: Path, first_month: dt.date, metadata: dict[str, str], full: bool,
             staged: Path | None = None) -> None:
    """Replace a monthly table's months from ``first_month`` on; the whole table when it is new, on a full
    rebuild, or for a snapshot (unpartitioned) table. A mart is first defined from the glossary (``definition``), then
    given its ``staged`` table's files as they are where it can be (``adoption.adopt``), else ``frame``'s rows written
    again; the build's own state (``_state/``) takes the frame's schema as it comes."""
    partition = _partitioning(path.name)
    everything = not partition or full or not lake.exists(path)
    if path.name in glossary.marts():
        lake.define(frame.schema, path, definition(path.name), partition, metadata)
    elif everything:
        lake.overwrite(frame, path, metadata, partition)
        return
    first = None if everything else ("month", first_month.isoformat())
    if staged is None or not adoption.adopt(frame, staged, path, metadata, first):
        lake.replace(frame, path, metadata, first and f"month >= DATE'{first[1]}'")


def definition(mart: str) -> lake.Definition:
    """A mart's description and column comments from the glossary (docs/metrics.md); its grain's columns are NOT NULL
    unless the glossary says one may be null."""
    doc = glossary.marts()[mart]
    return lake.Definition(doc.description(), doc.columns,
                           frozenset(c for c in doc.grain if "null" not in doc.columns.get(c, "")))

"""Mart ``customer_value``: per customer and month, balances, contribution, RFM, CLV and the 80/20 value tier.

Definitions (formula, grain, sources) are in ``docs/metrics.md``; this module is their one implementation.
Also ``value_tier_migration``: how many customers moved between tiers from one month to the next, and
``last_interactions``: each customer's latest interaction per month, which the build carries from one
run to the next so that recency never re-reads a year of history.

A customer's month is computed in two steps: ``customer_months``, the measures that depend only on the customer's own
holdings and interactions (balances, income, counts, cost to serve), and the rest -- what depends on the data's as-of
date (recency, income prorated to the days covered, attributes as of the reference date) and on the other customers
(shares, tiers, RFM scores). The build stores the first step's rows and recency (``Stored``) and, the next day,
recomputes them only for the customers whose interactions or holdings changed; the second step runs over every
customer, as it must (a tier is a rank in the month).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from interaction_lake.marts_config import MartsConfig
from jobs.gold.customers import cost_to_serve, monthly_balances, months_frame, snapshot_of_months, with_customer_attributes
from jobs.gold.measures import (EXACT, MONEY, add_months, decimal_literal, joined_key, money, money_sum, month_end, month_of, ratio,
                                score_1_to_5)

TIER_RANK = {"high": 3, "mid": 2, "low": 1}
BALANCE_COLUMNS = ("deposit_balance", "loan_balance", "investment_balance", "aum", "total_balance",
                   "net_interest_income", "fee_income")
COLUMNS = ("month", "customer_key", "segment", "home_branch_id", "am_id", "reference_date", "balance_snapshot_date",
           "currency", "inputs_complete", "unconverted_holdings", "quarantined_inputs", "deposit_balance", "loan_balance",
           "investment_balance", "aum", "total_balance", "product_count",
           "net_interest_income", "fee_income", "interactions", "counter_visits", "agent_calls", "self_service_calls",
           "am_visits", "am_calls", "am_events", "cost_to_serve", "contribution", "contribution_share",
           "cumulative_share_before", "value_tier", "previous_value_tier", "tier_migration", "last_interaction_date",
           "recency_days", "r_score", "f_score", "m_score", "rfm_cell", "clv")
CHANNEL_COUNTS = {"counter": "counter_visits", "call_agent": "agent_calls", "call_self_service": "self_service_calls",
                  "am_visit": "am_visits", "am_call": "am_calls", "am_event": "am_events"}
# customer_months: what a customer's month is made of before the as-of date and the other customers come in
MEASURE_COLUMNS = ("month", "customer_key", "balance_snapshot_date", *BALANCE_COLUMNS, "product_count", "unconverted_holdings",
                   "interactions", "cost_to_serve", *CHANNEL_COUNTS.values())


@dataclass(frozen=True)
class Stored:
    """What earlier builds stored, so that this one recomputes only the customers whose inputs changed.

    ``months``: the months for which both frames hold every customer, computed under the same configuration and, for
    balances, from the same snapshot as this build would use (``jobs.gold.build`` checks; other months are computed
    whole). ``measures``: ``customer_months`` rows; ``recency``: ``last_interactions`` rows as stored, possibly at an
    earlier as-of date. ``changed``: (customer_key) -- at least every customer whose interactions or holdings changed
    since those rows were computed (more is harmless: they are recomputed)."""
    months: frozenset[dt.date]
    measures: DataFrame
    recency: DataFrame
    changed: DataFrame


def _only(frame: DataFrame | None, keys: DataFrame | None) -> DataFrame | None:
    """``frame``'s rows of the customers in ``keys`` (all of them when ``keys`` is None)."""
    return frame if frame is None or keys is None else frame.join(keys, "customer_key", "left_semi")


def _union(frames: list[DataFrame]) -> DataFrame:
    return functools.reduce(DataFrame.unionByName, frames)


def customer_value(measures: DataFrame, recency: DataFrame, snapshots: DataFrame, dim: DataFrame, months: list[dt.date],
                   as_of: dt.date, config: MartsConfig, refused: DataFrame | None = None,
                   keep: Callable[[DataFrame], DataFrame] = lambda frame: frame, previous_tiers: DataFrame | None = None) -> DataFrame:
    """Rows for ``months`` from ``measures`` (``customer_months``) and ``recency`` (``recency``). ``snapshots``:
    ``snapshot_of_months`` (a refused holding counts against the month whose snapshot it belongs to). ``refused``:
    ``silver/quarantined_inputs`` (source, customer_key, event_date, records), if any. ``previous_tiers``:
    (customer_key, value_tier) of the month before ``months[0]`` as published, when that month's figures cannot have
    changed; without them that month is scored here too, and the three frames must hold it. ``keep``: see
    ``jobs.gold.build.compute`` -- with more than one month scored, the scored months are read twice (each month and,
    for its previous tier, the one before), and each read would score every customer again; a single month (its
    previous tiers given) is read once, and not kept (at 10M a day, one write and read of ~950k rows of 38 columns)."""
    scored_months = months if previous_tiers is not None else [add_months(months[0], -1), *months]
    missing = refused_inputs(refused, snapshots, scored_months)
    in_scope = F.col("month").isin(*scored_months)
    scored = score_customers(_base(measures.where(in_scope), dim, recency.where(in_scope), as_of, config, missing), config)
    parts = []  # where each month's previous tiers come from
    if len(scored_months) > 1:  # each scored month gives the next its previous tiers: the scored rows are read twice
        scored = keep(scored)
        parts.append(scored.select(joined_key(F.add_months("month", 1), "customer_key").alias("_key"),
                                   F.col("value_tier").alias("previous_value_tier")))
    if previous_tiers is not None:
        parts.append(previous_tiers.select(joined_key(F.lit(months[0]), "customer_key").alias("_key"),
                                           F.col("value_tier").alias("previous_value_tier")))
    previous = _union(parts)
    rank = F.create_map(*[x for tier, r in TIER_RANK.items() for x in (F.lit(tier), F.lit(r))])
    return (
        scored.where(F.col("month") >= F.lit(months[0]))
        .withColumn("_key", joined_key("month", "customer_key"))
        .join(previous, "_key", "left").drop("_key")
        .withColumn("tier_migration",
                    F.when(F.col("previous_value_tier").isNull(), "new")
                    .when(rank[F.col("value_tier")] > rank[F.col("previous_value_tier")], "up")
                    .when(rank[F.col("value_tier")] < rank[F.col("previous_value_tier")], "down").otherwise("same"))
        .select(*COLUMNS)
    )


def recency(spark: SparkSession, interactions: DataFrame, carried: DataFrame | None, months: list[dt.date], as_of: dt.date,
            config: MartsConfig, stored: Stored | None = None) -> DataFrame:
    """``last_interactions`` of ``months``; with ``stored``, computed again only for the changed customers of the
    stored months. Exact: an unchanged customer has no interaction after the stored row's reference date (any would be
    a change), so their latest interaction within the lookback is the stored one -- unless it has since fallen out of
    the lookback, and then every earlier one has too (the row goes)."""
    def computed(ms: list[dt.date], keys: DataFrame | None) -> DataFrame:
        return last_interactions(spark, _only(interactions, keys), _only(carried, keys), ms, as_of, config)

    if stored is None:
        return computed(months, None)
    still_in = F.col("last_interaction_date") > F.date_sub(reference_date(F.col("month"), as_of), config.recency_lookback_days)
    return _patched(months, stored, stored.recency.where(still_in).select("month", "customer_key", "last_interaction_date"), computed)


def customer_months(spark: SparkSession, holdings: DataFrame, interactions: DataFrame, months: list[dt.date], config: MartsConfig,
                    stored: Stored | None = None, snapshots: DataFrame | None = None) -> DataFrame:
    """``MEASURE_COLUMNS`` per month and customer holding products in the month's balance snapshot or interacting in the
    month: balances and income (``monthly_balances``), interactions per channel and their cost to serve; zero where the
    customer has none. None of it depends on the as-of date or on other customers. ``interactions`` must hold the
    months' interactions. With ``stored``, the stored months are computed again only for the changed customers.
    ``snapshots``: ``snapshot_of_months`` of ``months`` over ``holdings``, if the caller has it."""
    chosen = snapshots if snapshots is not None else snapshot_of_months(holdings, months_frame(spark, months))

    def computed(ms: list[dt.date], keys: DataFrame | None) -> DataFrame:
        return _customer_months(_only(holdings, keys), _only(interactions, keys), months_frame(spark, ms), ms, config, chosen)

    if stored is None:
        return computed(months, None)
    return _patched(months, stored, stored.measures.select(*MEASURE_COLUMNS), computed)


def _patched(months: list[dt.date], stored: Stored, rows: DataFrame,
             computed: Callable[[list[dt.date], DataFrame | None], DataFrame]) -> DataFrame:
    """``computed(months, None)`` (every customer), from ``rows`` (stored, of ``stored.months``) where it may: the months
    ``stored`` does not hold are computed whole; for those it holds, the changed customers are computed again
    (``computed(kept, stored.changed)``) and everyone else's stored rows kept."""
    kept = [m for m in months if m in stored.months]
    again = [m for m in months if m not in stored.months]
    parts = [computed(again, None)] if again else []
    if kept:
        parts += [computed(kept, stored.changed),
                  rows.where(F.col("month").isin(*kept)).join(stored.changed, "customer_key", "left_anti")]
    return _union(parts)


def _customer_months(holdings: DataFrame, interactions: DataFrame, month_rows: DataFrame, months: list[dt.date], config: MartsConfig,
                     chosen: DataFrame) -> DataFrame:
    balances = monthly_balances(holdings, month_rows, config, chosen.where(F.col("month").isin(*months)))
    in_months = interactions.withColumn("month", month_of(F.col("interaction_date"))).where(F.col("month").isin(*months))
    counts = (in_months.withColumn("_cost", cost_to_serve("channel", config))
              .groupBy("month", "customer_key")
              .agg(F.count("*").alias("interactions"), money_sum("_cost").alias("cost_to_serve"),
                   *[F.sum(F.when(F.col("channel") == ch, 1).otherwise(0)).alias(name) for ch, name in CHANNEL_COUNTS.items()]))
    key = joined_key("month", "customer_key")
    rows = (balances.select("month", "customer_key").unionByName(counts.select("month", "customer_key")).distinct()
            .withColumn("_key", key)
            .join(balances.withColumn("_key", key).drop("month", "customer_key"), "_key", "left")
            .join(counts.withColumn("_key", key).drop("month", "customer_key"), "_key", "left")
            .drop("_key"))
    return _zero_filled(rows).select(*MEASURE_COLUMNS)


def _zero_filled(rows: DataFrame) -> DataFrame:
    """A customer without holdings or without interactions has zero of them (money as money)."""
    rows = rows.fillna(0, subset=["product_count", "unconverted_holdings", "interactions", *CHANNEL_COUNTS.values()])
    for name in (*BALANCE_COLUMNS, "cost_to_serve"):
        rows = rows.withColumn(name, F.coalesce(F.col(name), F.lit(0).cast(MONEY)))
    return rows


def reference_date(month: Column, as_of: dt.date) -> Column:
    """The date a month's figures are taken at: its last day, or the data's as-of date for the month in progress."""
    return F.least(month_end(month), F.lit(as_of))


def last_interactions(spark: SparkSession, interactions: DataFrame, carried: DataFrame | None, months: list[dt.date],
                      as_of: dt.date, config: MartsConfig) -> DataFrame:
    """(month, customer_key, last_interaction_date): per month, each customer's latest interaction within
    ``recency_lookback_days`` up to the month's reference date; customers with none are absent.

    ``interactions`` must hold every interaction from ``months[0]`` on. Earlier ones come either from
    ``interactions`` too (reaching back ``recency_lookback_days`` before ``months[0]``) or from ``carried``:
    (customer_key, last_interaction_date), this function's rows for the month before ``months[0]``, as an
    earlier run stored them. That is exact, not an approximation: the latest interaction before
    ``months[0]`` that is still inside a later month's lookback is either that stored date or nothing
    (if the stored date has fallen out of the window, every earlier one has too). It is what keeps a
    day's build from re-reading a year of interactions.
    """
    seen = interactions.select("customer_key", "interaction_date")
    if carried is not None:
        seen = seen.unionByName(carried.select("customer_key", F.col("last_interaction_date").alias("interaction_date")))
    references = months_frame(spark, months).withColumn("_reference", reference_date(F.col("month"), as_of))
    return (references.crossJoin(seen)
            .where((F.col("interaction_date") <= F.col("_reference"))
                   & (F.col("interaction_date") > F.date_sub(F.col("_reference"), config.recency_lookback_days)))
            .groupBy("month", "customer_key").agg(F.max("interaction_date").alias("last_interaction_date")))


def refused_inputs(refused: DataFrame | None, snapshots: DataFrame, months: list[dt.date]) -> DataFrame | None:
    """(month, customer_key, quarantined_inputs): the customer's records landing refused that the customer-month would
    have counted -- holdings of the month's balance snapshot, interactions dated in the month (``refused`` is
    ``silver/quarantined_inputs``; ``snapshots`` the month -> ``balance_snapshot_date`` choice)."""
    if refused is None:
        return None
    holdings = (refused.where(F.col("source") == "holdings")
                .join(snapshots, F.col("event_date") == F.col("balance_snapshot_date")).select("month", "customer_key", "records"))
    others = (refused.where(F.col("source") != "holdings").withColumn("month", month_of(F.col("event_date")))
              .where(F.col("month").isin(*months)).select("month", "customer_key", "records"))
    return (holdings.unionByName(others).groupBy("month", "customer_key")
            .agg(F.sum("records").cast("long").alias("quarantined_inputs")))


def _base(measures: DataFrame, dim: DataFrame, recency: DataFrame, as_of: dt.date, config: MartsConfig,
          missing: DataFrame | None) -> DataFrame:
    """Every customer-month of ``measures`` or ``missing`` (a customer whose every holding was refused is there too,
    marked, not absent), with what the as-of date decides: recency, prorated income, contribution, attributes."""
    population = measures.select("month", "customer_key")
    if missing is not None:
        population = population.unionByName(missing.select("month", "customer_key")).distinct()
    # Recency: days from the last interaction to the month's reference date (month end, or the data's
    # as-of date for the month in progress), looking back at most recency_lookback_days.
    reference = population.withColumn("reference_date", reference_date(F.col("month"), as_of))
    key = joined_key("month", "customer_key")
    last_seen = recency.select(key.alias("_key"), "last_interaction_date")
    rows = (
        reference.withColumn("_key", key)
        .join(measures.withColumn("_key", key).drop("month", "customer_key"), "_key", "left")
        .join(last_seen, "_key", "left")
    )
    if missing is not None:
        rows = rows.join(missing.withColumn("_key", key).drop("month", "customer_key"), "_key", "left")
    else:
        rows = rows.withColumn("quarantined_inputs", F.lit(None).cast("long"))
    rows = _zero_filled(rows.drop("_key").fillna(0, subset=["quarantined_inputs"]))
    # The month in progress: income is the latest month's, prorated to the days the data covers, so that it and the
    # cost to serve (the interactions so far) cover the same days.
    covered = (F.dayofmonth("reference_date") / F.dayofmonth(month_end(F.col("month")))).cast("decimal(12,10)")
    for name in ("net_interest_income", "fee_income") if config.prorate_income_in_progress else ():
        rows = rows.withColumn(name, money(F.col(name).cast("decimal(24,8)") * covered))
    rows = (
        rows.withColumn("currency", F.lit(config.reporting_currency))
        .withColumn("inputs_complete", (F.col("unconverted_holdings") == 0) & (F.col("quarantined_inputs") == 0))
        .withColumn("contribution", money(F.col("net_interest_income") + F.col("fee_income") - F.col("cost_to_serve")))
        .withColumn("recency_days", F.datediff(F.col("reference_date"), F.col("last_interaction_date")).cast("int"))
    )
    return with_customer_attributes(rows, dim, "reference_date")


def clv_factor(config: MartsConfig) -> Decimal:
    """CLV per unit of monthly contribution: 12 x r / (1 + d - r), exact to 9 places."""
    r, d = Decimal(str(config.retention_rate)), Decimal(str(config.discount_rate))
    return (12 * r / (1 + d - r)).quantize(Decimal("1e-9"))


def score_customers(rows: DataFrame, config: MartsConfig) -> DataFrame:
    """Shares, tiers, RFM and CLV per month. Contributions are exact decimals, so equal contributions are equal: ranked
    by the documented tie-break (``customer_key``), and a tier line (80%, 95%) is compared exactly, in decimals."""
    month = Window.partitionBy("month")
    by_contribution = month.orderBy(F.col("contribution").desc(), F.col("customer_key"))
    positive = F.greatest(F.col("contribution").cast(EXACT), F.lit(0).cast(EXACT))
    before = F.coalesce(F.sum(positive).over(by_contribution.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0).cast(EXACT))
    total = F.sum(positive).over(month)
    # m_score's percent rank by ascending contribution, (rank - 1) / (rows - 1), from the descending order the tiers sort
    # by (one sort of the month, not two): rank - 1 = the rows below = rows - the rows with as much or more (the
    # default frame takes in the current row's ties).
    rows_in_month = F.count(F.lit(1)).over(month)
    as_much_or_more = F.count(F.lit(1)).over(month.orderBy(F.col("contribution").desc()))
    by_contribution_rank = (F.when(rows_in_month > 1, (rows_in_month - as_much_or_more).cast("double") / (rows_in_month - 1).cast("double"))
                            .otherwise(F.lit(0.0)))
    has_recency = Window.partitionBy("month", F.col("recency_days").isNull()).orderBy(F.col("recency_days").desc())
    below = lambda share: F.col("_before") < F.col("_total") * decimal_literal(share)  # noqa: E731 -- exact, on the line too
    return (
        rows.withColumn("_total", total).withColumn("_before", before)
        .withColumn("contribution_share", F.when(F.col("_total") > 0, ratio(positive, F.col("_total"))).otherwise(0.0))
        .withColumn("cumulative_share_before", F.when(F.col("_total") > 0, ratio(F.col("_before"), F.col("_total"))).otherwise(1.0))
        .withColumn("value_tier",
                    F.when(F.col("contribution") <= 0, "low")
                    .when(below(config.high_tier_share), "high")
                    .when(below(config.mid_tier_share), "mid").otherwise("low"))
        .withColumn("r_score", F.when(F.col("recency_days").isNull(), 1).otherwise(score_1_to_5(F.percent_rank().over(has_recency))))
        .withColumn("f_score", score_1_to_5(F.percent_rank().over(month.orderBy("interactions"))))
        .withColumn("m_score", score_1_to_5(by_contribution_rank))
        .withColumn("rfm_cell", F.concat(F.lit("R"), F.col("r_score"), F.lit("F"), F.col("f_score"), F.lit("M"), F.col("m_score")))
        .withColumn("clv", money(F.col("contribution").cast("decimal(20,4)") * F.lit(str(clv_factor(config))).cast("decimal(16,9)")))
        .drop("_total", "_before")
    )


def tier_migration(values: DataFrame) -> DataFrame:
    """Mart ``value_tier_migration``: customers per (month, from tier, to tier); ``new`` = no tier last month."""
    return (values.groupBy("month", F.coalesce("previous_value_tier", F.lit("new")).alias("from_tier"),
                           F.col("value_tier").alias("to_tier"))
            .agg(F.count("*").alias("customers")))

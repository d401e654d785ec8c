"""Mart ``key_customers_at_risk``: high-tier customers whose satisfaction or activity is falling, with the reasons.

Rebuilt whole on every run as of the data's latest date (``as_of_date``); earlier lists are Delta
versions of the table (time travel). Reasons, each over a window ending on ``as_of_date``:

- ``detractor``: their latest NPS answer in the lookback window was 0-6;
- ``low_csat``: a CSAT answer of 1 or 2 in the lookback window;
- ``open_complaint``: a complaint still unresolved;
- ``abandoned_service``: a counter ticket or a queued call abandoned in the recent window;
- ``waits_rising``: mean wait (counter and call queue) in the recent window above ``wait_rise_factor``
  times the mean of the rest of the lookback window, or above the counter wait target when there is
  no earlier wait to compare with;
- ``balance_falling``: total balance at the latest snapshot down by ``balance_drop_share`` or more on
  the snapshot before.
"""

from __future__ import annotations

import datetime as dt
import functools

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from interaction_lake.business_calendar import local_date
from interaction_lake.marts_config import MartsConfig
from jobs.gold.measures import count_if, exact_mean, ratio

REASONS = ("detractor", "low_csat", "open_complaint", "abandoned_service", "waits_rising", "balance_falling")
COLUMNS = ("as_of_date", "customer_key", "segment", "home_branch_id", "am_id", "value_tier", "contribution", "clv",
           "reasons", "reason_count", "last_nps", "low_csat_responses", "open_complaints", "abandoned_recently",
           "recent_wait_mean_seconds", "earlier_wait_mean_seconds", "balance_change_pct")


def listed(values: DataFrame) -> DataFrame:
    """The customers the mart can list (``values``' high tier): the only ones whose signals matter, so a caller may read
    inputs for them alone."""
    return values.where(F.col("value_tier") == "high")


def key_customers_at_risk(values: DataFrame, surveys: DataFrame, complaints: DataFrame, visits: DataFrame, calls: DataFrame,
                          snapshot_totals: DataFrame, as_of: dt.date, config: MartsConfig) -> DataFrame:
    """``values``: customer_value rows of the as-of month. ``snapshot_totals``: (customer_key, snapshot_date,
    total_balance) for the last two snapshots, of at least the ``listed`` customers."""
    lookback_start = as_of - dt.timedelta(days=config.risk_lookback_days - 1)
    recent_start = as_of - dt.timedelta(days=config.risk_recent_days - 1)
    high = listed(values).select("customer_key", "segment", "home_branch_id", "am_id", "value_tier", "contribution", "clv")

    answered = surveys.where(F.col("responded_at").isNotNull()
                             & local_date("responded_at", config.calendar, "branch_id").between(lookback_start, as_of))
    survey_signals = answered.groupBy("customer_key").agg(
        F.max_by(F.col("nps"), F.when(F.col("nps").isNotNull(), F.col("responded_at"))).alias("last_nps"),
        count_if(F.col("csat") <= 2).alias("low_csat_responses"))
    complaint_signals = (complaints.where((F.col("status") == "open") & (F.col("opened_date") <= as_of))
                         .groupBy("customer_key").agg(F.count("*").alias("open_complaints")))
    waits = (visits.select("customer_key", F.col("visit_date").alias("day"), "wait_seconds", (F.col("status") == "abandoned").alias("_abandoned"))
             .unionByName(calls.select("customer_key", F.col("call_date").alias("day"), F.col("queue_wait_seconds").alias("wait_seconds"),
                                       (F.col("abandoned_in") == "queue").alias("_abandoned")))
             .where(F.col("customer_key").isNotNull() & F.col("day").between(lookback_start, as_of)))
    recent = F.col("day") >= F.lit(recent_start)
    wait_signals = waits.groupBy("customer_key").agg(
        count_if(recent & F.col("_abandoned")).alias("abandoned_recently"),
        exact_mean(F.when(recent, F.col("wait_seconds"))).alias("recent_wait_mean_seconds"),
        exact_mean(F.when(~recent, F.col("wait_seconds"))).alias("earlier_wait_mean_seconds"))
    latest_two = snapshot_totals.groupBy("customer_key").agg(
        F.max_by("total_balance", "snapshot_date").alias("_latest"), F.min_by("total_balance", "snapshot_date").alias("_previous"),
        F.count("*").alias("_snapshots"))
    balance_signals = latest_two.where(F.col("_snapshots") == 2).select(
        "customer_key", (ratio(F.col("_latest") - F.col("_previous"), F.col("_previous")) * 100).alias("balance_change_pct"))

    joined = functools.reduce(lambda df, signals: df.join(signals, "customer_key", "left"),
                              [survey_signals, complaint_signals, wait_signals, balance_signals], high)
    joined = joined.fillna(0, subset=["low_csat_responses", "open_complaints", "abandoned_recently"])
    rising = F.when(F.col("earlier_wait_mean_seconds").isNotNull(),
                    F.col("recent_wait_mean_seconds") > F.col("earlier_wait_mean_seconds") * config.wait_rise_factor
                    ).otherwise(F.col("recent_wait_mean_seconds") > config.counter_wait_target_seconds)
    flags = {
        "detractor": F.col("last_nps") <= 6,
        "low_csat": F.col("low_csat_responses") > 0,
        "open_complaint": F.col("open_complaints") > 0,
        "abandoned_service": F.col("abandoned_recently") > 0,
        "waits_rising": F.coalesce(rising, F.lit(False)),
        "balance_falling": F.col("balance_change_pct") <= -100 * config.balance_drop_share,
    }
    reasons = F.filter(F.array(*[F.when(flags[r], F.lit(r)) for r in REASONS]), lambda r: r.isNotNull())
    return (joined.withColumn("reasons", reasons).withColumn("reason_count", F.size("reasons"))
            .where(F.col("reason_count") > 0)
            .withColumn("as_of_date", F.lit(as_of))
            .select(*COLUMNS))

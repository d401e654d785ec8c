"""Mart ``service_quality``: counter and call-centre service per unit (branch or queue), per day and per month.

One row per (``period``, ``period_start``, ``channel``, ``unit_id``). ``period`` is ``day`` or ``month``;
``unit_id`` is the branch (counter) or the first queue of the call (call centre), and ``ALL`` for the
whole channel. Rates are recomputed for ``ALL`` rows from their counts, never averaged over units.
Columns that do not apply to a channel are null. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake.marts_config import MartsConfig
from jobs.gold.measures import count_if, each_and_all, exact_mean, ratio, with_day_and_month

ALL = "ALL"
GRAIN = ("period", "period_start", "month", "channel", "unit_id")
MEASURES: tuple[tuple[str, T.DataType], ...] = (
    # counter
    ("tickets", T.LongType()), ("tickets_served", T.LongType()), ("tickets_abandoned", T.LongType()),
    ("tickets_open", T.LongType()), ("ticket_abandonment_rate", T.DoubleType()),
    ("wait_mean_seconds", T.DoubleType()), ("wait_p50_seconds", T.DoubleType()), ("wait_p90_seconds", T.DoubleType()),
    ("served_within_target_share", T.DoubleType()),
    # call centre
    ("calls_offered", T.LongType()), ("ivr_self_served", T.LongType()), ("ivr_abandoned", T.LongType()),
    ("offered_to_queue", T.LongType()), ("answered", T.LongType()), ("abandoned", T.LongType()),
    ("short_abandons", T.LongType()), ("queue_outcomes", T.LongType()), ("abandonment_rate", T.DoubleType()),
    ("abandonment_ceiling", T.DoubleType()), ("abandonment_breach", T.BooleanType()),
    ("asa_seconds", T.DoubleType()), ("service_level", T.DoubleType()), ("service_level_target", T.DoubleType()),
    ("service_level_met", T.BooleanType()), ("transfers", T.LongType()),
    ("fcr_eligible", T.LongType()), ("fcr_resolved", T.LongType()), ("fcr_rate", T.DoubleType()),
    # both
    ("aht_seconds", T.DoubleType()),
)
COLUMNS = (*GRAIN, *(name for name, _ in MEASURES))


def service_quality(visits: DataFrame, calls: DataFrame, config: MartsConfig) -> DataFrame:
    """``calls`` must carry ``first_contact_resolved`` (see :func:`with_first_contact_resolution`)."""
    return _complete(_counter(visits, config)).unionByName(_complete(_calls(calls, config)))


def _periods(rows: DataFrame, date_column: str, unit_column: str) -> DataFrame:
    """Each row once per day and once per month, and once for its unit and once for ``ALL``."""
    return each_and_all(with_day_and_month(rows, date_column).withColumn("unit_id", F.col(unit_column)), "unit_id", ALL)


def _counter(visits: DataFrame, config: MartsConfig) -> DataFrame:
    called = F.col("called_at").isNotNull() & F.col("wait_seconds").isNotNull()  # no wait without the ticket's issue time
    wait = F.when(called, F.col("wait_seconds"))
    served = count_if(F.col("status") == "completed")
    abandoned = count_if(F.col("status") == "abandoned")
    return (
        _periods(visits, "visit_date", "branch_id").groupBy(*GRAIN[:2], "month", "unit_id")
        .agg(
            F.count("*").alias("tickets"), served.alias("tickets_served"), abandoned.alias("tickets_abandoned"),
            count_if(F.col("status") == "open").alias("tickets_open"),
            ratio(abandoned, served + abandoned).alias("ticket_abandonment_rate"),
            exact_mean(wait).alias("wait_mean_seconds"),
            F.percentile(wait, 0.5).alias("wait_p50_seconds"), F.percentile(wait, 0.9).alias("wait_p90_seconds"),
            ratio(count_if(called & (F.col("wait_seconds") <= config.counter_wait_target_seconds)), count_if(called))
            .alias("served_within_target_share"),
            exact_mean("service_seconds").alias("aht_seconds"),
        )
        .withColumn("channel", F.lit("counter"))
    )


def _calls(calls: DataFrame, config: MartsConfig) -> DataFrame:
    # An abandon in a queue counts as offered even when its call_queued event is missing (quarantined at
    # landing): else queue outcomes could exceed calls offered. It is filed under the queue it was abandoned in.
    abandoned = F.coalesce(F.col("abandoned_in") == "queue", F.lit(False))  # null-safe: it is negated below
    queued = F.col("queued_at").isNotNull() | abandoned
    answered = F.col("queued_at").isNotNull() & F.col("answered_at").isNotNull()
    short = abandoned & (F.col("queue_wait_seconds") < config.short_abandon_seconds)
    outcomes = count_if(answered) + count_if(abandoned) - count_if(short)
    within = answered & (F.col("queue_wait_seconds") <= config.service_level_seconds)
    handled = F.col("ended_at").isNotNull() & F.col("answered_at").isNotNull()
    rows = (
        _periods(calls.withColumn("_queue", F.coalesce("queue_id", "abandoned_queue_id")), "call_date", "_queue")
        .groupBy(*GRAIN[:2], "month", "unit_id")
        .agg(
            F.count("*").alias("calls_offered"),
            count_if((F.col("ivr_outcome") == "self_served") & ~queued).alias("ivr_self_served"),
            count_if(F.col("abandoned_in") == "ivr").alias("ivr_abandoned"),
            count_if(queued).alias("offered_to_queue"), count_if(answered).alias("answered"),
            count_if(abandoned).alias("abandoned"), count_if(short).alias("short_abandons"),
            outcomes.alias("queue_outcomes"),
            ratio(count_if(abandoned) - count_if(short), outcomes).alias("abandonment_rate"),
            exact_mean(F.when(answered, F.col("queue_wait_seconds"))).alias("asa_seconds"),
            ratio(count_if(within), outcomes).alias("service_level"),
            F.sum("transfers").alias("transfers"),
            count_if(F.col("first_contact_resolved").isNotNull()).alias("fcr_eligible"),
            count_if(F.col("first_contact_resolved")).alias("fcr_resolved"),
            ratio(count_if(F.col("first_contact_resolved")), count_if(F.col("first_contact_resolved").isNotNull())).alias("fcr_rate"),
            exact_mean(F.when(handled, F.coalesce("talk_seconds", F.lit(0.0)) + F.coalesce("hold_seconds", F.lit(0.0))
                         + F.coalesce("wrap_seconds", F.lit(0.0)))).alias("aht_seconds"),
        )
        .withColumn("channel", F.lit("callcentre"))
        .withColumn("abandonment_ceiling", F.lit(config.abandonment_ceiling))
        .withColumn("abandonment_breach", F.col("abandonment_rate") > F.col("abandonment_ceiling"))
        .withColumn("service_level_target", F.lit(config.service_level_target))
        .withColumn("service_level_met", F.col("service_level") >= F.col("service_level_target"))
    )
    return rows


def _complete(rows: DataFrame) -> DataFrame:
    present = set(rows.columns)
    columns: list[Column] = [F.col(c) for c in GRAIN]
    columns += [F.col(name).cast(kind).alias(name) if name in present else F.lit(None).cast(kind).alias(name) for name, kind in MEASURES]
    return rows.select(*columns)


def with_first_contact_resolution(calls: DataFrame, window_days: int) -> DataFrame:
    """Add ``first_contact_resolved``: for an answered call of an identified customer with a contact
    reason, true when the same customer did not call again about the same reason within
    ``window_days`` after it (any later call with that reason); null for calls that are not eligible."""
    eligible = (F.col("customer_key").isNotNull() & F.col("contact_reason").isNotNull() & F.col("answered_at").isNotNull())
    reason_key = F.concat_ws("\u0001", "customer_key", "contact_reason")
    first = calls.where(eligible).select("call_id", reason_key.alias("_k"), F.col("offered_at").alias("_at"))
    later = calls.where(eligible).select(F.col("call_id").alias("_later_id"), reason_key.alias("_k"), F.col("offered_at").alias("_later_at"))
    repeated = (
        first.join(later, "_k")
        .where((F.col("_later_id") != F.col("call_id")) & (F.col("_later_at") > F.col("_at"))
               & (F.col("_later_at") <= F.col("_at") + F.expr(f"INTERVAL {int(window_days)} DAYS")))
        .select("call_id").distinct().withColumn("_repeated", F.lit(True))
    )
    return (calls.join(repeated, "call_id", "left")
            .withColumn("first_contact_resolved", F.when(eligible, F.col("_repeated").isNull()))
            .drop("_repeated"))

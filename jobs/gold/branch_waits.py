"""Mart ``branch_wait_by_hour``: how long counter customers wait, by the hour their ticket was issued.

One row per (``month``, ``branch_id``, ``hour_of_day``); ``branch_id = 'ALL'`` for every branch together.
Percentiles are exact (linear interpolation) over called tickets, so a branch manager sees the shape of
the wait at 09:00 versus 12:00, not only the month's mean. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from interaction_lake.business_calendar import local_hour
from interaction_lake.marts_config import MartsConfig
from jobs.gold.measures import count_if, each_and_all, exact_mean, month_of, ratio

ALL = "ALL"
PERCENTILES = (10, 25, 50, 75, 90)


def branch_wait_by_hour(visits: DataFrame, config: MartsConfig) -> DataFrame:
    issued = (visits.where(F.col("issued_at").isNotNull())
              .withColumn("month", month_of(F.col("visit_date")))
              .withColumn("hour_of_day", local_hour("issued_at", config.calendar, "branch_id")))  # the bank's clock, not UTC
    rows = each_and_all(issued, "branch_id", ALL)  # branch_id is the visit's key: never null
    called = F.col("called_at").isNotNull() & F.col("wait_seconds").isNotNull()
    wait = F.when(called, F.col("wait_seconds"))
    return rows.groupBy("month", "branch_id", "hour_of_day").agg(
        F.count("*").alias("tickets"),
        count_if(F.col("status") == "abandoned").alias("tickets_abandoned"),
        count_if(called).alias("tickets_called"),
        exact_mean(wait).alias("wait_mean_seconds"),
        *[F.percentile(wait, p / 100).alias(f"wait_p{p}_seconds") for p in PERCENTILES],
        ratio(count_if(called & (F.col("wait_seconds") <= config.counter_wait_target_seconds)), count_if(called))
        .alias("served_within_target_share"),
    )

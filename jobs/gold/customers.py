"""Customer-level building blocks for the marts: attributes as of a date, balances per month, interactions.

All pure functions of silver DataFrames. ``customer_key`` is the pseudonym silver gives customers;
nothing here reads or produces personal data.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake.marts_config import MartsConfig
from jobs.gold.measures import exact_sum, month_end

UNKNOWN = "unknown"
FAR_FUTURE = dt.date(9999, 12, 31)


def with_customer_attributes(rows: DataFrame, dim: DataFrame, date_column: str) -> DataFrame:
    """Add segment, home_branch_id and am_id from the customer_dim version valid on ``date_column``.

    A customer unknown on that date (no profile yet, or not identified) gets ``segment = 'unknown'``.
    """
    versions = dim.select(
        F.col("customer_key").alias("_dim_customer"), F.col("valid_from").alias("_valid_from"),
        F.coalesce("valid_to", F.lit(FAR_FUTURE)).alias("_valid_to"),
        F.col("segment").alias("_segment"), F.col("home_branch_id").alias("_home_branch_id"), F.col("am_id").alias("_am_id"),
    )
    joined = rows.join(
        versions,
        (F.col("customer_key") == F.col("_dim_customer")) & (F.col("_valid_from") <= F.col(date_column))
        & (F.col(date_column) < F.col("_valid_to")),
        "left",
    )
    return (joined.withColumn("segment", F.coalesce("_segment", F.lit(UNKNOWN)))
            .withColumn("home_branch_id", F.col("_home_branch_id"))
            .withColumn("am_id", F.col("_am_id"))
            .drop("_dim_customer", "_valid_from", "_valid_to", "_segment", "_home_branch_id", "_am_id"))


def months_frame(spark: SparkSession, months: list[dt.date]) -> DataFrame:
    return spark.createDataFrame([(m,) for m in months], T.StructType([T.StructField("month", T.DateType(), False)]))


def monthly_balances(holdings: DataFrame, months: DataFrame) -> DataFrame:
    """Per month and customer: the holdings of the latest snapshot taken on or before the month end.

    Snapshots are bank-wide (every customer on the same snapshot date), so a customer absent from the
    month's snapshot holds nothing that month. ``balance_snapshot_date`` says which snapshot was used;
    for a month still in progress it is the previous month end.
    """
    snapshot_dates = holdings.select("snapshot_date").distinct()
    chosen = (months.join(snapshot_dates, F.col("snapshot_date") <= month_end(F.col("month")))
              .groupBy("month").agg(F.max("snapshot_date").alias("balance_snapshot_date")))
    family = F.col("product_family")
    return (
        holdings.drop("month").join(chosen, F.col("snapshot_date") == F.col("balance_snapshot_date"))
        .groupBy("month", "customer_key", "balance_snapshot_date")
        .agg(
            exact_sum(F.when(family == "deposit", F.col("balance")).otherwise(0.0)).alias("deposit_balance"),
            exact_sum(F.when(family == "loan", F.col("balance")).otherwise(0.0)).alias("loan_balance"),
            exact_sum(F.when(family == "investment", F.col("balance")).otherwise(0.0)).alias("investment_balance"),
            exact_sum("balance").alias("total_balance"),
            F.count("product_code").alias("product_count"),
            exact_sum(F.col("balance") * F.col("interest_margin_rate") / 12).alias("net_interest_income"),
            exact_sum("monthly_fees").alias("fee_income"),
        )
        .withColumn("aum", F.col("deposit_balance") + F.col("investment_balance"))
    )


def interactions(visits: DataFrame, calls: DataFrame, contacts: DataFrame) -> DataFrame:
    """Every interaction of an identified customer: (customer_key, interaction_date, channel).

    Channels are the cost-to-serve channels: ``counter``; ``call_self_service`` (ended in the IVR, never
    queued) or ``call_agent``; ``am_visit`` / ``am_call`` / ``am_event`` for achieved account-manager contacts.
    """
    counter = visits.where(F.col("customer_key").isNotNull()).select(
        "customer_key", F.col("visit_date").alias("interaction_date"), F.lit("counter").alias("channel"))
    call = calls.where(F.col("customer_key").isNotNull()).select(
        "customer_key", F.col("call_date").alias("interaction_date"),
        F.when(F.col("queued_at").isNull() & F.col("ivr_outcome").isin("self_served", "hung_up"), "call_self_service")
        .otherwise("call_agent").alias("channel"))
    am = contacts.where(F.col("customer_key").isNotNull() & (F.col("outcome") == "achieved")).select(
        "customer_key", F.col("contact_date").alias("interaction_date"), F.concat(F.lit("am_"), F.col("channel")).alias("channel"))
    return counter.unionByName(call).unionByName(am)


def cost_to_serve(channel_column: str, config: MartsConfig):
    """The configured cost of one interaction on the channel (0 for a channel without a price)."""
    expression = F.lit(0.0)
    for channel, cost in sorted(config.cost_to_serve.items()):
        expression = F.when(F.col(channel_column) == channel, F.lit(float(cost))).otherwise(expression)
    return expression

"""Customer-level building blocks for the marts: attributes as of a date, balances per month, interactions.

All pure functions of silver DataFrames. ``customer_key`` is the pseudonym silver gives customers;
nothing here reads or produces personal data.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake.marts_config import MartsConfig
from jobs.gold.measures import EXACT, decimal_literal, money, money_sum, month_end

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


def fx_rate(config: MartsConfig) -> Column:
    """Units of the reporting currency per unit of the holding's ``currency``: 1 for the reporting currency (and for a
    holding that names none), the configured rate for another, null where no rate is configured."""
    currency = F.col("currency")
    rate = F.when(currency.isNull() | (currency == F.lit(config.reporting_currency)), decimal_literal(1))
    for code, value in sorted(config.fx_rates.items()):
        rate = rate.when(currency == F.lit(code), decimal_literal(value))
    return rate


def holding_amounts(holdings: DataFrame, config: MartsConfig) -> DataFrame:
    """Each holding's money in the reporting currency, exact: ``_balance``, ``_income`` (net interest: as booked, else the
    month's share of balance x margin rate) and ``_fees`` (as booked, else the configured monthly fees); all null where
    the currency has no rate (``_convertible`` false)."""
    rate = fx_rate(config)
    balance = F.col("balance").cast(EXACT)
    income = F.coalesce(F.col("interest_booked").cast(EXACT),
                        (F.col("balance").cast("decimal(22,6)") * F.col("interest_margin_rate").cast("decimal(14,8)")).cast(EXACT) / 12)
    fees = F.coalesce(F.col("fees_booked").cast(EXACT), F.col("monthly_fees").cast(EXACT))

    def converted(amount: Column) -> Column:
        return (amount.cast("decimal(24,8)") * rate.cast("decimal(14,8)")).cast(EXACT)

    return (holdings.withColumn("_convertible", rate.isNotNull())
            .withColumn("_balance", converted(balance)).withColumn("_income", converted(income)).withColumn("_fees", converted(fees)))


def snapshot_of_months(holdings: DataFrame, months: DataFrame) -> DataFrame:
    """(month, balance_snapshot_date): the latest holdings snapshot taken on or before each month's end."""
    snapshot_dates = holdings.select("snapshot_date").distinct()
    return (months.join(snapshot_dates, F.col("snapshot_date") <= month_end(F.col("month")))
            .groupBy("month").agg(F.max("snapshot_date").alias("balance_snapshot_date")))


def monthly_balances(holdings: DataFrame, months: DataFrame, config: MartsConfig, chosen: DataFrame | None = None) -> DataFrame:
    """Per month and customer: the holdings of the latest snapshot taken on or before the month end, in the reporting
    currency.

    Snapshots are bank-wide (every customer on the same snapshot date), so a customer absent from the
    month's snapshot holds nothing that month. ``balance_snapshot_date`` says which snapshot was used;
    for a month still in progress it is the previous month end. A holding whose currency has no rate is left
    out of the sums and counted in ``unconverted_holdings``. ``chosen``: ``snapshot_of_months``, if the caller has it
    (it must have it when ``holdings`` are some customers' only: the snapshot is the bank's).
    """
    chosen = snapshot_of_months(holdings, months) if chosen is None else chosen
    family = F.col("product_family")
    zero = F.lit(0).cast(EXACT)
    return (
        holding_amounts(holdings, config).drop("month").join(chosen, F.col("snapshot_date") == F.col("balance_snapshot_date"))
        .groupBy("month", "customer_key", "balance_snapshot_date")
        .agg(
            money_sum(F.when(family == "deposit", F.col("_balance")).otherwise(zero)).alias("deposit_balance"),
            money_sum(F.when(family == "loan", F.col("_balance")).otherwise(zero)).alias("loan_balance"),
            money_sum(F.when(family == "investment", F.col("_balance")).otherwise(zero)).alias("investment_balance"),
            money_sum(F.coalesce("_balance", zero)).alias("total_balance"),
            F.count("*").alias("product_count"),
            money_sum(F.coalesce("_income", zero)).alias("net_interest_income"),
            money_sum(F.coalesce("_fees", zero)).alias("fee_income"),
            F.sum(F.when(~F.col("_convertible"), 1).otherwise(0)).alias("unconverted_holdings"),
        )
        .withColumn("aum", money(F.col("deposit_balance") + F.col("investment_balance")))
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
    """The configured cost of one interaction on the channel, an exact decimal (0 for a channel without a price)."""
    expression = decimal_literal(0)
    for channel, cost in sorted(config.cost_to_serve.items()):
        expression = F.when(F.col(channel_column) == channel, decimal_literal(cost)).otherwise(expression)
    return expression

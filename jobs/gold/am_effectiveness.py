"""Mart ``am_effectiveness``: the relationship-maintenance indicators banks review account managers by.

Per account manager and month (a contact counts in the month of its completion, or of its planning
while still open): contacts planned, logged and achieved, achievement rate, new customer information
captured, sales opportunities and those needing follow-up, and the balance evolution of the customers
the manager met compared with the manager's whole book. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations


from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.gold.customers import with_customer_attributes
from jobs.gold.measures import MONEY, count_if, joined_key, money_sum, month_end, month_of, ratio, union_all

COLUMNS = ("month", "am_id", "contacts_planned", "contacts_logged", "contacts_achieved", "contact_achievement_rate",
           "no_shows", "new_info_captured", "new_info_rate", "customers_contacted", "opportunities", "opportunity_value",
           "opportunities_to_follow_up", "book_customers", "contacted_balance_start", "contacted_balance_end",
           "contacted_balance_change_pct", "book_balance_start", "book_balance_end", "book_balance_change_pct")


def am_effectiveness(contacts: DataFrame, balances: DataFrame, dim: DataFrame, months: list) -> DataFrame:
    """``balances``: (month, customer_key, total_balance) of :func:`jobs.gold.customers.monthly_balances`'s rows (each
    customer in the month's balance snapshot) for ``months`` and the month before."""
    contacts = contacts.withColumn("month", month_of(F.col("contact_date"))).where(F.col("month").isin(*months))
    achieved = F.col("outcome") == "achieved"
    activity = contacts.groupBy("month", "am_id").agg(
        count_if(F.col("planned_at").isNotNull()).alias("contacts_planned"),
        count_if(F.col("completed_at").isNotNull()).alias("contacts_logged"),
        count_if(achieved).alias("contacts_achieved"),
        ratio(count_if(achieved), count_if(F.col("completed_at").isNotNull())).alias("contact_achievement_rate"),
        count_if(F.col("outcome") == "no_show").alias("no_shows"),
        count_if(F.col("new_info_captured")).alias("new_info_captured"),
        ratio(count_if(F.col("new_info_captured")), count_if(achieved)).alias("new_info_rate"),
        F.countDistinct(F.when(achieved, F.col("customer_key"))).alias("customers_contacted"),
        count_if(F.col("opportunity_product_family").isNotNull()).alias("opportunities"),
        F.coalesce(money_sum("opportunity_value"), F.lit(0).cast(MONEY)).alias("opportunity_value"),
        count_if(F.col("opportunity_follow_up_by").isNotNull()).alias("opportunities_to_follow_up"),
    )
    met = contacts.where(achieved).select("month", "am_id", "customer_key").distinct()
    book = (
        with_customer_attributes(balances.where(F.col("month").isin(*months)).select("month", "customer_key")
                                 .withColumn("_month_end", month_end(F.col("month"))), dim, "_month_end")
        .where(F.col("am_id").isNotNull()).select("month", "am_id", "customer_key")
    )
    # Each part fills its own columns of the (month, am_id) row; collapsing the union joins them without a join.
    parts = [activity, _balance_evolution(met, balances, "contacted").drop("contacted_customers"),
             _balance_evolution(book, balances, "book")]
    union = union_all(*parts)
    measures = [c for c in COLUMNS if c not in ("month", "am_id")]
    return (
        union.groupBy("month", "am_id").agg(*[F.max(c).alias(c) for c in measures])
        .fillna(0, subset=["contacts_planned", "contacts_logged", "contacts_achieved", "no_shows", "new_info_captured",
                           "customers_contacted", "opportunities", "opportunities_to_follow_up", "book_customers"])
        .withColumn("opportunity_value", F.coalesce("opportunity_value", F.lit(0).cast(MONEY)))
        .select(*COLUMNS)
    )


def _balance_evolution(members: DataFrame, balances: DataFrame, prefix: str) -> DataFrame:
    """Total balance of the members at the previous month end and at this month end (null until the
    month-end snapshot has arrived), and the change in percent."""
    end = balances.select(joined_key("month", "customer_key").alias("_k"), F.col("total_balance").alias("_end"),
                          (F.col("balance_snapshot_date") == month_end(F.col("month"))).alias("_closed"))
    start = balances.select(joined_key(F.add_months("month", 1), "customer_key").alias("_k"), F.col("total_balance").alias("_start"))
    joined = (members.withColumn("_k", joined_key("month", "customer_key"))
              .join(end, "_k", "left").join(start, "_k", "left"))
    grouped = joined.groupBy("month", "am_id").agg(
        F.countDistinct("customer_key").alias(f"{prefix}_customers"),
        money_sum("_start").alias(f"{prefix}_balance_start"),  # null when there was no snapshot the month before
        F.when(F.max(F.col("_closed").cast("int")) == 1, F.coalesce(money_sum("_end"), F.lit(0).cast(MONEY))).alias(f"{prefix}_balance_end"),
    )
    pct = ratio(F.col(f"{prefix}_balance_end") - F.col(f"{prefix}_balance_start"), F.col(f"{prefix}_balance_start")) * 100
    return grouped.withColumn(f"{prefix}_balance_change_pct", pct)

"""The DataFrame each suite validates: a table's new output plus the derived columns its checks need.

Great Expectations validates one dataset at a time, so cross-row and cross-table rules (lifecycle
order, one current version per customer, reconciliation with silver) become boolean or numeric
columns computed here with plain Spark and checked in the suite (``_ordered``, ``_matches_silver``...).
Names starting with ``_`` exist only in the gate's view, never in the tables.
"""

from __future__ import annotations

import functools

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.gold.measures import joined_key, with_day_and_month


def _customer_known(rows: DataFrame, dim: DataFrame | None) -> DataFrame:
    """``_identified``: the event or fact names a customer at all (unidentified callers and walk-ins exist, and are
    judged explicitly); ``_customer_known``: an identified customer has a profile (null when unidentified, so an
    unidentified fact never passes or fails referential integrity by accident)."""
    rows = rows.withColumn("_identified", F.col("customer_key").isNotNull())
    if dim is None:
        return rows.withColumn("_customer_known", F.lit(None).cast("boolean"))
    known = dim.select(F.col("customer_key").alias("_known_key")).distinct()
    return (rows.join(known, F.col("customer_key") == F.col("_known_key"), "left")
            .withColumn("_customer_known", F.when(F.col("customer_key").isNotNull(), F.col("_known_key").isNotNull()))
            .drop("_known_key"))


def _lifecycle_ok(name: str, skew_seconds: float) -> Column:
    """True when the fact breaks none of its lifecycle rules: the stored table must hold no fact the build would
    have quarantined (the build and the gate use the one definition, ``lifecycles.broken_rule``)."""
    from jobs.silver.lifecycles import FACTS, broken_rule

    rule, _ = broken_rule(next(f for f in FACTS if f.name == name), skew_seconds)
    return rule.isNull()


def bronze_events(rows: DataFrame, quarantined_share: float = 0.0) -> DataFrame:
    """A batch's bronze rows, with each event's arrival lag and the share of the batch's records quarantined at
    landing (the same on every row: the suite judges it with ``expect_column_max_to_be_between``)."""
    lag = (F.unix_micros(F.col("_ingested_at")) - F.unix_micros(F.col("occurred_at"))) / 3_600_000_000
    return rows.withColumn("_arrival_lag_hours", lag).withColumn("_batch_quarantined_share", F.lit(float(quarantined_share)))


def silver_events(rows: DataFrame) -> DataFrame:
    return rows.withColumn("_identified", F.col("customer_key").isNotNull())


def facts_quarantined(stored: DataFrame, quarantined: DataFrame | None) -> DataFrame:
    """One row per fact in the validated partitions, stored (``_quarantined`` 0) or held in ``quarantine/silver_facts``
    (1, with the rule it broke): the suite judges the mean, i.e. the share quarantined."""
    view = stored.select(F.lit(0).alias("_quarantined"), F.lit(None).cast("string").alias("rule"))
    if quarantined is not None:
        view = view.unionByName(quarantined.select(F.lit(1).alias("_quarantined"), "rule"))
    return view


def silver_fact(name: str, rows: DataFrame, dim: DataFrame | None, skew_seconds: float = 0.0) -> DataFrame:
    if name in ("counter_visit", "call", "survey_response", "complaint"):
        rows = _customer_known(rows, dim).withColumn("_ordered", _lifecycle_ok(name, skew_seconds))
        return rows.withColumn("_key", joined_key("branch_id", "ticket_id")) if name == "counter_visit" else rows
    if name == "am_contact":
        return _customer_known(rows, dim)
    if name == "product_holding":
        return rows.withColumn("_key", joined_key("customer_key", "snapshot_date", "holding_id"))
    if name == "customer_dim":
        current = F.sum(F.col("is_current").cast("int")).over(Window.partitionBy("customer_key"))
        return (rows.withColumn("_key", joined_key("customer_key", "valid_from"))
                .withColumn("_ordered", F.coalesce(F.col("valid_to") > F.col("valid_from"), F.lit(True)))
                .withColumn("_current_versions", current))
    raise KeyError(name)


def gold_mart(name: str, rows: DataFrame, silver: dict[str, DataFrame], published: dict[str, DataFrame]) -> DataFrame:
    """``silver``: the facts the marts were computed from; ``published``: the other staged marts of the run."""
    if name == "customer_value":
        total = F.sum("contribution_share").over(Window.partitionBy("month"))
        any_positive = F.max(F.col("contribution") > 0).over(Window.partitionBy("month"))
        return (rows.withColumn("_key", joined_key("month", "customer_key"))
                .withColumn("_month_share_total", F.when(any_positive, total).otherwise(F.lit(1.0))))
    if name == "value_tier_migration":
        expected = published["customer_value"].groupBy("month").agg(F.count("*").alias("_customers_in_value"))
        counted = rows.groupBy("month").agg(F.sum("customers").alias("_customers_migrating"))
        check = (counted.join(expected, "month", "full")
                 .select(F.col("month").alias("_m"), (F.coalesce("_customers_migrating", F.lit(0))
                                                      == F.coalesce("_customers_in_value", F.lit(0))).alias("_matches_customer_value")))
        return rows.join(check, F.col("month") == F.col("_m"), "left").drop("_m")
    if name == "service_quality":
        return _service_reconciled(rows, silver)
    if name == "satisfaction":
        return (_satisfaction_days_add_up(rows).withColumn("_key", joined_key("period", "period_start", "channel", "branch_id", "segment"))
                .withColumn("_counts_reconcile", (F.col("promoters") + F.col("passives") + F.col("detractors") == F.col("nps_responses"))
                            & (F.col("nps_responses") <= F.col("responses")) & (F.col("responses") <= F.col("surveys_sent"))))
    if name == "am_effectiveness":
        return (rows.withColumn("_key", joined_key("month", "am_id"))
                .withColumn("_counts_reconcile", (F.col("contacts_achieved") <= F.col("contacts_logged"))
                            & (F.col("customers_contacted") <= F.col("contacts_achieved"))))
    if name == "branch_wait_by_hour":
        # reconciles: the ALL rows of a month count every ticket issued in it that silver holds
        issued = silver["counter_visit"].where(F.col("issued_at").isNotNull())
        expected = issued.groupBy(F.trunc("visit_date", "month").alias("_m")).agg(F.count("*").alias("_silver_tickets"))
        counted = (rows.where(F.col("branch_id") == "ALL").groupBy(F.col("month").alias("_m")).agg(F.sum("tickets").alias("_all_tickets"))
                   .join(expected, "_m", "left")
                   .select("_m", (F.col("_all_tickets") == F.coalesce("_silver_tickets", F.lit(0))).alias("_matches_silver")))
        return (rows.join(counted, F.col("month") == F.col("_m"), "left").drop("_m")
                .withColumn("_key", joined_key("month", "branch_id", "hour_of_day"))
                .withColumn("_percentiles_ordered", F.coalesce((F.col("wait_p10_seconds") <= F.col("wait_p25_seconds"))
                                                               & (F.col("wait_p25_seconds") <= F.col("wait_p50_seconds"))
                                                               & (F.col("wait_p50_seconds") <= F.col("wait_p75_seconds"))
                                                               & (F.col("wait_p75_seconds") <= F.col("wait_p90_seconds")), F.lit(True))))
    if name == "key_customers_at_risk":
        return rows
    raise KeyError(name)


SATISFACTION_COUNTS = ("surveys_sent", "responses", "csat_responses", "nps_responses", "complaints_opened", "complaints_resolved")


def _satisfaction_days_add_up(rows: DataFrame) -> DataFrame:
    """``_days_add_up``: a month row counts exactly what its day rows count (a day row: true)."""
    cell = joined_key("month", "channel", "branch_id", "segment")
    days = (rows.where(F.col("period") == "day").groupBy(cell.alias("_cell"))
            .agg(*[F.sum(c).alias(f"_days_{c}") for c in SATISFACTION_COUNTS]))
    same = [F.coalesce(F.col(f"_days_{c}"), F.lit(0)) == F.col(c) for c in SATISFACTION_COUNTS]
    return (rows.join(days, cell == F.col("_cell"), "left")
            .withColumn("_days_add_up", F.when(F.col("period") == "month", functools.reduce(lambda a, b: a & b, same))
                        .otherwise(F.lit(True)))
            .drop("_cell", *[f"_days_{c}" for c in SATISFACTION_COUNTS]))


def _service_reconciled(rows: DataFrame, silver: dict[str, DataFrame]) -> DataFrame:
    """ALL rows must count exactly what silver holds for the period; unit rows are checked by their own sums."""
    def counts(frame: DataFrame, date_column: str, channel: str) -> DataFrame:  # one pass over the facts
        return (with_day_and_month(frame.select(date_column), date_column)
                .groupBy(F.col("period").alias("_period"), F.col("period_start").alias("_start")).agg(F.count("*").alias("_n"))
                .withColumn("_channel", F.lit(channel)))

    silver_counts = counts(silver["counter_visit"], "visit_date", "counter").unionByName(counts(silver["call"], "call_date", "callcentre"))
    silver_counts = silver_counts.select(joined_key("_period", "_start", "_channel").alias("_pk"), "_n")
    measured = F.when(F.col("channel") == "counter", F.col("tickets")).otherwise(F.col("calls_offered"))
    outcomes = F.when(F.col("channel") == "callcentre",
                      (F.col("queue_outcomes") == F.col("answered") + F.col("abandoned") - F.col("short_abandons"))
                      & (F.col("queue_outcomes") <= F.col("offered_to_queue")))
    return (rows.withColumn("_key", joined_key("period", "period_start", "channel", "unit_id"))
            .withColumn("_pk", joined_key("period", "period_start", "channel"))
            .join(silver_counts, "_pk", "left")
            .withColumn("_matches_silver", F.when(F.col("unit_id") == "ALL", measured == F.coalesce(F.col("_n"), F.lit(0))))
            .withColumn("_outcomes_reconcile", outcomes)
            .drop("_pk", "_n"))

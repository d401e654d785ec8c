"""RFM scores: ``customer_value.score_customers`` ranks by contribution from the sort its tiers need rather than a
sort of its own; every score must equal the glossary's definition -- ``percent_rank`` within the month, by recency
(more recent higher; none = 1), by ``interactions``, by ``contribution``, equal values sharing the lower rank --
computed here as plain windows, on months full of ties, zero and negative contributions, customers without recency,
and months of one customer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st
from pyspark.sql import Window
from pyspark.sql import functions as F

from interaction_lake.marts_config import MartsConfig
from jobs.gold.customer_value import score_customers
from jobs.gold.measures import MONEY, score_1_to_5

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
SCHEMA = f"month date, customer_key string, contribution {MONEY}, interactions int, recency_days int"

customer = st.tuples(st.sampled_from((OCT, NOV)),
                     st.sampled_from((Decimal("-3.50"), Decimal(0), Decimal("0.01"), Decimal("12.00"), Decimal("12.01"), Decimal(900))),
                     st.integers(0, 4), st.one_of(st.none(), st.integers(0, 5)))


def reference_scores(rows):
    """The definition, one window per score (the code before it shared the tiers' sort)."""
    month = Window.partitionBy("month")
    has_recency = Window.partitionBy("month", F.col("recency_days").isNull()).orderBy(F.col("recency_days").desc())
    return rows.select(
        "month", "customer_key",
        F.when(F.col("recency_days").isNull(), 1).otherwise(score_1_to_5(F.percent_rank().over(has_recency))).alias("r_score"),
        score_1_to_5(F.percent_rank().over(month.orderBy("interactions"))).alias("f_score"),
        score_1_to_5(F.percent_rank().over(month.orderBy("contribution"))).alias("m_score"))


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(customer, min_size=1, max_size=40))
@example([(OCT, Decimal(5), 1, None)])  # a month of one customer: percent rank 0
@example([(OCT, Decimal(5), 1, 2), (OCT, Decimal(5), 1, 2), (NOV, Decimal(-1), 0, None)])  # all tied
def test_rfm_scores_equal_the_windows_of_their_definition(spark, customers):
    frame = spark.createDataFrame([(m, f"c{n:03d}", c, i, r) for n, (m, c, i, r) in enumerate(customers)], SCHEMA)
    reference, scored = reference_scores(frame), score_customers(frame, MartsConfig())
    assert scored.schema["m_score"].dataType == reference.schema["m_score"].dataType
    assert (sorted(tuple(r) for r in scored.select("month", "customer_key", "r_score", "f_score", "m_score").collect())
            == sorted(tuple(r) for r in reference.collect()))


"""Mart ``satisfaction``: CSAT, NPS, effort, response rate and complaint handling per day and per month, channel,
branch, segment.

One row per (``period``, ``period_start``, ``channel``, ``branch_id``, ``segment``); ``period`` is ``day`` or
``month``, as in ``service_quality``: the day rows give a short history a trend of more than one point (the report
sums them into weeks). Surveys count in the day and month they were sent, complaints in the day and month they were
opened (a later resolution updates those rows). ``branch_id`` is the branch of the surveyed interaction where there
is one (counter surveys), else the customer's home branch; complaints use the home branch.
``segment`` is the customer's segment on the survey's or complaint's date. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from interaction_lake.marts_config import MartsConfig
from jobs.gold.customers import UNKNOWN, with_customer_attributes
from jobs.gold.measures import count_if, exact_mean, ratio, union_all, with_day_and_month

GRAIN = ("period", "period_start", "month", "channel", "branch_id", "segment")
COLUMNS = (*GRAIN, "surveys_sent", "responses", "response_rate", "csat_responses", "csat_satisfied", "csat",
           "nps_responses", "promoters", "passives", "detractors", "nps", "effort_score_mean",
           "complaints_opened", "complaints_resolved", "complaints_open", "complaints_upheld",
           "mean_hours_to_resolve", "resolved_within_target", "resolved_within_target_share")


def satisfaction(surveys: DataFrame, complaints: DataFrame, dim: DataFrame, config: MartsConfig) -> DataFrame:
    survey_rows = (
        with_customer_attributes(surveys, dim, "survey_date")
        .select(F.col("survey_date").alias("_date"), "channel",
                F.coalesce("branch_id", "home_branch_id", F.lit(UNKNOWN)).alias("branch_id"), "segment",
                F.lit(1).alias("_survey"), F.col("responded_at").isNotNull().alias("_responded"), "csat", "nps", "effort_score")
    )
    complaint_rows = (
        with_customer_attributes(complaints, dim, "opened_date")
        .select(F.col("opened_date").alias("_date"), "channel",
                F.coalesce("home_branch_id", F.lit(UNKNOWN)).alias("branch_id"), "segment",
                F.lit(1).alias("_complaint"), "status", "upheld", "hours_to_resolve")
    )
    rows = with_day_and_month(union_all(survey_rows, complaint_rows).fillna(UNKNOWN, subset=["channel"]), "_date")
    resolved = F.col("status") == "resolved"
    in_target = resolved & (F.col("hours_to_resolve") <= config.complaint_target_hours)
    promoters, detractors, rated = count_if(F.col("nps") >= 9), count_if(F.col("nps") <= 6), count_if(F.col("nps").isNotNull())
    return (
        rows.groupBy(*GRAIN)
        .agg(
            count_if(F.col("_survey") == 1).alias("surveys_sent"),
            count_if(F.col("_responded")).alias("responses"),
            ratio(count_if(F.col("_responded")), count_if(F.col("_survey") == 1)).alias("response_rate"),
            count_if(F.col("csat").isNotNull()).alias("csat_responses"),
            count_if(F.col("csat") >= 4).alias("csat_satisfied"),
            ratio(count_if(F.col("csat") >= 4), count_if(F.col("csat").isNotNull())).alias("csat"),
            rated.alias("nps_responses"), promoters.alias("promoters"),
            count_if(F.col("nps").between(7, 8)).alias("passives"), detractors.alias("detractors"),
            (ratio(promoters - detractors, rated) * 100).alias("nps"),
            exact_mean("effort_score").alias("effort_score_mean"),
            count_if(F.col("_complaint") == 1).alias("complaints_opened"),
            count_if(resolved).alias("complaints_resolved"),
            count_if((F.col("_complaint") == 1) & ~resolved).alias("complaints_open"),
            count_if(F.col("upheld")).alias("complaints_upheld"),
            exact_mean(F.when(resolved, F.col("hours_to_resolve"))).alias("mean_hours_to_resolve"),
            count_if(in_target).alias("resolved_within_target"),
            ratio(count_if(in_target), count_if(resolved)).alias("resolved_within_target_share"),
        )
        .select(*COLUMNS)
    )

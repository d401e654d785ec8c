"""Lifecycle facts assembled from silver events: one row per visit, call, survey, complaint, contact.

Each fact row is a pure function of *all* events with its key, whatever order they arrived in, so
rebuilding the affected keys after a late event gives the same row a full replay gives. A
lifecycle missing its closing event has status ``open`` and closes when the event arrives.

Each fact also has lifecycle rules (``broken_rule``): its key is complete, its opening event is there,
its steps are in order within the configured clock-skew tolerance. A fact that breaks one is not a row
of the fact table but of ``quarantine/silver_facts`` (``jobs/silver/build.py``), until events that mend it
arrive (a late opening event) -- so one skewed call never stops the table, and an orphan never counts as
complete.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
from typing import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from interaction_lake.business_calendar import UTC, local_date


def _is(event_type: str | tuple[str, ...]) -> Column:
    return F.col("event_type").isin(*((event_type,) if isinstance(event_type, str) else event_type))


def at(event_type: str | tuple[str, ...]) -> Column:
    """When the first event of this type happened."""
    return F.min(F.when(_is(event_type), F.col("occurred_at")))


def last_at(event_type: str) -> Column:
    return F.max(F.when(_is(event_type), F.col("occurred_at")))


def value(event_type: str | tuple[str, ...], column: str, last: bool = False) -> Column:
    """The column's value on the first (or last) event of this type."""
    return (F.max_by if last else F.min_by)(F.col(column), F.when(_is(event_type), F.col("occurred_at")))


def _gap(later: str, earlier: str) -> Column:
    return (F.unix_micros(F.col(later)) - F.unix_micros(F.col(earlier))) / 1_000_000


def seconds(later: str, earlier: str) -> Column:
    """The duration between two steps, in seconds. A step before its predecessor by less than the skew
    tolerance counts as 0 (beyond it, ``broken_rule`` quarantines the fact, so no negative duration is kept)."""
    gap = _gap(later, earlier)
    return F.when(gap < 0, F.lit(0.0)).otherwise(gap)


def customer() -> Column:
    return F.max("customer_key")


def counter_visit(events: DataFrame, tz: str = UTC) -> DataFrame:
    return (
        events.groupBy("branch_id", "ticket_id")
        .agg(
            customer().alias("customer_key"),
            value("ticket_issued", "service_type").alias("service_type"),
            value("ticket_issued", "queue_position").alias("queue_position_at_issue"),
            at("ticket_issued").alias("issued_at"),
            at("ticket_called").alias("called_at"),
            at("service_started").alias("started_at"),
            at("service_completed").alias("completed_at"),
            at("ticket_abandoned").alias("abandoned_at"),
            value("ticket_called", "teller_id").alias("teller_id"),
            value("ticket_called", "counter_id").alias("counter_id"),
            F.count("*").alias("events"),
            F.min("occurred_at").alias("_first_event_at"),
        )
        .withColumn("visit_date", local_date(F.coalesce("issued_at", "_first_event_at"), tz, "branch_id"))
        .withColumn("status", F.when(F.col("completed_at").isNotNull(), "completed")
                    .when(F.col("abandoned_at").isNotNull(), "abandoned").otherwise("open"))
        .withColumn("wait_seconds", F.coalesce(seconds("called_at", "issued_at"), seconds("abandoned_at", "issued_at")))
        .withColumn("service_seconds", seconds("completed_at", "started_at"))
        .drop("_first_event_at")
    )


def call(events: DataFrame, tz: str = UTC) -> DataFrame:
    facts = (
        events.groupBy("call_id")
        .agg(
            customer().alias("customer_key"),
            at("call_offered").alias("offered_at"),
            at("ivr_exited").alias("ivr_exited_at"),
            value("ivr_exited", "ivr_outcome").alias("ivr_outcome"),
            at("call_queued").alias("queued_at"),
            value("call_queued", "queue_id").alias("queue_id"),
            value("call_queued", "priority").alias("priority"),
            at("call_answered").alias("answered_at"),
            at("call_abandoned").alias("abandoned_at"),
            value("call_abandoned", "queue_id").alias("abandoned_queue_id"),
            F.sum(F.when(F.col("event_type") == "call_transferred", 1).otherwise(0)).alias("transfers"),
            value(("call_answered", "call_ended", "call_wrapped_up"), "agent_id", last=True).alias("agent_id"),
            last_at("call_ended").alias("ended_at"),
            F.sum(F.when(F.col("event_type") == "call_ended", F.col("talk_seconds"))).alias("talk_seconds"),
            F.sum(F.when(F.col("event_type") == "call_ended", F.col("hold_seconds"))).alias("hold_seconds"),
            F.sum(F.when(F.col("event_type") == "call_wrapped_up", F.col("wrap_seconds"))).alias("wrap_seconds"),
            value("call_wrapped_up", "contact_reason", last=True).alias("contact_reason"),
            value("call_wrapped_up", "resolution", last=True).alias("resolution"),
            F.count("*").alias("events"),
            F.min("occurred_at").alias("_first_event_at"),
        )
    )
    return (
        facts.withColumn("call_date", local_date(F.coalesce("offered_at", "_first_event_at"), tz))
        .withColumn("abandoned_in", F.when(F.col("ivr_outcome") == "hung_up", "ivr")
                    .when(F.col("abandoned_at").isNotNull() & F.col("answered_at").isNull(), "queue"))
        .withColumn("queue_wait_seconds", F.when(F.col("queued_at").isNotNull(),
                    F.coalesce(seconds("answered_at", "queued_at"), seconds("abandoned_at", "queued_at"))))
        .withColumn("status", F.when(F.col("ended_at").isNotNull() | (F.col("ivr_outcome") == "hung_up"), "ended")
                    .when(F.col("abandoned_in").isNotNull(), "abandoned").otherwise("open"))
        .drop("_first_event_at")
    )


def survey_response(events: DataFrame, tz: str = UTC) -> DataFrame:
    surveys = events.where(F.col("event_type").isin("survey_sent", "survey_responded"))
    return (
        surveys.groupBy("survey_id")
        .agg(
            customer().alias("customer_key"),
            at("survey_sent").alias("sent_at"),
            value("survey_sent", "channel").alias("channel"),
            value("survey_sent", "interaction_ref").alias("interaction_ref"),
            value("survey_sent", "branch_id").alias("branch_id"),
            at("survey_responded").alias("responded_at"),
            value("survey_responded", "csat").alias("csat"),
            value("survey_responded", "nps").alias("nps"),
            value("survey_responded", "effort_score").alias("effort_score"),
            value("survey_responded", "has_comment").alias("has_comment"),
            value("survey_responded", "complaint_flag").alias("complaint_flag"),
            F.min("occurred_at").alias("_first_event_at"),
        )
        .withColumn("survey_date", local_date(F.coalesce("sent_at", "_first_event_at"), tz, "branch_id"))
        .withColumn("status", F.when(F.col("responded_at").isNotNull(), "responded").otherwise("open"))
        .drop("_first_event_at")
    )


def complaint(events: DataFrame, tz: str = UTC) -> DataFrame:
    complaints = events.where(F.col("event_type").startswith("complaint_"))
    return (
        complaints.groupBy("complaint_id")
        .agg(
            customer().alias("customer_key"),
            at("complaint_opened").alias("opened_at"),
            value("complaint_opened", "channel").alias("channel"),
            value("complaint_opened", "category").alias("category"),
            value("complaint_opened", "severity").alias("severity"),
            F.sum(F.when(F.col("event_type") == "complaint_escalated", 1).otherwise(0)).alias("escalations"),
            F.max(F.when(F.col("event_type") == "complaint_escalated", F.col("escalation_level"))).alias("max_escalation_level"),
            at("complaint_resolved").alias("resolved_at"),
            value("complaint_resolved", "upheld").alias("upheld"),
            F.min("occurred_at").alias("_first_event_at"),
        )
        .withColumn("opened_date", local_date(F.coalesce("opened_at", "_first_event_at"), tz))
        .withColumn("status", F.when(F.col("resolved_at").isNotNull(), "resolved").otherwise("open"))
        .withColumn("hours_to_resolve", seconds("resolved_at", "opened_at") / 3600)
        .drop("_first_event_at")
    )


def am_contact(events: DataFrame, tz: str = UTC) -> DataFrame:
    return (
        events.groupBy("contact_id")
        .agg(
            customer().alias("customer_key"),
            F.max("am_id").alias("am_id"),
            F.max("channel").alias("channel"),
            at("contact_planned").alias("planned_at"),
            value("contact_planned", "planned_for").alias("planned_for"),
            at("contact_completed").alias("completed_at"),
            value("contact_completed", "outcome", last=True).alias("outcome"),
            value("contact_completed", "new_info_captured", last=True).alias("new_info_captured"),
            value("contact_completed", "opportunity", last=True).alias("opportunity"),
            F.min("occurred_at").alias("_first_event_at"),
        )
        .withColumn("contact_date", local_date(F.coalesce("completed_at", "planned_at", "_first_event_at"), tz))
        .withColumn("status", F.when(F.col("completed_at").isNotNull(), "completed").otherwise("open"))
        .withColumn("opportunity_product_family", F.col("opportunity").getField("product_family"))
        .withColumn("opportunity_value", F.col("opportunity").getField("estimated_value"))
        .withColumn("opportunity_follow_up_by", F.col("opportunity").getField("follow_up_by"))
        .drop("_first_event_at", "opportunity")
    )


HOLDING_ATTRIBUTES = ("product_code", "product_family", "account_key", "currency", "balance", "average_balance",
                      "interest_booked", "fees_booked", "monthly_fees", "interest_margin_rate")


def product_holding(events: DataFrame, tz: str = UTC) -> DataFrame:
    """One row per holding and snapshot: an account (``holding_id`` = its ``account_key``) or, for a feed that sends
    no account, the customer's product (``holding_id`` = ``product_code``)."""
    holdings = (events.where(F.col("event_type") == "product_holding_snapshot")
                .withColumn("holding_id", F.coalesce("account_key", "product_code")))
    return (
        holdings.groupBy("customer_key", "snapshot_date", "holding_id")
        .agg(*[newest(c) for c in HOLDING_ATTRIBUTES])
        .withColumn("month", F.trunc("snapshot_date", "month"))
    )


def newest(column: str) -> Column:
    """The column's value on the newest event; ties on event time broken by landing order, then event id (deterministic)."""
    order = F.concat_ws("|", F.date_format("occurred_at", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"),
                        F.date_format("_ingested_at", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"), F.col("event_id"))
    return F.max_by(F.col(column), order).alias(column)


PROFILE_ATTRIBUTES = ("segment", "home_branch_id", "am_id", "birth_year", "customer_since")


def customer_scd2(events: DataFrame, tz: str = UTC) -> DataFrame:
    """Customer dimension, type 2: a new version whenever a profile snapshot's attributes change."""
    from pyspark.sql import Window

    snaps = (
        events.where(F.col("event_type") == "customer_profile_snapshot")
        .groupBy("customer_key", "snapshot_date")
        .agg(*[newest(c) for c in PROFILE_ATTRIBUTES])
    )
    by_time = Window.partitionBy("customer_key").orderBy("snapshot_date")
    signature = F.to_json(F.struct(*PROFILE_ATTRIBUTES))
    changes = (
        snaps.withColumn("_sig", signature)
        .withColumn("_prev", F.lag("_sig").over(by_time))
        .where(F.col("_prev").isNull() | (F.col("_prev") != F.col("_sig")))
        .drop("_sig", "_prev")
    )
    versions = Window.partitionBy("customer_key").orderBy("valid_from")
    return (
        changes.withColumnRenamed("snapshot_date", "valid_from")
        .withColumn("valid_to", F.lead("valid_from").over(versions))
        .withColumn("is_current", F.col("valid_to").isNull())
    )


@dataclass(frozen=True)
class Fact:
    """A silver table derived from one source's events: how to build it, how to key it, and its lifecycle rules."""

    name: str
    source: str
    build: Callable[..., DataFrame]  # (events, tz) -> rows: dates on the bank's calendar tz
    keys: tuple[str, ...]
    key_columns: tuple[str, ...]  # event columns that identify the rows a new event can change
    span_days: int  # how far apart (event time) the events of one key can be; bounds what a run re-reads
    partition: str | None
    versioned: bool = False  # SCD2: recomputing a key can retire rows, not only change them
    opening: tuple[str, str] | None = None  # (column, event type): the step a lifecycle must start with
    order: tuple[tuple[str, ...], ...] = ()  # steps that happen in this order (a missing step breaks nothing)


FACTS = (
    Fact("counter_visit", "counter", counter_visit, ("branch_id", "ticket_id"), ("branch_id", "ticket_id"), 1, "visit_date",
         opening=("issued_at", "ticket_issued"),
         order=(("issued_at", "called_at", "started_at", "completed_at"), ("issued_at", "abandoned_at"))),
    Fact("call", "callcentre", call, ("call_id",), ("call_id",), 1, "call_date", opening=("offered_at", "call_offered"),
         order=(("offered_at", "queued_at", "answered_at", "ended_at"), ("queued_at", "abandoned_at"), ("offered_at", "abandoned_at"))),
    Fact("survey_response", "survey", survey_response, ("survey_id",), ("survey_id",), 30, "survey_date",
         opening=("sent_at", "survey_sent"), order=(("sent_at", "responded_at"),)),
    Fact("complaint", "survey", complaint, ("complaint_id",), ("complaint_id",), 365, "opened_date",
         opening=("opened_at", "complaint_opened"), order=(("opened_at", "resolved_at"),)),
    Fact("am_contact", "account_manager", am_contact, ("contact_id",), ("contact_id",), 90, "contact_date"),
    Fact("product_holding", "holdings", product_holding, ("customer_key", "snapshot_date", "holding_id"),
         ("customer_key", "snapshot_date"), 0, "month"),
    Fact("customer_dim", "holdings", customer_scd2, ("customer_key", "valid_from"), ("customer_key",), 36500, None,
         versioned=True),
)


RULES = ("missing_key", "missing_opening_event", "out_of_order")


def broken_rule(fact: Fact, skew_seconds: float) -> tuple[Column, Column]:
    """(rule, detail) of the first lifecycle rule a row of ``fact`` breaks, both null when it breaks none.

    - ``missing_key``: a key column is null (the row could not be stored, or found again);
    - ``missing_opening_event``: later steps without the first one (a ``complaint_resolved`` whose
      ``complaint_opened`` was quarantined or has not arrived): held, never counted as complete;
    - ``out_of_order``: a step more than ``skew_seconds`` before one it must follow (clock skew between systems).
    """
    checks: list[tuple[Column, str, Column]] = []
    checks.append((functools.reduce(lambda a, b: a | b, [F.col(k).isNull() for k in fact.keys]), "missing_key",
                   F.concat(F.lit("null key column(s): "), F.concat_ws(",", *[F.when(F.col(k).isNull(), F.lit(k)) for k in fact.keys]))))
    if fact.opening:
        column, event_type = fact.opening
        checks.append((F.col(column).isNull(), "missing_opening_event", F.lit(f"no {event_type} event for a lifecycle with later steps")))
    for sequence in fact.order:
        for i, earlier in enumerate(sequence):
            for later in sequence[i + 1:]:
                gap = _gap(later, earlier)
                checks.append((gap < -skew_seconds, "out_of_order",
                               F.concat(F.lit(f"{later} is "), (-gap).cast("decimal(20,3)").cast("string"),
                                        F.lit(f" s before {earlier} (tolerance {skew_seconds:g} s)"))))
    rule, detail = F.when(checks[0][0], F.lit(checks[0][1])), F.when(checks[0][0], checks[0][2])
    for broken, name, text in checks[1:]:
        rule, detail = rule.when(broken, F.lit(name)), detail.when(broken, text)
    return rule, detail

"""The recency state the gold build carries between runs: exact against a year's re-read, and really used.

``customer_value.last_interactions`` with the stored state of the month before the first month must give
the same rows as reading every interaction of the lookback; the build must carry it (and erase it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from interaction_lake.generator import SOURCES, generate
from interaction_lake.generator.deliveries import days_of, deliver
from interaction_lake.marts_config import MartsConfig
from jobs.bronze.land import land_source
from jobs.gold.build import published_month, build_gold, mart_table, recency_table
from jobs.gold.customer_value import last_interactions
from jobs.gold.measures import add_months
from jobs.silver.build import build_silver

D = dt.date
SCHEMA = "customer_key string, interaction_date date"
CARRIED = "customer_key string, last_interaction_date date"


def _rows(frame) -> set[tuple]:
    return {(r.month, r.customer_key, r.last_interaction_date) for r in frame.collect()}


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dates=st.lists(st.tuples(st.sampled_from("ABCD"), st.dates(D(2025, 1, 1), D(2026, 12, 31))), max_size=30),
       first=st.dates(D(2025, 3, 1), D(2026, 12, 1)).map(lambda d: d.replace(day=1)),
       months=st.integers(1, 3), as_of_day=st.integers(1, 28), lookback=st.sampled_from([10, 45, 365]))
def test_carrying_the_previous_months_state_equals_reading_the_whole_lookback(spark, dates, first, months, as_of_day, lookback):
    config = dataclasses.replace(MartsConfig(), recency_lookback_days=lookback)
    span = [add_months(first, i) for i in range(months)]
    as_of = span[-1].replace(day=as_of_day)  # the data's latest date falls in the last month, as in a build
    everything = spark.createDataFrame([(c, d) for c, d in dates if d <= as_of], SCHEMA)
    previous = add_months(first, -1)
    stored = last_interactions(spark, everything, None, [previous], as_of, config)  # what an earlier run stored
    carried = spark.createDataFrame([(r.customer_key, r.last_interaction_date) for r in stored.collect()], CARRIED)
    from_previous = everything.where(everything.interaction_date >= previous)
    assert _rows(last_interactions(spark, from_previous, carried, [previous, *span], as_of, config)) == \
        _rows(last_interactions(spark, everything, None, [previous, *span], as_of, config))


def _deliver(settings, sent, days):
    for day in days:
        deliver(sent, settings.landing_root, day)


def test_the_build_carries_recency_and_still_equals_a_full_rebuild(spark, tmp_path):
    """A month of history, then single days of the next: the daily runs read interactions from the month
    before only (the at-risk lookback is cut to a week here), yet recency reaches back into the month
    before that, and every mart equals a full rebuild's."""
    from interaction_lake.config import Settings

    settings = Settings().with_paths(lake_root=tmp_path / "lake", landing_root=tmp_path / "landing")
    sent = tmp_path / "sent"
    generate(sent, customers=300, days=42, seed=5, start=D(2026, 10, 29), fault_rate=0.0)
    config = dataclasses.replace(MartsConfig(), risk_lookback_days=7)
    days = days_of(sent)
    cut = days.index("2026-12-09")
    reports = []
    for run, batch in (("history", days[:cut]), *((f"day-{d}", [d]) for d in days[cut:])):
        _deliver(settings, sent, batch)
        # delivered the morning after its last day, as production would be (these days may lie after today)
        delivered = dt.datetime.combine(D.fromisoformat(batch[-1]) + dt.timedelta(days=1), dt.time(2), dt.timezone.utc)
        for source in SOURCES:
            land_source(spark, settings, source, run, ingested_at=delivered)
        build_silver(spark, settings, run)
        reports.append(build_gold(spark, settings, run, config=config))
    assert [r.recency_carried for r in reports] == [False] + [True] * (len(reports) - 1)
    assert reports[-1].first_month == D(2026, 12, 1)  # reads interactions from 1 November on, nothing of October
    # November's tiers and balances (December's "previous") as published, not computed again; December's unchanged
    # customers' measures as stored by the day before
    assert reports[-1].previous_month_published and reports[-1].measures_reused == [D(2026, 12, 1)]

    def tables():
        values = DeltaTable(str(mart_table(settings.lake_root, "customer_value"))).to_pyarrow_table().to_pylist()
        state = DeltaTable(str(recency_table(settings.lake_root))).to_pyarrow_table().to_pylist()
        return sorted(values, key=repr), sorted(state, key=repr)

    values, state = tables()
    december = [r for r in values if r["month"] == D(2026, 12, 1)]
    assert any(r["last_interaction_date"] and r["last_interaction_date"] < D(2026, 11, 1) for r in december), \
        "no December customer was last seen in October: the test would not notice a lost carried state"
    assert {r["month"] for r in state} == {D(2026, 10, 1), D(2026, 11, 1), D(2026, 12, 1)}
    rebuilt = build_gold(spark, settings, "full", config=config, full=True)
    assert not rebuilt.recency_carried
    assert tables() == (values, state)
    # A month published under other tier lines is not anyone's "previous" tier: the build computes that month again.
    assert published_month(spark, settings.lake_root, D(2026, 11, 1), config).count() > 0
    other = dataclasses.replace(config, high_tier_share=config.high_tier_share / 2)
    assert published_month(spark, settings.lake_root, D(2026, 11, 1), other) is None

"""The gold build's stored customer measures: recomputing only the changed customers equals recomputing everyone.

``jobs.gold.build.compute`` with ``customer_value.Stored`` -- an earlier day's measures and recency, and the customers
whose interactions or holdings changed since (or more) -- and with the month before as published must give the same
marts and the same states as without them,
whatever changed: late and corrected interactions, removed ones, holdings added to a snapshot, a new snapshot, the
as-of date moving on or crossing out of the recency lookback. The build itself is checked against a full rebuild by
``test_build.py`` (daily runs, crashes) and ``test_recency_state.py`` (a month of history, then single days).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st

from interaction_lake.marts_config import MartsConfig
from jobs.gold.build import compute
from jobs.gold.customer_value import Stored
from tests.integration.jobs.gold.test_marts import silver_facts

D = dt.date
OCT, NOV = D(2026, 10, 1), D(2026, 11, 1)
SEP30, OCT31 = D(2026, 9, 30), D(2026, 10, 31)
CUSTOMERS = "ABCDEF"
CUSTOMER_MARTS = ("customer_value", "value_tier_migration", "key_customers_at_risk", "am_effectiveness")

interaction = st.tuples(st.sampled_from(CUSTOMERS), st.dates(D(2026, 9, 20), D(2026, 11, 25)), st.sampled_from(("counter", "call", "am")))
holding = st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from((SEP30, OCT31)), st.sampled_from(("deposit", "loan", "investment")),
                    st.integers(0, 50_000))


def rows_of(interactions: list[tuple], holdings: list[tuple]) -> dict[str, list[dict]]:
    """Silver facts holding what ``customer_months`` and recency read (the other columns null)."""
    visits, calls, contacts = [], [], []
    for n, (customer, day, channel) in enumerate(interactions):
        if channel == "counter":
            visits.append(dict(branch_id="BR1", ticket_id=f"v{n}", customer_key=customer, visit_date=day, status="completed"))
        elif channel == "call":
            calls.append(dict(call_id=f"c{n}", customer_key=customer, call_date=day, ivr_outcome="to_agent", queue_id="general",
                              queued_at=dt.datetime.combine(day, dt.time(9), dt.timezone.utc), status="ended"))
        else:
            contacts.append(dict(contact_id=f"m{n}", customer_key=customer, am_id="AM1", channel="visit", outcome="achieved",
                                 status="completed", contact_date=day))
    products = [dict(customer_key=customer, snapshot_date=snapshot, holding_id=f"h{n}", product_code=f"P{n}", product_family=family,
                     balance=Decimal(balance), interest_margin_rate=0.01, monthly_fees=Decimal(2), month=snapshot.replace(day=1))
                for n, (customer, snapshot, family, balance) in enumerate(holdings)]
    dim = [dict(customer_key=c, valid_from=D(2026, 1, 1), valid_to=None, is_current=True, segment="mass", home_branch_id="BR1",
                am_id="AM1") for c in CUSTOMERS]
    return {"counter_visit": visits, "call": calls, "am_contact": contacts, "product_holding": products, "customer_dim": dim}


def collected(frame) -> list[tuple]:
    return sorted((tuple(r) for r in frame.collect()), key=repr)


def chosen_snapshots(holdings: list[tuple]) -> dict[dt.date, dt.date | None]:
    """Each month's balance snapshot: the latest taken by its last day."""
    dates = {snapshot for _, snapshot, _, _ in holdings}
    return {month: max((d for d in dates if d <= end), default=None) for month, end in ((OCT, OCT31), (NOV, D(2026, 11, 30)))}


@hsettings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(before=st.lists(interaction, max_size=14), holdings=st.lists(holding, max_size=8), removed=st.sets(st.integers(0, 13)),
       added=st.lists(interaction, max_size=6), held=st.integers(0, 8), extra=st.sets(st.sampled_from(CUSTOMERS)),
       as_of_day=st.integers(1, 12), days_later=st.integers(0, 13), lookback=st.sampled_from((20, 365)), published=st.booleans())
# an unchanged customer's stored last interaction falls out of the lookback as the as-of date moves on
@example(before=[("A", D(2026, 10, 25), "counter")], holdings=[("A", OCT31, "deposit", 100)], removed=set(), added=[], held=1,
         extra=set(), as_of_day=5, days_later=10, lookback=20, published=False)
# a snapshot the earlier day did not have: the months it changes are computed whole
@example(before=[("A", D(2026, 11, 2), "call")], holdings=[("A", SEP30, "deposit", 100), ("B", OCT31, "loan", 5)], removed=set(),
         added=[("C", D(2026, 11, 1), "am")], held=1, extra=set(), as_of_day=3, days_later=1, lookback=365, published=True)
def test_recomputing_only_the_changed_customers_equals_recomputing_everyone(spark, tmp_path, before, holdings, removed, added, held,
                                                                            extra, as_of_day, days_later, lookback, published):
    config = dataclasses.replace(MartsConfig(), recency_lookback_days=lookback)
    as_of_1, as_of_2 = D(2026, 11, as_of_day), D(2026, 11, as_of_day + days_later)
    before = [i for i in before if i[1] <= as_of_1]  # an earlier day's data reaches its own as-of date at most
    added = [i for i in added if i[1] <= as_of_2]
    after = [i for n, i in enumerate(before) if n not in removed] + added
    held_before = holdings[:held]
    changed = ({i[0] for n, i in enumerate(before) if n in removed} | {i[0] for i in added}
               | {h[0] for h in holdings[held:]} | extra)  # extra: customers recomputed though unchanged (harmless)

    first = silver_facts(spark, tmp_path, rows_of(before, held_before))
    stored_then = compute(spark, first, [OCT, NOV], as_of_1, config)  # the earlier day's build stored its months' states
    measures = spark.createDataFrame(stored_then.measures.collect(), stored_then.measures.schema)
    recency = spark.createDataFrame(stored_then.recency.collect(), stored_then.recency.schema).drop("lookback_days")
    # as the build does: a month is reused only where this run chooses the same balance snapshot as the stored one
    months = frozenset(m for m in (OCT, NOV) if chosen_snapshots(held_before)[m] == chosen_snapshots(holdings)[m])
    stored = Stored(months, measures, recency, spark.createDataFrame([(c,) for c in sorted(changed)], "customer_key string"))

    facts = silver_facts(spark, tmp_path, rows_of(after, holdings))
    everyone = compute(spark, facts, [NOV], as_of_2, config)
    # October as an earlier build published it (the build passes it only when October's figures cannot have changed)
    october = compute(spark, facts, [OCT, NOV], as_of_2, config).marts["customer_value"].where(f"month = DATE'{OCT}'") if published else None
    reused = compute(spark, facts, [NOV], as_of_2, config, stored=stored, published_previous=october)
    for name in CUSTOMER_MARTS:
        assert collected(reused.marts[name]) == collected(everyone.marts[name]), name
    assert collected(reused.measures) == collected(everyone.measures)
    assert collected(reused.recency) == collected(everyone.recency)

"""Every mart metric against a hand computation on a small, hand-made set of silver facts.

The fixture is five customers (A-E) over September to November 2026, as of 9 November. The
expected figures are worked out by hand in the comments and the arithmetic next to each assertion,
from the definitions in docs/metrics.md, not from the code under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql.types import StructField, StructType

from interaction_lake.marts_config import MartsConfig
from jobs.gold.build import compute_marts
from jobs.silver.build import read_fact
from jobs.silver.lifecycles import FACTS

D = dt.date
UTC = dt.timezone.utc
NOV, OCT = D(2026, 11, 1), D(2026, 10, 1)
AS_OF = D(2026, 11, 9)
WHOLE_MONTH = dataclasses.replace(MartsConfig(), prorate_income_in_progress=False)  # November's income taken whole


def T(day: int, hour: int = 9, minute: int = 0, second: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def later(start: dt.datetime, seconds: float) -> dt.datetime:
    return start + dt.timedelta(seconds=seconds)


def holding(customer, snapshot, code, family, balance, rate, fee):
    return dict(customer_key=customer, snapshot_date=snapshot, holding_id=code, product_code=code, product_family=family,
                balance=Decimal(str(balance)), interest_margin_rate=rate, monthly_fees=Decimal(str(fee)), month=snapshot.replace(day=1))


SEP30, OCT31 = D(2026, 9, 30), D(2026, 10, 31)
HOLDINGS = [
    # Sep 30                                               NII/month = balance * rate / 12; + fees
    holding("A", SEP30, "CUR", "deposit", 100000.0, 0.012, 3.0),   # 100 + 3 = 103
    holding("B", SEP30, "CUR", "deposit", 1000.0, 0.012, 3.0),     # 1 + 3 = 4
    holding("C", SEP30, "LOAN", "loan", 24000.0, 0.05, 0.0),       # 100
    holding("C", SEP30, "FUND", "investment", 20000.0, 0.01, 12.0),  # 16.67 + 12  (C: 128.67)
    holding("E", SEP30, "SAV", "deposit", 15000.0, 0.01, 0.0),     # 12.5
    # Oct 31
    holding("A", OCT31, "CUR", "deposit", 100000.0, 0.012, 3.0),   # 103
    holding("B", OCT31, "CUR", "deposit", 1000.0, 0.012, 3.0),     # 4
    holding("C", OCT31, "LOAN", "loan", 24000.0, 0.05, 0.0),       # 100
    holding("C", OCT31, "FUND", "investment", 12000.0, 0.01, 12.0),  # 10 + 12  (C: 122; balance 44000 -> 36000)
    holding("E", OCT31, "SAV", "deposit", 12000.0, 0.01, 0.0),     # 10 (balance 15000 -> 12000)
]
DIM = [
    dict(customer_key="A", valid_from=D(2026, 1, 1), valid_to=None, is_current=True, segment="private", home_branch_id="BR1", am_id="AM1"),
    dict(customer_key="B", valid_from=D(2026, 1, 1), valid_to=None, is_current=True, segment="mass", home_branch_id="BR1", am_id=None),
    dict(customer_key="C", valid_from=D(2026, 1, 1), valid_to=None, is_current=True, segment="affluent", home_branch_id="BR2", am_id="AM1"),
    dict(customer_key="D", valid_from=D(2026, 1, 1), valid_to=None, is_current=True, segment="mass", home_branch_id="BR2", am_id=None),
    dict(customer_key="E", valid_from=D(2026, 1, 1), valid_to=None, is_current=True, segment="affluent", home_branch_id="BR2", am_id="AM1"),
]


def visit(ticket, branch, customer, day, wait, status, service=None):
    issued = T(day, 10)
    called = later(issued, wait) if status != "abandoned" else None
    return dict(branch_id=branch, ticket_id=ticket, customer_key=customer, visit_date=D(2026, 11, day), issued_at=issued,
                called_at=called, abandoned_at=later(issued, wait) if status == "abandoned" else None,
                completed_at=later(called, service) if status == "completed" else None, status=status, wait_seconds=float(wait),
                service_seconds=float(service) if service is not None else None)


VISITS = [
    visit("v1", "BR1", "A", 3, 300, "completed", 600),
    visit("v2", "BR1", None, 3, 900, "completed", 300),
    visit("v3", "BR1", None, 3, 1200, "abandoned"),
    visit("v4", "BR1", None, 3, 100, "open"),
    visit("v5", "BR2", None, 4, 60, "completed", 240),
]


def call(call_id, customer, day, hour, *, queue="general", wait=None, answered=False, ivr=None, talk=0, hold=0, wrap=0, reason=None):
    offered = T(day, hour)
    queued = later(offered, 30) if queue else None
    abandoned = queue and not answered
    return dict(call_id=call_id, customer_key=customer, call_date=D(2026, 11, day), offered_at=offered, ivr_outcome=ivr or "to_agent",
                queued_at=queued, queue_id=queue, answered_at=later(queued, wait) if answered else None,
                abandoned_at=later(queued, wait) if abandoned else None,
                abandoned_in="queue" if abandoned else ("ivr" if ivr == "hung_up" else None),
                queue_wait_seconds=float(wait) if queue else None, transfers=0,
                ended_at=later(queued, wait + talk + hold) if answered else None,
                talk_seconds=float(talk) if answered else None, hold_seconds=float(hold) if answered else None,
                wrap_seconds=float(wrap) if answered else None, contact_reason=reason, status="ended" if answered else "abandoned")


CALLS = [
    call("c1", "B", 5, 9, wait=10, answered=True, talk=200, hold=20, wrap=30, reason="card_issue"),   # handle 250
    call("c2", "B", 9, 9, wait=40, answered=True, talk=100, hold=0, wrap=20, reason="card_issue"),    # handle 120; repeat of c1
    call("c3", None, 5, 10, wait=3),     # short abandon (< 5 s)
    call("c4", None, 5, 11, wait=60),    # abandoned
    call("c5", "D", 8, 9, queue=None, ivr="self_served"),
    call("c6", None, 5, 12, queue=None, ivr="hung_up"),
]


def survey(survey_id, customer, channel, branch, day, csat=None, nps=None, effort=None):
    responded = T(day, 15) if csat is not None else None
    return dict(survey_id=survey_id, customer_key=customer, survey_date=D(2026, 11, day), sent_at=T(day, 12), channel=channel,
                branch_id=branch, responded_at=responded, csat=csat, nps=nps, effort_score=effort,
                status="responded" if responded else "open")


SURVEYS = [
    survey("s1", "A", "counter", "BR1", 3, csat=5, nps=10, effort=1),
    survey("s2", "B", "callcentre", None, 5, csat=2, nps=3, effort=6),
    survey("s3", "C", "counter", "BR1", 6, csat=4, nps=5, effort=2),
    survey("s4", "B", "callcentre", None, 9, csat=4, nps=9, effort=2),
    survey("s5", "B", "callcentre", None, 9),
]


def complaint(complaint_id, customer, channel, opened, hours=None):
    return dict(complaint_id=complaint_id, customer_key=customer, opened_at=opened, opened_date=opened.date(), channel=channel,
                resolved_at=later(opened, hours * 3600) if hours is not None else None, hours_to_resolve=hours,
                status="resolved" if hours is not None else "open", upheld=True if hours is not None else None)


COMPLAINTS = [
    complaint("k1", "B", "callcentre", T(5, 10), hours=48.0),
    complaint("k2", "A", "counter", T(4, 10)),
    complaint("k3", "B", "callcentre", T(1, 8), hours=200.0),
]


def contact(contact_id, customer, channel, planned, completed=None, outcome=None, new_info=None, opportunity=None, month=11):
    planned_at = T(planned, 8, month=month)
    completed_at = T(completed, 11, month=month) if completed else None
    family, value, follow = opportunity or (None, None, None)
    return dict(contact_id=contact_id, customer_key=customer, am_id="AM1", channel=channel, planned_at=planned_at,
                completed_at=completed_at, outcome=outcome, new_info_captured=new_info, status="completed" if completed else "open",
                contact_date=(completed_at or planned_at).date(), opportunity_product_family=family, opportunity_value=value,
                opportunity_follow_up_by=follow)


CONTACTS = [
    contact("m0", "E", "visit", 14, 15, "achieved", False, month=10),
    contact("m1", "C", "visit", 5, 6, "achieved", True, ("loan", 5000.0, D(2026, 11, 20))),
    contact("m2", "A", "call", 7, 7, "no_show", False),
    contact("m3", "A", "call", 9),
]


def silver_facts(spark, empty_lake: Path, rows: dict[str, list[dict]]) -> dict:
    """Hand-made rows as silver facts with their real schema (columns the rows leave out are null)."""
    facts = {}
    for fact in FACTS:
        real = read_fact(spark, Path(empty_lake), fact).schema  # the real silver schema of the fact
        schema = StructType([StructField(f.name, f.dataType, True) for f in real.fields])
        unknown = {k for r in rows.get(fact.name, []) for k in r} - set(schema.fieldNames())
        assert not unknown, f"fixture uses columns {unknown} that silver {fact.name} does not have"
        facts[fact.name] = spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows.get(fact.name, [])], schema)
    return facts


@pytest.fixture(scope="module")
def marts(spark, tmp_path_factory):
    rows = {"counter_visit": VISITS, "call": CALLS, "survey_response": SURVEYS, "complaint": COMPLAINTS, "am_contact": CONTACTS,
            "product_holding": HOLDINGS, "customer_dim": DIM}
    facts = silver_facts(spark, tmp_path_factory.mktemp("no_lake"), rows)
    # The hand computations below take November's income whole; its proration to the days covered (the default) has its
    # own test (test_income_of_the_month_in_progress_covers_the_days_its_costs_do).
    computed = compute_marts(spark, facts, [OCT, NOV], AS_OF, WHOLE_MONTH)
    return {name: [r.asDict() for r in frame.collect()] for name, frame in computed.items()}


def one(rows, **where):
    found = [r for r in rows if all(r[k] == v for k, v in where.items())]
    assert len(found) == 1, f"{len(found)} rows match {where}"
    return found[0]


# --- customer_value --------------------------------------------------------------------------------------------------

def test_contribution_is_interest_margin_plus_fees_minus_cost_to_serve(marts):
    nov = {r["customer_key"]: r for r in marts["customer_value"] if r["month"] == NOV}
    assert set(nov) == {"A", "B", "C", "D", "E"}  # D has no products but interacted: in, with a cost
    a, b, c, d, e = (nov[k] for k in "ABCDE")
    assert a["balance_snapshot_date"] == OCT31  # November not closed yet: the latest month end
    # money is exact decimals (docs/metrics.md, "Money"): compared with ==, not approximately
    assert a["net_interest_income"] == Decimal(100000) * Decimal("0.012") / 12 and a["fee_income"] == 3
    assert a["cost_to_serve"] == 12 and a["counter_visits"] == 1          # one counter visit
    assert a["contribution"] == Decimal(103 - 12) and a["currency"] == "EUR" and a["inputs_complete"] is True
    assert b["agent_calls"] == 2 and b["contribution"] == Decimal(4 - 2 * 5)
    assert c["am_visits"] == 1 and c["contribution"] == Decimal(122 - 60)
    assert d["self_service_calls"] == 1 and d["product_count"] == 0 and d["contribution"] == Decimal("-0.3")
    assert e["interactions"] == 0 and e["contribution"] == Decimal(10)
    assert c["loan_balance"] == 24000 and c["investment_balance"] == 12000 and c["aum"] == 12000 and c["total_balance"] == 36000
    assert c["product_count"] == 2


def test_value_tiers_follow_the_80_20_rule_and_migrations(marts):
    nov = {r["customer_key"]: r for r in marts["customer_value"] if r["month"] == NOV}
    total = 91 + 62 + 10  # positive contributions: A, C, E
    assert nov["A"]["contribution_share"] == pytest.approx(91 / total)
    assert nov["C"]["cumulative_share_before"] == pytest.approx(91 / total)       # 0.558 < 0.80 -> high
    assert nov["E"]["cumulative_share_before"] == pytest.approx(153 / total)      # 0.939 < 0.95 -> mid
    assert {k: r["value_tier"] for k, r in nov.items()} == {"A": "high", "C": "high", "E": "mid", "B": "low", "D": "low"}
    # October: E's account-manager visit (60) makes E's contribution 10 - 60 < 0 -> low; September E was mid
    # (C 128.67, A 103: before E 231.67 / 248.17 = 0.934).
    oct_ = {r["customer_key"]: r for r in marts["customer_value"] if r["month"] == OCT}
    assert oct_["E"]["value_tier"] == "low" and oct_["E"]["previous_value_tier"] == "mid" and oct_["E"]["tier_migration"] == "down"
    assert nov["E"]["previous_value_tier"] == "low" and nov["E"]["tier_migration"] == "up"
    assert nov["D"]["previous_value_tier"] is None and nov["D"]["tier_migration"] == "new"
    assert nov["A"]["tier_migration"] == "same"
    migration = {(r["from_tier"], r["to_tier"]): r["customers"] for r in marts["value_tier_migration"] if r["month"] == NOV}
    assert migration == {("high", "high"): 2, ("low", "mid"): 1, ("low", "low"): 1, ("new", "low"): 1}


def test_rfm_scores_and_clv(marts):
    nov = {r["customer_key"]: r for r in marts["customer_value"] if r["month"] == NOV}
    # recency to 9 Nov: B 0 (call 9 Nov), D 1, C 3, A 6, E 25 (October contact)
    assert {k: r["recency_days"] for k, r in nov.items()} == {"A": 6, "B": 0, "C": 3, "D": 1, "E": 25}
    # percent rank over 5 customers, most recent highest: E 0, A .25, C .5, D .75, B 1 -> 1 + floor(5 * rank), at most 5
    assert {k: r["r_score"] for k, r in nov.items()} == {"E": 1, "A": 2, "C": 3, "D": 4, "B": 5}
    # frequency: E 0; A, C, D 1 (tied: rank of the first, .25); B 2
    assert {k: r["f_score"] for k, r in nov.items()} == {"E": 1, "A": 2, "C": 2, "D": 2, "B": 5}
    # monetary (contribution): B -6, D -0.3, E 10, C 62, A 91
    assert {k: r["m_score"] for k, r in nov.items()} == {"B": 1, "D": 2, "E": 3, "C": 4, "A": 5}
    assert nov["C"]["rfm_cell"] == "R3F2M4"
    # CLV = 12 * monthly contribution * r / (1 + d - r), r = 0.85, d = 0.10
    assert nov["A"]["clv"] == Decimal(91) * 12 * Decimal("0.85") / Decimal("0.25")


def _value_rows(spark, tmp_path_factory, holdings, visits=(), config=WHOLE_MONTH) -> dict:
    facts = silver_facts(spark, tmp_path_factory.mktemp("no_lake"), {"product_holding": holdings, "counter_visit": list(visits)})
    rows = compute_marts(spark, facts, [NOV], AS_OF, config)["customer_value"].collect()
    return {r["customer_key"]: r.asDict() for r in rows if r["month"] == NOV}


def booked(customer, interest, fees="0", currency="EUR", account=None):
    return dict(customer_key=customer, snapshot_date=OCT31, holding_id=account or f"{customer}-1", account_key=account,
                product_code="CUR", product_family="deposit", balance=Decimal(1000), currency=currency, interest_booked=Decimal(interest),
                fees_booked=Decimal(fees), month=OCT)


def test_equal_contributions_tie_exactly_and_follow_the_documented_tie_break(spark, tmp_path_factory):
    # In doubles 34.575 + 14.6 - 12.0 is 37.175000000000004, which ranked Y above X against the tie-break by customer_key.
    rows = _value_rows(spark, tmp_path_factory, [booked("Y", "34.575", "14.6"), booked("X", "37.175")],
                       [visit("t9", "BR1", "Y", 3, 60, "completed", 120)])
    x, y = rows["X"], rows["Y"]
    assert x["contribution"] == y["contribution"] == Decimal("37.175")
    assert (x["cumulative_share_before"], y["cumulative_share_before"]) == (0.0, 0.5)  # X first: tie broken by customer_key
    assert x["m_score"] == y["m_score"] and x["value_tier"] == y["value_tier"] == "high"


def test_tier_lines_are_exact_and_currencies_convert_at_the_configured_rate(spark, tmp_path_factory):
    config = dataclasses.replace(WHOLE_MONTH, fx_rates={"USD": 0.5})
    rows = _value_rows(spark, tmp_path_factory, [
        booked("P", "160", currency="USD"),  # 80 EUR
        booked("Q", "14.9", "0.1"), booked("R", "4.3", "0.7"),  # 15 and 5: P + Q is exactly 95% of 100
        booked("S", "1000", currency="GBP"),  # no rate: left out, and said
    ], config=config)
    assert {k: r["contribution"] for k, r in rows.items()} == {"P": 80, "Q": 15, "R": 5, "S": 0}
    # the line is "before < share x total": Q starts exactly at 80%, R exactly at 95%
    assert {k: r["value_tier"] for k, r in rows.items()} == {"P": "high", "Q": "mid", "R": "low", "S": "low"}
    assert rows["S"]["inputs_complete"] is False and rows["S"]["unconverted_holdings"] == 1 and rows["S"]["product_count"] == 1
    assert all(r["inputs_complete"] for k, r in rows.items() if k != "S")


def test_income_of_the_month_in_progress_covers_the_days_its_costs_do(spark, tmp_path_factory):
    rows = _value_rows(spark, tmp_path_factory, [booked("X", "300", "30")], [visit("t9", "BR1", "X", 3, 60, "completed", 120)],
                       config=MartsConfig())
    x = rows["X"]  # as of 9 November: 9 of November's 30 days
    assert (x["net_interest_income"], x["fee_income"], x["cost_to_serve"]) == (Decimal(90), Decimal(9), Decimal(12))
    assert x["contribution"] == Decimal(87) and x["period_complete"] is False and x["as_of_date"] == AS_OF


def test_every_periodic_mart_says_whether_its_period_is_complete(marts):
    monthly = {name: marts[name] for name in ("customer_value", "value_tier_migration", "branch_wait_by_hour", "am_effectiveness")}
    monthly["satisfaction"] = [r for r in marts["satisfaction"] if r["period"] == "month"]
    for name, rows in monthly.items():
        assert {(r["month"], r["period_complete"], r["as_of_date"]) for r in rows} <= {(OCT, True, D(2026, 10, 31)),
                                                                                             (NOV, False, AS_OF)}, name
        assert any(r["month"] == NOV for r in rows), name
    for name in ("service_quality", "satisfaction"):
        status = {(r["period"], r["period_start"]): r["period_complete"] for r in marts[name]}
        assert status[("month", NOV)] is False and status[("day", D(2026, 11, 3))] is True, name  # nothing in October


# --- service_quality -------------------------------------------------------------------------------------------------

def test_counter_waits_abandonment_and_target(marts):
    br1 = one(marts["service_quality"], period="day", period_start=D(2026, 11, 3), channel="counter", unit_id="BR1")
    assert (br1["tickets"], br1["tickets_served"], br1["tickets_abandoned"], br1["tickets_open"]) == (4, 2, 1, 1)
    assert br1["ticket_abandonment_rate"] == pytest.approx(1 / 3)          # abandoned / (served + abandoned)
    # waits of called tickets: 100, 300, 900 (the abandoned ticket was never called)
    assert br1["wait_mean_seconds"] == pytest.approx((100 + 300 + 900) / 3)
    assert br1["wait_p50_seconds"] == pytest.approx(300)
    assert br1["wait_p90_seconds"] == pytest.approx(300 + 0.8 * (900 - 300))  # linear interpolation at 0.9 * (3 - 1)
    assert br1["served_within_target_share"] == pytest.approx(2 / 3)         # 100 and 300 within 600 s
    assert br1["aht_seconds"] == pytest.approx((600 + 300) / 2)
    month_all = one(marts["service_quality"], period="month", period_start=NOV, channel="counter", unit_id="ALL")
    assert month_all["tickets"] == 5 and month_all["wait_mean_seconds"] == pytest.approx((100 + 300 + 900 + 60) / 4)
    assert month_all["calls_offered"] is None  # call-centre measures do not apply to counter rows


def test_call_abandonment_excludes_short_abandons_and_flags_the_ceiling(marts):
    q = one(marts["service_quality"], period="day", period_start=D(2026, 11, 5), channel="callcentre", unit_id="general")
    assert (q["offered_to_queue"], q["answered"], q["abandoned"], q["short_abandons"]) == (3, 1, 2, 1)
    assert q["queue_outcomes"] == 1 + 2 - 1
    assert q["abandonment_rate"] == pytest.approx((2 - 1) / 2)
    assert q["abandonment_breach"] is True and q["abandonment_ceiling"] == 0.05
    assert q["asa_seconds"] == pytest.approx(10)
    assert q["service_level"] == pytest.approx(1 / 2) and q["service_level_met"] is False  # c1 answered in 10 s <= 20 s
    assert q["aht_seconds"] == pytest.approx(200 + 20 + 30)
    day_all = one(marts["service_quality"], period="day", period_start=D(2026, 11, 5), channel="callcentre", unit_id="ALL")
    assert day_all["calls_offered"] == 4 and day_all["ivr_abandoned"] == 1 and day_all["offered_to_queue"] == 3


def test_month_rates_are_recomputed_from_counts_and_fcr_uses_repeat_contacts(marts):
    m = one(marts["service_quality"], period="month", period_start=NOV, channel="callcentre", unit_id="ALL")
    assert (m["calls_offered"], m["ivr_self_served"], m["ivr_abandoned"], m["offered_to_queue"]) == (6, 1, 1, 4)
    assert m["abandonment_rate"] == pytest.approx(1 / 3)             # (2 - 1) / (2 + 2 - 1)
    assert m["asa_seconds"] == pytest.approx((10 + 40) / 2)
    assert m["service_level"] == pytest.approx(1 / 3)
    assert m["aht_seconds"] == pytest.approx((250 + 120) / 2)
    # c1 (B, card_issue) is followed by c2 (B, card_issue) 4 days later: not resolved first time; c2 is.
    assert (m["fcr_eligible"], m["fcr_resolved"], m["fcr_rate"]) == (2, 1, 0.5)


# --- satisfaction ----------------------------------------------------------------------------------------------------

def test_csat_nps_effort_response_rate(marts):
    cell = one(marts["satisfaction"], period="month", period_start=NOV, channel="callcentre", branch_id="BR1", segment="mass")
    assert (cell["surveys_sent"], cell["responses"]) == (3, 2) and cell["response_rate"] == pytest.approx(2 / 3)
    assert cell["csat"] == pytest.approx(1 / 2)                                  # csat 2 and 4: one of two is 4-5
    assert (cell["promoters"], cell["passives"], cell["detractors"]) == (1, 0, 1)  # nps 9 and 3
    assert cell["nps"] == pytest.approx(0.0)
    assert cell["effort_score_mean"] == pytest.approx((6 + 2) / 2)
    c = one(marts["satisfaction"], period="month", period_start=NOV, channel="counter", branch_id="BR1", segment="affluent")  # C surveyed at BR1
    assert c["nps"] == pytest.approx(-100.0) and c["csat"] == 1.0


def test_satisfaction_day_rows_count_each_local_day_and_add_up_to_the_month(marts):
    days = {r["period_start"]: r for r in marts["satisfaction"]
            if (r["period"], r["channel"], r["branch_id"], r["segment"]) == ("day", "callcentre", "BR1", "mass")}
    assert sorted(days) == [D(2026, 11, 1), D(2026, 11, 5), D(2026, 11, 9)]  # complaint k3; survey s2 and k1; s4 and s5
    assert (days[D(2026, 11, 9)]["surveys_sent"], days[D(2026, 11, 9)]["responses"], days[D(2026, 11, 9)]["nps"]) == (2, 1, 100.0)
    assert (days[D(2026, 11, 5)]["csat"], days[D(2026, 11, 5)]["nps"], days[D(2026, 11, 5)]["complaints_opened"]) == (0.0, -100.0, 1)
    assert (days[D(2026, 11, 1)]["surveys_sent"], days[D(2026, 11, 1)]["response_rate"], days[D(2026, 11, 1)]["complaints_resolved"]) == (0, None, 1)
    month = one(marts["satisfaction"], period="month", period_start=NOV, channel="callcentre", branch_id="BR1", segment="mass")
    for column in ("surveys_sent", "responses", "csat_responses", "csat_satisfied", "promoters", "detractors", "complaints_opened"):
        assert sum(d[column] for d in days.values()) == month[column], column
    assert {d["month"] for d in days.values()} == {NOV} and all(d["period_complete"] for d in days.values())


def test_complaint_handling(marts):
    b = one(marts["satisfaction"], period="month", period_start=NOV, channel="callcentre", branch_id="BR1", segment="mass")
    assert (b["complaints_opened"], b["complaints_resolved"], b["complaints_open"]) == (2, 2, 0)
    assert b["mean_hours_to_resolve"] == pytest.approx((48 + 200) / 2)
    assert b["resolved_within_target_share"] == pytest.approx(1 / 2)  # 48 h within 120 h, 200 h not
    a = one(marts["satisfaction"], period="month", period_start=NOV, channel="counter", branch_id="BR1", segment="private")
    assert (a["complaints_opened"], a["complaints_open"], a["resolved_within_target_share"]) == (1, 1, None)
    assert a["surveys_sent"] == 1 and a["nps"] == pytest.approx(100.0)


# --- am_effectiveness ------------------------------------------------------------------------------------------------

def test_account_manager_activity(marts):
    nov = one(marts["am_effectiveness"], month=NOV, am_id="AM1")
    assert (nov["contacts_planned"], nov["contacts_logged"], nov["contacts_achieved"], nov["no_shows"]) == (3, 2, 1, 1)
    assert nov["contact_achievement_rate"] == pytest.approx(1 / 2)
    assert nov["new_info_captured"] == 1 and nov["new_info_rate"] == 1.0 and nov["customers_contacted"] == 1
    assert (nov["opportunities"], nov["opportunity_value"], nov["opportunities_to_follow_up"]) == (1, 5000.0, 1)
    assert nov["book_customers"] == 3                              # A, C, E
    assert nov["contacted_balance_start"] == 36000.0               # C at 31 Oct
    assert nov["contacted_balance_end"] is None                    # no 30 Nov snapshot yet


def test_balance_evolution_of_contacted_customers_and_book(marts):
    oct_ = one(marts["am_effectiveness"], month=OCT, am_id="AM1")
    assert oct_["customers_contacted"] == 1                                       # E
    assert (oct_["contacted_balance_start"], oct_["contacted_balance_end"]) == (15000.0, 12000.0)
    assert oct_["contacted_balance_change_pct"] == pytest.approx(-20.0)
    start, end = 100000 + 44000 + 15000, 100000 + 36000 + 12000                   # A, C, E
    assert (oct_["book_balance_start"], oct_["book_balance_end"]) == (start, end)
    assert oct_["book_balance_change_pct"] == pytest.approx((end - start) / start * 100)


# --- key_customers_at_risk -------------------------------------------------------------------------------------------

def test_key_customers_at_risk_lists_high_tier_customers_with_reasons(marts):
    at_risk = {r["customer_key"]: r for r in marts["key_customers_at_risk"]}
    # B is a detractor with complaints but low tier: not a key customer.
    assert set(at_risk) == {"A", "C"}
    assert at_risk["A"]["reasons"] == ["open_complaint"] and at_risk["A"]["open_complaints"] == 1
    assert at_risk["C"]["reasons"] == ["detractor", "balance_falling"]
    assert at_risk["C"]["last_nps"] == 5
    assert at_risk["C"]["balance_change_pct"] == pytest.approx((36000 - 44000) / 44000 * 100)
    assert all(r["as_of_date"] == AS_OF and r["value_tier"] == "high" for r in at_risk.values())


def test_an_abandon_whose_queued_event_was_quarantined_still_counts_as_offered(spark, tmp_path):
    from jobs.gold import service_quality

    def frame(fact_name, rows):
        real = read_fact(spark, tmp_path, next(f for f in FACTS if f.name == fact_name)).schema
        schema = StructType([StructField(f.name, f.dataType, True) for f in real.fields])
        return spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows], schema)

    lost_queued = {**call("c9", None, 5, 13, wait=90), "queued_at": None, "queue_id": None, "queue_wait_seconds": None,
                   "abandoned_queue_id": "vip"}
    calls = service_quality.with_first_contact_resolution(frame("call", [call("c1", "B", 5, 9, wait=10, answered=True), lost_queued]), 7)
    rows = [r.asDict() for r in service_quality.service_quality(frame("counter_visit", []), calls, MartsConfig()).collect()]
    day = {r["unit_id"]: r for r in rows if r["period"] == "day" and r["channel"] == "callcentre"}
    assert (day["ALL"]["offered_to_queue"], day["ALL"]["answered"], day["ALL"]["abandoned"], day["ALL"]["queue_outcomes"]) == (2, 1, 1, 2)
    assert day["vip"]["offered_to_queue"] == day["vip"]["abandoned"] == 1  # filed under the queue it was abandoned in
    assert day["ALL"]["offered_to_queue"] == day["general"]["offered_to_queue"] + day["vip"]["offered_to_queue"]


def test_day_month_and_all_rows_are_those_of_the_unions_they_replace(spark):
    """``with_day_and_month`` and ``each_and_all`` (one pass: an explode) give, row for row, what the unions of copies
    they replaced give (the reference, written out here), on random rows with null dates and units."""
    import random
    from collections import Counter

    from pyspark.sql import functions as F

    from jobs.gold.measures import each_and_all, month_of, with_day_and_month

    rng = random.Random(19)
    rows = [(i, rng.choice([None, D(2026, rng.randint(1, 12), rng.randint(1, 28))]), rng.choice([None, "BR1", "BR2", "ALL"]))
            for i in range(300)]
    frame = spark.createDataFrame(rows, "id long, day date, unit string")
    date = F.col("day")
    reference = (frame.withColumn("period", F.lit("day")).withColumn("period_start", date)
                 .unionByName(frame.withColumn("period", F.lit("month")).withColumn("period_start", month_of(date)))
                 .withColumn("month", month_of(date)))
    reference = reference.where(F.col("unit").isNotNull()).unionByName(reference.withColumn("unit", F.lit("ALL")))
    fast = each_and_all(with_day_and_month(frame, "day"), "unit", "ALL")
    assert fast.columns == reference.columns == ["id", "day", "unit", "period", "period_start", "month"]
    got, want = Counter(map(tuple, fast.collect())), Counter(map(tuple, reference.collect()))
    assert got == want and sum(want.values()) == 4 * len(rows) - 2 * sum(1 for r in rows if r[2] is None)


def test_the_gold_gate_reconciles_service_quality_all_rows_with_silver_by_day_and_month(spark, tmp_path):
    """The gate's view (``jobs.quality.views.gold_mart``) finds each ALL row's count equal to silver's for its day and
    month, and flags one that counts a ticket or a call more than silver holds."""
    from pyspark.sql import functions as F

    from jobs.quality.views import gold_mart

    facts = silver_facts(spark, tmp_path, {"counter_visit": VISITS, "call": CALLS})
    service = compute_marts(spark, facts, [OCT, NOV], AS_OF, WHOLE_MONTH)["service_quality"]

    def verdicts(rows):
        view = gold_mart("service_quality", rows, facts, {})
        return {(r.period, r.period_start, r.channel): r._matches_silver for r in view.where(F.col("unit_id") == "ALL").collect()}

    honest = verdicts(service)
    assert honest and all(honest.values()) and {p for p, _, _ in honest} == {"day", "month"}
    assert {c for _, _, c in honest} == {"counter", "callcentre"}
    nov_3 = (F.col("unit_id") == "ALL") & (F.col("period_start") == F.lit(D(2026, 11, 3)))
    padded = service.withColumn("tickets", F.when(nov_3 & (F.col("period") == "day"), F.col("tickets") + 1).otherwise(F.col("tickets")))
    padded = padded.withColumn("calls_offered", F.when((F.col("unit_id") == "ALL") & (F.col("period") == "month") & (F.col("month") == F.lit(NOV)),
                                                       F.col("calls_offered") + 1).otherwise(F.col("calls_offered")))
    flagged = {key for key, ok in verdicts(padded).items() if not ok}
    assert flagged == {("day", D(2026, 11, 3), "counter"), ("month", NOV, "callcentre")}

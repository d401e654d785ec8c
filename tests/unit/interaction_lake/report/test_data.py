"""The report's views: the 80/20 curve, satisfaction rates from counts and their trend grain, the latest gate per table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from interaction_lake.report.data import ReportData, quality_view, satisfaction_view, value_view

pytestmark = pytest.mark.unit
NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


def test_pareto_curve_and_tiers_use_the_latest_month_only():
    contributions = [500.0, 300.0, 100.0, 50.0, 30.0, 10.0, 5.0, 5.0, 0.0, -20.0]  # 10 customers; positive total 1000
    values = pd.DataFrame({"month": [DEC] * 10 + [NOV], "customer_key": [f"k{i}" for i in range(11)],
                           "contribution": contributions + [9999.0], "value_tier": ["high"] * 2 + ["mid"] * 3 + ["low"] * 5 + ["high"],
                           "contribution_share": [c / 1000 if c > 0 else 0 for c in contributions] + [1.0]})
    data = ReportData(Path("."), dt.datetime.now(dt.timezone.utc))
    value_view(data, values)
    assert data.value_month == DEC
    assert data.top20_share == pytest.approx(0.8)  # the top 2 of 10 hold 800 of 1000
    assert data.pareto.iloc[-1].tolist() == [1.0, pytest.approx(1.0)] and data.pareto.iloc[0].tolist() == [0.0, 0.0]
    assert data.pareto["contribution_share"].is_monotonic_increasing
    assert data.tiers.to_dict("list") == {"value_tier": ["high", "mid", "low"], "customers": [2, 3, 5],
                                          "contribution": [800.0, 180.0, 0.0], "contribution_share": [0.8, pytest.approx(0.18), pytest.approx(0.02)]}


def test_satisfaction_rates_are_recomputed_from_counts_not_averaged():
    sat = pd.DataFrame({"period": "month", "period_start": NOV, "month": [NOV, NOV], "period_complete": True,
                        "channel": ["counter", "counter"], "branch_id": ["B1", "B2"],
                        "csat_satisfied": [9, 1], "csat_responses": [10, 10], "promoters": [5, 0], "detractors": [0, 1],
                        "nps_responses": [5, 1], "responses": [10, 10]})
    data = ReportData(Path("."), dt.datetime.now(dt.timezone.utc))
    satisfaction_view(data, sat)
    [channel] = data.satisfaction_channel.to_dict("records")
    assert channel["csat"] == pytest.approx(0.5) and channel["nps"] == pytest.approx(100 * 4 / 6)  # not the mean of 100 and -100
    assert data.satisfaction_branch["nps"].tolist() == [100.0, -100.0]


def satisfaction_rows(first: dt.date, days: int) -> pd.DataFrame:
    """A satisfaction mart as gold builds it: a day row per day (one counter answer, satisfied and a promoter on even
    days, else a detractor) and a month row per month summing its days, the last month in progress."""
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    day_rows = pd.DataFrame([dict(period="day", period_start=d, month=d.replace(day=1), period_complete=True,
                                  csat_satisfied=int(d.day % 2 == 0), csat_responses=1) for d in dates])
    months = day_rows.groupby("month", as_index=False)[["csat_satisfied", "csat_responses"]].sum()
    months = months.assign(period="month", period_start=months["month"], period_complete=months["month"] < dates[-1].replace(day=1))
    both = pd.concat([day_rows, months], ignore_index=True)
    return both.assign(channel="counter", branch_id="B1", responses=both["csat_responses"], nps_responses=both["csat_responses"],
                       promoters=both["csat_satisfied"], detractors=both["csat_responses"] - both["csat_satisfied"])


@pytest.mark.parametrize("first, days, min_sample, grain, points", [
    (dt.date(2026, 11, 10), 10, 1, "day", 10),      # ten days: ten points, not one month
    (dt.date(2026, 11, 2), 25, 1, "week", 4),       # Monday 2 November to Thursday 26: four weeks
    (dt.date(2026, 11, 2), 25, 7, "week", 4),       # 7 answers a week: weeks can be drawn (the last, 4, is not)
    (dt.date(2026, 11, 2), 25, 8, "month", 1),      # too few a week: one month that can be drawn, not empty weeks
    (dt.date(2026, 9, 1), 91, 1, "month", 3),       # September to November: months
])
def test_a_short_history_is_drawn_by_day_or_week_with_rates_from_counts(first, days, min_sample, grain, points):
    sat = satisfaction_rows(first, days)
    data = ReportData(Path("."), dt.datetime.now(dt.timezone.utc), min_sample=min_sample)
    satisfaction_view(data, sat)
    trend = data.satisfaction_channel
    assert data.satisfaction_grain == grain and len(trend) == points
    day_rows = sat[sat["period"] == "day"]
    assert trend["csat_responses"].sum() == len(day_rows)  # every answer once: never day and month rows together
    satisfied = day_rows["period_start"].map(lambda d: d.day % 2 == 0).sum()
    assert (trend["csat"] * trend["csat_responses"]).sum() == pytest.approx(satisfied)  # rates from counts
    if grain == "week":
        assert trend["period_start"].map(lambda d: d.weekday()).eq(0).all()  # weeks start on Monday
        assert trend["to_date"].tolist() == [False, False, False, True]  # the last week ends after the data
    if grain == "month":
        assert trend["to_date"].tolist() == [False] * (points - 1) + [True]  # the last month is in progress


def test_quality_view_shows_each_tables_latest_gate_and_what_failed_in_it():
    at = lambda minute: dt.datetime(2026, 11, 23, 1, minute, tzinfo=dt.timezone.utc)  # noqa: E731
    row = dict(stage="silver", table_name="call", table_version=3, scope="s", run_id="r1", column_name=None)
    results = pd.DataFrame([
        {**row, "validated_at": at(1), "expectation": "a", "severity": "error", "success": False, "gate_passed": False},
        {**row, "validated_at": at(2), "expectation": "a", "severity": "error", "success": True, "gate_passed": True},
        {**row, "validated_at": at(2), "expectation": "b", "column_name": "x", "severity": "warn", "success": False, "gate_passed": True},
        {**row, "stage": "bronze", "table_name": "calls", "validated_at": at(0), "expectation": "c", "severity": "error", "success": False,
         "gate_passed": False},
    ])
    view = quality_view(results).to_dict("records")
    assert [(r["stage"], r["table"], r["passed"], r["checks"], r["failed_errors"], r["failed_warnings"]) for r in view] == [
        ("bronze", "calls", False, 1, "c", ""), ("silver", "call", True, 2, "", "b(x)")]


def test_a_month_in_progress_is_shown_to_date():
    from interaction_lake.report.page import render

    values = pd.DataFrame({"month": [DEC, NOV], "customer_key": ["a", "b"], "contribution": [10.0, 5.0], "value_tier": ["high", "high"],
                           "contribution_share": [1.0, 1.0], "period_complete": [False, True],
                           "as_of_date": [dt.date(2026, 12, 9)] * 2})
    data = ReportData(Path("."), dt.datetime.now(dt.timezone.utc))
    value_view(data, values)
    assert data.to_date == {"value": dt.date(2026, 12, 9)}
    assert "December 2026 to date (data as of 2026-12-09)" in render(data)
    complete = values.assign(period_complete=True)
    value_view(data, complete)
    assert data.to_date == {"value": None}


def test_an_at_risk_customer_without_branch_or_manager_shows_blank_cells_not_nan():
    from interaction_lake.report.data import at_risk_view
    from interaction_lake.report.page import render

    data = ReportData(Path("lake"), dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc))
    risk = pd.DataFrame([{"customer_key": "a" * 64, "value_tier": "high", "segment": "retail", "home_branch_id": None,
                          "am_id": float("nan"), "contribution": 120.0, "clv": 900.0, "reasons": ["detractor"],
                          "as_of_date": NOV}])
    at_risk_view(data, risk)
    page = render(data)
    row = page[page.index("a" * 64):]
    row = row[:row.index("</tr>")]
    assert "nan" not in row.lower() and "None" not in row and "detractor" in row


def test_rates_show_their_answers_and_too_few_are_marked_and_not_drawn():
    from interaction_lake.report.page import render

    sat = pd.DataFrame({"period": "month", "period_start": NOV, "month": [NOV, NOV], "period_complete": True,
                        "channel": ["counter", "callcentre"], "branch_id": ["B1", "B2"],
                        "csat_satisfied": [3, 40], "csat_responses": [3, 50], "promoters": [3, 30], "detractors": [0, 10],
                        "nps_responses": [3, 50], "responses": [3, 50]})
    data = ReportData(Path("lake"), dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc), min_sample=30)
    satisfaction_view(data, sat)
    page = render(data)
    table = page[page.index('id="satisfaction-table"'):]
    table = table[:table.index("</table>")]
    rows = {r.split("</td>")[1].split(">")[-1]: r for r in table.split("<tr>")[2:]}
    assert '"num few">+100*</td><td class="num">3</td>' in rows["counter"]  # NPS +100 on 3 answers: marked, with its count
    assert '"num">80%</td><td class="num">50</td>' in rows["callcentre"] and "*" not in rows["callcentre"]
    assert "fewer than 30 answers" in page
    # the chart draws the call centre's rates and leaves the counter's 3 answers out
    from interaction_lake.report.charts import drawable

    drawn = drawable(data.satisfaction_channel, 30).set_index("channel")
    assert drawn["nps"].isna().to_dict() == {"callcentre": False, "counter": True}
    assert drawn["csat"].isna().to_dict() == {"callcentre": False, "counter": True}

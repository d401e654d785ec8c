"""What the report shows, read from the gold marts and the quality results at pinned Delta versions.

The report is a reader of the lake, like a BI tool: it uses ``deltalake`` (no Spark session) and
records the Delta version of every table it read, so each figure on the page can be traced back
(``interaction-lake audit trace`` takes it from there). Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.quality.gate import results_table
from interaction_lake.report import MIN_SAMPLE
from interaction_lake.storage import location

GOLD = "gold"
TIERS = ("high", "mid", "low")
AT_RISK_SHOWN = 100
PARETO_POINTS = 200


class NoMarts(Exception):
    """The lake has no gold marts yet."""


@dataclass
class ReportData:
    lake_root: Path
    generated_at: dt.datetime
    versions: dict[str, int] = field(default_factory=dict)
    value_month: dt.date | None = None
    tiers: pd.DataFrame | None = None          # value_tier, customers, contribution, contribution_share
    pareto: pd.DataFrame | None = None         # customer_share, contribution_share
    top20_share: float | None = None           # contribution share of the top 20% of customers
    # CSAT and NPS over time: period_start, channel (or branch_id), csat, csat_responses, nps, nps_responses, responses,
    # to_date (the period is still in progress); one point per satisfaction_grain (month, week or day)
    satisfaction_channel: pd.DataFrame | None = None
    satisfaction_branch: pd.DataFrame | None = None
    satisfaction_grain: str = "month"
    abandonment: pd.DataFrame | None = None    # period_start, abandonment_rate, abandonment_ceiling, abandonment_breach, queue_outcomes
    wait_month: dt.date | None = None
    waits_all: pd.DataFrame | None = None      # hour_of_day, tickets, wait_p10..p90_seconds, wait_mean_seconds
    waits_branch: pd.DataFrame | None = None   # branch_id x hour_of_day -> wait_mean_seconds
    am_month: dt.date | None = None
    am: pd.DataFrame | None = None
    at_risk: pd.DataFrame | None = None
    at_risk_total: int = 0
    at_risk_as_of: dt.date | None = None
    quality: pd.DataFrame | None = None        # latest gate per (stage, table)
    held: list = field(default_factory=list)   # what the gates hold now (jobs.quality.held.Held), excluded from the figures
    # a month shown that is still in progress: the data's as-of date, for "to date" beside the month (None: complete)
    to_date: dict[str, dt.date | None] = field(default_factory=dict)
    min_sample: int = MIN_SAMPLE  # rates on fewer answers are marked in tables and left out of charts
    currency: str = ""  # the reporting currency of the value figures
    quarantined: pd.DataFrame | None = None  # source, records: refused at landing, in no figure


def _read(path: Path, versions: dict[str, int], name: str) -> pd.DataFrame | None:
    if not lake.exists(path):
        return None
    table = DeltaTable(str(path))
    versions[name] = table.version()
    arrow = lake.arrow(table)
    # money is exact decimal in the marts; the report draws and rounds it, so it reads it as floats
    money = [f.name for f in arrow.schema if pa.types.is_decimal(f.type)]
    return arrow.to_pandas().astype({name: "float64" for name in money})


def load(lake_root: Path, min_sample: int = MIN_SAMPLE) -> ReportData:
    data = ReportData(location(lake_root), dt.datetime.now(dt.timezone.utc), min_sample=min_sample)
    marts = {name: _read(lake.table_path(lake_root, GOLD, name), data.versions, f"gold/{name}")
             for name in ("customer_value", "satisfaction", "service_quality", "branch_wait_by_hour", "am_effectiveness",
                          "key_customers_at_risk")}
    if all(frame is None for frame in marts.values()):
        raise NoMarts(f"no gold marts under {location(lake_root) / GOLD}: run 'interaction-lake build-marts' first")
    if marts["customer_value"] is not None:
        value_view(data, marts["customer_value"])
    if marts["satisfaction"] is not None:
        satisfaction_view(data, marts["satisfaction"])
    if marts["service_quality"] is not None:
        data.abandonment = abandonment_view(marts["service_quality"])
    if marts["branch_wait_by_hour"] is not None:
        waits_view(data, marts["branch_wait_by_hour"])
    if marts["am_effectiveness"] is not None:
        data.am_month, data.am = latest_month(marts["am_effectiveness"])
        data.to_date["am"] = in_progress(data.am)
    if marts["key_customers_at_risk"] is not None:
        at_risk_view(data, marts["key_customers_at_risk"])
    quarantine = lake.landing_quarantine_table(lake_root)
    if lake.exists(quarantine):
        table = DeltaTable(str(quarantine))
        data.versions["quarantine/landing"] = table.version()
        sources = lake.arrow(table, columns=["source"]).to_pandas()
        data.quarantined = sources.fillna({"source": "(no source)"}).groupby("source").size().rename("records").reset_index()
    results = _read(results_table(lake_root), data.versions, "_system/quality_results")
    data.quality = quality_view(results) if results is not None else None
    return data


def in_progress(rows: pd.DataFrame | None) -> dt.date | None:
    """The as-of date of rows whose period is not complete yet (marts built before ``period_complete``: None)."""
    if rows is None or rows.empty or "period_complete" not in rows or rows["period_complete"].all():
        return None
    return rows["as_of_date"].max()


def latest_month(frame: pd.DataFrame) -> tuple[dt.date | None, pd.DataFrame]:
    if frame.empty:
        return None, frame
    month = frame["month"].max()
    return month, frame[frame["month"] == month].reset_index(drop=True)


def value_view(data: ReportData, values: pd.DataFrame) -> None:
    """Tier pyramid and the 80/20 (Pareto) curve of the latest month's positive contribution."""
    data.value_month, month = latest_month(values)
    data.to_date["value"] = in_progress(month)
    if month.empty:
        return
    if "currency" in month:
        data.currency = ", ".join(sorted(month["currency"].dropna().unique()))
    tiers = month.groupby("value_tier").agg(customers=("customer_key", "size"), contribution=("contribution", "sum"),
                                             contribution_share=("contribution_share", "sum"))
    data.tiers = tiers.reindex([t for t in TIERS if t in tiers.index]).reset_index()
    positive = month["contribution"].clip(lower=0).sort_values(ascending=False).to_numpy()
    total = positive.sum()
    n = len(positive)
    cumulative = positive.cumsum() / total if total > 0 else positive.cumsum() * 0
    step = max(1, n // PARETO_POINTS)
    index = sorted(set(range(step - 1, n, step)) | {n - 1})
    data.pareto = pd.DataFrame({"customer_share": [0.0] + [(i + 1) / n for i in index],
                                "contribution_share": [0.0] + [float(cumulative[i]) for i in index]})
    top = max(1, round(n * 0.2))
    data.top20_share = float(cumulative[top - 1]) if total > 0 else None


def satisfaction_view(data: ReportData, sat: pd.DataFrame) -> None:
    """CSAT and NPS over time by channel and by branch, recomputed from the counts (never averaged rates), at the grain
    that draws a trend (see :func:`trend_rows`)."""
    def rates(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        g = frame.groupby(by, dropna=True).agg(
            **{c: (c, "sum") for c in ("csat_satisfied", "csat_responses", "promoters", "detractors", "nps_responses", "responses")},
            to_date=("to_date", "any"))
        g["csat"] = g["csat_satisfied"] / g["csat_responses"].where(g["csat_responses"] > 0)
        g["nps"] = 100 * (g["promoters"] - g["detractors"]) / g["nps_responses"].where(g["nps_responses"] > 0)
        return g.reset_index()[[*by, "csat", "csat_responses", "nps", "nps_responses", "responses", "to_date"]].sort_values(by)

    candidates = trend_rows(sat)
    by_channel = {grain: rates(rows, ["period_start", "channel"]) for grain, rows in candidates.items()}
    data.satisfaction_grain = trend_grain(by_channel, data.min_sample)
    rows = candidates[data.satisfaction_grain]
    data.satisfaction_channel = by_channel[data.satisfaction_grain]
    data.satisfaction_branch = rates(rows[rows["branch_id"].notna()], ["period_start", "branch_id"])


# A trend wants at least this many points: months when the data draws as many, else weeks, else days.
TREND_POINTS = 3


def trend_rows(sat: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The satisfaction rows a trend point is summed from, per grain: ``month`` (the mart's month rows), ``week`` (its
    day rows by ISO week, Monday to Sunday) and ``day``. Each row gets ``period_start`` (its point) and ``to_date``
    (the period is still in progress: the data ends before it does). Day and month rows are never mixed."""
    if "period" not in sat:  # a mart built before it had day rows: months only
        sat = sat.assign(period="month", period_start=sat["month"])
    months = sat[sat["period"] == "month"]
    months = months.assign(to_date=~months["period_complete"].astype(bool) if "period_complete" in months else False)
    days = sat[sat["period"] == "day"]
    last_day = days["period_start"].max() if len(days) else None
    starts = pd.to_datetime(days["period_start"])
    weeks = (starts - pd.to_timedelta(starts.dt.weekday, unit="D")).dt.date
    return {"month": months,
            "week": days.assign(period_start=weeks, to_date=[w + dt.timedelta(days=6) > last_day for w in weeks]),
            "day": days.assign(to_date=False)}


def trend_grain(by_channel: dict[str, pd.DataFrame], min_sample: int) -> str:
    """The coarsest grain with ``TREND_POINTS`` points that can be drawn (some channel has ``min_sample`` answers),
    else the one with most such points (the coarser on a tie): a short history is drawn by week or by day when its
    answers allow, and a small bank's few answers give one honest monthly point rather than empty days."""
    def drawable(rates: pd.DataFrame) -> int:
        enough = (rates["csat_responses"] >= min_sample) | (rates["nps_responses"] >= min_sample)
        return rates.loc[enough, "period_start"].nunique()

    points = {grain: drawable(rates) for grain, rates in by_channel.items()}
    return next((g for g, n in points.items() if n >= TREND_POINTS), max(points, key=points.get))


def abandonment_view(service: pd.DataFrame) -> pd.DataFrame:
    calls = service[(service["period"] == "day") & (service["channel"] == "callcentre") & (service["unit_id"] == "ALL")]
    return calls[["period_start", "abandonment_rate", "abandonment_ceiling", "abandonment_breach", "queue_outcomes"]] \
        .sort_values("period_start").reset_index(drop=True)


def waits_view(data: ReportData, waits: pd.DataFrame) -> None:
    data.wait_month, month = latest_month(waits)
    data.to_date["wait"] = in_progress(month)
    data.waits_all = month[month["branch_id"] == "ALL"].sort_values("hour_of_day").reset_index(drop=True)
    data.waits_branch = month[month["branch_id"] != "ALL"].pivot_table(index="branch_id", columns="hour_of_day",
                                                                         values="wait_mean_seconds", aggfunc="first")


def at_risk_view(data: ReportData, risk: pd.DataFrame) -> None:
    data.at_risk_total = len(risk)
    data.at_risk_as_of = risk["as_of_date"].max() if len(risk) else None
    tier_rank = risk["value_tier"].map({t: i for i, t in enumerate(TIERS)})
    ordered = risk.assign(_tier=tier_rank).sort_values(["_tier", "contribution"], ascending=[True, False])
    data.at_risk = ordered.drop(columns="_tier").head(AT_RISK_SHOWN).reset_index(drop=True)


def quality_view(results: pd.DataFrame) -> pd.DataFrame:
    """The latest gate run of every (stage, table): passed or not, what failed, when, on which version."""
    latest = results.sort_values("validated_at").groupby(["stage", "table_name"]).tail(1)[["stage", "table_name", "validated_at"]]
    rows = results.merge(latest, on=["stage", "table_name", "validated_at"])
    out = []
    for (stage, table), group in rows.groupby(["stage", "table_name"], sort=True):
        failed = group[~group["success"]]
        out.append({"stage": stage, "table": table, "passed": bool(group["gate_passed"].iloc[0]),
                    "checks": len(group), "failed_errors": ", ".join(_describe(failed[failed["severity"] == "error"])),
                    "failed_warnings": ", ".join(_describe(failed[failed["severity"] == "warn"])),
                    "validated_at": group["validated_at"].iloc[0], "table_version": group["table_version"].iloc[0],
                    "scope": group["scope"].iloc[0], "run_id": group["run_id"].iloc[0]})
    order = {"bronze": 0, "silver": 1, "gold": 2}
    return pd.DataFrame(out).sort_values(["stage", "table"], key=lambda c: c.map(order) if c.name == "stage" else c).reset_index(drop=True)


def _describe(failed: pd.DataFrame) -> list[str]:
    return [f"{r.expectation}({r.column_name})" if isinstance(r.column_name, str) else r.expectation for r in failed.itertuples()]

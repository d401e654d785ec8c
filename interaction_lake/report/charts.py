"""The report's charts: matplotlib figures rendered to inline SVG (text kept as text, no scripts, no fonts to fetch).

Each function takes a small frame from ``report.data`` and returns one ``<svg>`` element as a string.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display here or on a scheduler worker

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

TIER_COLOURS = {"high": "#1b5e20", "mid": "#66a36b", "low": "#c8dcc9"}
CHANNEL_COLOURS = {"counter": "#1f77b4", "callcentre": "#ff7f0e", "account_manager": "#2ca02c", "digital": "#9467bd", "unknown": "#9e9e9e"}
BREACH = "#c62828"
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                     "font.family": "sans-serif"})


def to_svg(fig: Figure, name: str) -> str:
    """One figure as an ``<svg>`` element; ``name`` salts matplotlib's ids so several SVGs on a page never share one."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue()
    start = svg.index("<svg")
    return svg[start:].replace("<svg ", f'<svg role="img" aria-label="{name}" data-chart="{name}" ', 1)


def tier_pyramid(tiers: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.6))
    rows = tiers.iloc[::-1]  # low at the bottom, high on top
    widest = rows["customers"].max()
    for y, r in enumerate(rows.itertuples()):
        ax.barh(y, r.customers, left=-r.customers / 2, color=TIER_COLOURS.get(r.value_tier, "#999"), height=0.8)
        ax.text(widest / 2 + widest * 0.03, y, f"{r.value_tier}: {r.customers:,} customers, {r.contribution_share:.0%} of contribution",
                va="center")
    ax.set_yticks([])
    ax.set_xticks([])
    ax.spines[["left", "bottom"]].set_visible(False)
    ax.set_xlim(-widest / 2 * 1.05, widest * 1.6)
    return to_svg(fig, "value-tier-pyramid")


def pareto_curve(points: pd.DataFrame, top20_share: float | None) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(points["customer_share"] * 100, points["contribution_share"] * 100, color="#1b5e20", label="customers ranked by contribution")
    ax.plot([0, 100], [0, 100], color="#999", linestyle=":", label="every customer worth the same")
    if top20_share is not None:
        ax.axvline(20, color="#555", linewidth=0.8, linestyle="--")
        ax.annotate(f"top 20% of customers: {top20_share:.0%} of contribution", (20, top20_share * 100), xytext=(28, top20_share * 100 - 18),
                    arrowprops={"arrowstyle": "->", "color": "#555"})
    ax.set_xlabel("share of customers (%)")
    ax.set_ylabel("cumulative share of contribution (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 102)
    ax.legend(loc="lower right", frameon=False)
    return to_svg(fig, "pareto-80-20")


def drawable(frame: pd.DataFrame, min_sample: int) -> pd.DataFrame:
    """The rates a chart draws: CSAT and NPS on fewer than ``min_sample`` answers left out (NaN: no point)."""
    return frame.assign(csat=frame["csat"].where(frame["csat_responses"] >= min_sample),
                        nps=frame["nps"].where(frame["nps_responses"] >= min_sample))


# How a trend point is labelled on an axis, by grain (the table beside a chart gives the full date).
POINT_LABELS = {"month": "%Y-%m", "week": "w/c %m-%d", "day": "%m-%d"}


def satisfaction_trend(frame: pd.DataFrame, by: str, name: str, limit: int = 12, min_sample: int = 0, grain: str = "month") -> str:
    """One line per channel (or branch) over the periods (months, weeks or days: ``grain``); periods are categories, so
    one period is one clear point. A rate on fewer than ``min_sample`` answers is not drawn (the table marks it)."""
    frame = drawable(frame, min_sample)
    keep = frame.groupby(by)["responses"].sum().sort_values(ascending=False).head(limit).index
    periods = sorted(frame["period_start"].unique())
    labels = [f"{p:{POINT_LABELS[grain]}}" for p in periods]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, group in frame[frame[by].isin(keep)].groupby(by):
        colour = CHANNEL_COLOURS.get(key) if by == "channel" else None
        x = [periods.index(p) for p in group["period_start"]]
        left.plot(x, group["csat"] * 100, marker="o", label=str(key), color=colour)
        right.plot(x, group["nps"], marker="o", label=str(key), color=colour)
    left.set_title("CSAT (% satisfied, 4-5 of 5)")
    right.set_title("NPS (promoters - detractors, -100..100)")
    right.axhline(0, color="#999", linewidth=0.6)
    step = max(1, len(periods) // 8)  # at most about eight labels an axis
    for ax in (left, right):
        ax.set_xticks(range(0, len(periods), step), labels=labels[::step], rotation=30 if len(periods) > 4 else 0, fontsize=8)
        ax.set_xlim(-0.5, len(periods) - 0.5)
    right.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title=by.replace("_", " "))
    return to_svg(fig, name)


def abandonment(days: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(9, 3))
    when = pd.to_datetime(days["period_start"])
    ax.plot(when, days["abandonment_rate"] * 100, marker=".", color="#ff7f0e", label="abandonment rate")
    ceiling = days["abandonment_ceiling"].dropna()
    if len(ceiling):
        ax.axhline(ceiling.iloc[0] * 100, color=BREACH, linestyle="--", label=f"ceiling {ceiling.iloc[0]:.0%}")
    breached = days["abandonment_breach"].fillna(False).astype(bool)
    ax.scatter(when[breached], days.loc[breached, "abandonment_rate"] * 100, color=BREACH, zorder=3, label="over the ceiling")
    ax.set_ylabel("% of queue outcomes")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%m-%d"))
    ax.legend(frameon=False, loc="upper left")
    return to_svg(fig, "call-abandonment")


def waits_by_hour(waits: pd.DataFrame) -> str:
    """Box per hour: whiskers p10-p90, box p25-p75, line the median, dot the mean (all over called tickets)."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    stats = [{"label": f"{int(r.hour_of_day):02d}", "whislo": r.wait_p10_seconds / 60, "q1": r.wait_p25_seconds / 60,
              "med": r.wait_p50_seconds / 60, "q3": r.wait_p75_seconds / 60, "whishi": r.wait_p90_seconds / 60,
              "mean": r.wait_mean_seconds / 60, "fliers": []}
             for r in waits.itertuples() if pd.notna(r.wait_p50_seconds)]
    if stats:
        ax.bxp(stats, showmeans=True, patch_artist=True, boxprops={"facecolor": "#cfe0f3"},
               meanprops={"marker": "o", "markerfacecolor": "#1f77b4", "markeredgecolor": "#1f77b4", "markersize": 3})
    ax.set_xlabel("hour the ticket was issued (UTC)")
    ax.set_ylabel("wait (minutes)")
    return to_svg(fig, "branch-wait-by-hour")


def waits_heatmap(medians: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(medians) + 1.2))
    image = ax.imshow(medians.to_numpy(dtype=float) / 60, aspect="auto", cmap="YlOrRd")
    ax.set_yticks(range(len(medians)), labels=list(medians.index))
    ax.set_xticks(range(len(medians.columns)), labels=[f"{int(h):02d}" for h in medians.columns])
    ax.set_xlabel("hour the ticket was issued (UTC)")
    fig.colorbar(image, ax=ax, label="mean wait (min)")
    return to_svg(fig, "branch-wait-heatmap")


def am_effectiveness(am: pd.DataFrame) -> str:
    """Achievement rate per AM; beside it, when a month-before snapshot exists, balance change of contacted customers vs the book."""
    rows = am.sort_values("am_id")
    has_change = rows[["contacted_balance_change_pct", "book_balance_change_pct"]].notna().any().any()
    fig, axes = plt.subplots(1, 2 if has_change else 1, figsize=(9 if has_change else 5, 0.3 * len(rows) + 1.6), squeeze=False)
    left = axes[0][0]
    left.barh(rows["am_id"], rows["contact_achievement_rate"].fillna(0) * 100, color="#2ca02c")
    left.set_xlabel("contacts achieved (% of contacts logged)")
    left.set_xlim(0, 100)
    left.invert_yaxis()
    if has_change:
        right, y = axes[0][1], range(len(rows))
        right.scatter(rows["contacted_balance_change_pct"], y, label="customers contacted", color="#2ca02c")
        right.scatter(rows["book_balance_change_pct"], y, label="whole book", color="#999", marker="s")
        right.axvline(0, color="#999", linewidth=0.6)
        right.set_yticks(list(y), labels=[""] * len(rows))
        right.invert_yaxis()
        right.set_xlabel("balance change over the month (%)")
        right.legend(frameon=False, loc="lower right")
    return to_svg(fig, "am-effectiveness")

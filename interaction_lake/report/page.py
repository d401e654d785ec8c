"""Assemble the report: one HTML file with inline CSS and SVG, no scripts and nothing fetched over the network.

It opens from a file share, an e-mail attachment or an object store as it is; every section names the
mart and Delta version it was drawn from.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
from pathlib import Path

import jinja2

from interaction_lake.report import charts
from interaction_lake.report import MIN_SAMPLE
from interaction_lake.report.data import ReportData, load

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>interaction-lake report {{ d.generated_at.strftime('%Y-%m-%d %H:%M') }} UTC</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 1.5rem 3rem; color: #222; }
h1 { margin: 1.2rem 0 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.meta, .source { color: #666; font-size: 12px; } .empty { color: #a15c00; }
figure { margin: 0.8rem 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 12px; margin: 0.6rem 0; } th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .fail { color: #c62828; font-weight: 600; } .pass { color: #1b5e20; }
nav a { margin-right: 0.8rem; } code { font-size: 12px; } code.key { word-break: break-all; user-select: all; }
td code.run { overflow-wrap: anywhere; } #quality-table td:last-child { max-width: 16rem; } .few { color: #a15c00; }
</style></head>
<body>
<h1>Customer value and service quality</h1>
<p class="meta">Built {{ d.generated_at.strftime('%Y-%m-%d %H:%M:%S') }} UTC from the lake at <code>{{ d.lake_root }}</code>.
Tables read (Delta version): {% for name, v in d.versions.items() %}<code>{{ name }}@{{ v }}</code>{{ ", " if not loop.last }}{% endfor %}.
Definitions: <code>docs/metrics.md</code>. Customer keys are pseudonyms; <code>interaction-lake audit trace</code> follows a row back to its events and files.</p>
<nav><a href="#value">Value</a><a href="#satisfaction">Satisfaction</a><a href="#abandonment">Call abandonment</a>
<a href="#waits">Branch waits</a><a href="#am">Account managers</a><a href="#at-risk">At risk</a><a href="#quality">Data quality</a></nav>

<section id="value"><h2>Customer value{% if d.value_month %} — {{ d.value_month.strftime('%B %Y') }}{% if d.to_date.get('value') %} to date (data as of {{ d.to_date['value'] }}){% endif %}{% endif %}</h2>
{% if c.pyramid %}
<p>Tiers by the 80/20 rule: customers ranked by contribution; <em>high</em> until 80% of the month's positive contribution is reached.</p>
<figure>{{ c.pyramid|safe }}</figure>
<table id="tier-table"><tr><th>tier</th><th>customers</th><th>contribution{% if d.currency %} ({{ d.currency }}){% endif %}</th><th>share</th></tr>
{% for r in d.tiers.itertuples() %}<tr><td>{{ r.value_tier }}</td><td class="num">{{ "{:,}".format(r.customers) }}</td>
<td class="num">{{ "{:,.0f}".format(r.contribution) }}</td><td class="num">{{ "{:.1%}".format(r.contribution_share) }}</td></tr>{% endfor %}</table>
<figure>{{ c.pareto|safe }}<figcaption class="source">gold/customer_value, latest month: cumulative share of positive contribution.</figcaption></figure>
{% else %}<p class="empty">No customer_value rows yet.</p>{% endif %}</section>

<section id="satisfaction"><h2>Satisfaction: CSAT and NPS</h2>
{% if c.sat_channel %}
<figure>{{ c.sat_channel|safe }}<figcaption class="source">gold/satisfaction by {{ d.satisfaction_grain }} and channel, recomputed from response counts{{ sat_grain_note }}.{% if not sat_drawn %}
No {{ d.satisfaction_grain }} has {{ d.min_sample }} answers in a channel yet, so no point is drawn: the table below has every rate.{% endif %}</figcaption></figure>
<figure>{{ c.sat_branch|safe }}<figcaption class="source">The same by branch (the {{ branches_shown }} branches with most responses).</figcaption></figure>
<table id="satisfaction-table"><tr><th>{{ d.satisfaction_grain }}</th><th>channel</th><th>CSAT</th><th>answers</th><th>NPS</th><th>answers</th></tr>
{% for r in d.satisfaction_channel.itertuples() %}<tr><td>{{ period_label(r.period_start) }}{{ ' to date' if r.to_date }}</td><td>{{ r.channel }}</td>
<td class="num{{ ' few' if r.csat_responses < d.min_sample }}">{{ pct(r.csat) }}{{ '*' if r.csat_responses < d.min_sample and r.csat_responses }}</td><td class="num">{{ r.csat_responses }}</td>
<td class="num{{ ' few' if r.nps_responses < d.min_sample }}">{{ score(r.nps) }}{{ '*' if r.nps_responses < d.min_sample and r.nps_responses }}</td><td class="num">{{ r.nps_responses }}</td></tr>{% endfor %}</table>
<p class="source">* fewer than {{ d.min_sample }} answers: too few to compare, so not drawn above (<code>interaction-lake report --min-sample</code>).</p>
{% else %}<p class="empty">No survey responses yet.</p>{% endif %}</section>

<section id="abandonment"><h2>Call abandonment per day</h2>
{% if c.abandonment %}<p>{{ breaches }} of {{ d.abandonment|length }} days over the ceiling. Short abandons (under the threshold) are not counted.
Each day's rate is over its queue outcomes: {{ outcomes_range }}{% if few_days %}; {{ few_days }} day(s) on fewer than {{ d.min_sample }}{% endif %}.</p>
<figure>{{ c.abandonment|safe }}<figcaption class="source">gold/service_quality, period = day, channel = callcentre, unit ALL.</figcaption></figure>
{% else %}<p class="empty">No call-centre days yet.</p>{% endif %}</section>

<section id="waits"><h2>Branch wait time by hour{% if d.wait_month %} — {{ d.wait_month.strftime('%B %Y') }}{% if d.to_date.get('wait') %} to date (data as of {{ d.to_date['wait'] }}){% endif %}{% endif %}</h2>
{% if c.waits %}<p>Every branch together, by the hour the ticket was issued on the bank's clock ({{ timezone }}; a branch in
another zone on its own): whiskers 10th–90th percentile, box 25th–75th, line the median, dot the mean.
{{ "{:,}".format(d.waits_all['tickets_called'].sum()|int) if 'tickets_called' in d.waits_all else '' }} tickets called.</p>
<figure>{{ c.waits|safe }}</figure>
{% if c.heatmap %}<figure>{{ c.heatmap|safe }}<figcaption class="source">gold/branch_wait_by_hour: mean wait per branch and hour.</figcaption></figure>{% endif %}
{% else %}<p class="empty">No counter visits yet.</p>{% endif %}</section>

<section id="am"><h2>Account-manager effectiveness{% if d.am_month %} — {{ d.am_month.strftime('%B %Y') }}{% if d.to_date.get('am') %} to date (data as of {{ d.to_date['am'] }}){% endif %}{% endif %}</h2>
{% if c.am %}<figure>{{ c.am|safe }}</figure>
<table><tr><th>am</th><th>logged</th><th>achieved</th><th>rate</th><th>new info</th><th>opportunities</th><th>contacted balance</th><th>book balance</th></tr>
{% for r in d.am.sort_values('am_id').itertuples() %}<tr><td>{{ r.am_id }}</td><td class="num">{{ r.contacts_logged }}</td><td class="num">{{ r.contacts_achieved }}</td>
<td class="num">{{ pct(r.contact_achievement_rate) }}</td><td class="num">{{ pct(r.new_info_rate) }}</td><td class="num">{{ r.opportunities }}</td>
<td class="num">{{ signed(r.contacted_balance_change_pct) }}</td><td class="num">{{ signed(r.book_balance_change_pct) }}</td></tr>{% endfor %}</table>
<p class="source">gold/am_effectiveness. Balance change is over the month, for the customers contacted and for the AM's whole book;
blank until a holdings snapshot of the month before exists.</p>
{% else %}<p class="empty">No account-manager contacts yet.</p>{% endif %}</section>

<section id="at-risk"><h2>Key customers at risk{% if d.at_risk_as_of %} — as of {{ d.at_risk_as_of }}{% endif %}</h2>
{% if d.at_risk is not none and d.at_risk|length %}<p>{{ d.at_risk_total }} customers flagged; the first {{ d.at_risk|length }} by tier, then contribution.</p>
<table id="at-risk-table"><tr><th>customer (pseudonym)</th><th>tier</th><th>segment</th><th>branch</th><th>am</th><th>contribution</th><th>CLV</th><th>reasons</th></tr>
{% for r in d.at_risk.itertuples() %}<tr><td><code class="key" title="the full pseudonym: paste it into interaction-lake audit trace">{{ r.customer_key }}</code></td><td>{{ r.value_tier }}</td><td>{{ r.segment }}</td><td>{{ text(r.home_branch_id) }}</td>
<td>{{ text(r.am_id) }}</td><td class="num">{{ "{:,.0f}".format(r.contribution) }}</td><td class="num">{{ "{:,.0f}".format(r.clv) }}</td><td>{{ r.reasons|join(", ") }}</td></tr>{% endfor %}</table>
<p class="source">gold/key_customers_at_risk (rebuilt whole each run).</p>
{% else %}<p class="empty">No key customers at risk.</p>{% endif %}</section>

<section id="quality"><h2>Data quality: the latest gate of each table</h2>
{% if d.held %}<h3 class="fail">Held by the gates: excluded from every figure above until resolved ({{ d.held|length }})</h3>
<table id="held-table"><tr><th>held</th><th>since (UTC)</th><th>why</th></tr>
{% for h in d.held %}<tr><td>{{ h.subject() }}</td><td>{{ h.since.strftime('%Y-%m-%d %H:%M') }}</td><td>{{ h.reasons|join("; ") }}</td></tr>{% endfor %}</table>
<p class="source">interaction-lake quality held | recheck | release (docs/quality.md).</p>{% endif %}
{% if d.quality is not none and d.quality|length %}
<table id="quality-table"><tr><th>stage</th><th>table</th><th>gate</th><th>checks</th><th>failed (errors)</th><th>failed (warnings)</th><th>version</th><th>validated</th><th>run</th></tr>
{% for r in d.quality.itertuples() %}<tr><td>{{ r.stage }}</td><td>{{ r.table }}</td><td class="{{ 'pass' if r.passed else 'fail' }}">{{ 'passed' if r.passed else 'FAILED' }}</td>
<td class="num">{{ r.checks }}</td><td>{{ r.failed_errors }}</td><td>{{ r.failed_warnings }}</td><td class="num">{{ whole(r.table_version) }}</td>
<td>{{ r.validated_at.strftime('%Y-%m-%d %H:%M') }}</td><td><code class="run">{{ r.run_id }}</code></td></tr>{% endfor %}</table>
<p class="source">_system/quality_results; full results in the Great Expectations Data Docs under _system/quality/gx.</p>
{% else %}<p class="empty">No gate has run yet.</p>{% endif %}
{% if d.quarantined is not none and d.quarantined|length %}<p id="quarantined">Refused at landing and in no figure above:
{% for r in d.quarantined.itertuples() %}{{ r.source }} {{ "{:,}".format(r.records) }}{{ ", " if not loop.last }}{% endfor %} record(s)
(<code>quarantine/landing</code>, with the reason and the raw bytes of each; a customer's refused records are counted in
<code>customer_value.quarantined_inputs</code>).</p>{% endif %}</section>
</body></html>
"""


def text(value) -> str:
    """A cell's text: blank for a missing value (pandas gives NaN, which would print as "nan")."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def pct(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


def whole(value) -> str:
    """Delta versions (gold gates validate a staged table, so theirs is blank)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(int(value))


def score(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.0f}"


def signed(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.1f}%"


SAT_GRAIN_NOTES = {"month": "", "week": "; weeks (Monday to Sunday), as too few months can be drawn for a trend",
                   "day": "; days, as too few weeks can be drawn for a trend"}


def _period_label(grain: str, start: dt.date) -> str:
    return {"month": f"{start:%Y-%m}", "week": f"week of {start:%Y-%m-%d}", "day": f"{start:%Y-%m-%d}"}[grain]


def render(d: ReportData) -> str:
    c = dict.fromkeys(("pyramid", "pareto", "sat_channel", "sat_branch", "abandonment", "waits", "heatmap", "am"), "")
    if d.tiers is not None and len(d.tiers):
        c["pyramid"] = charts.tier_pyramid(d.tiers)
        c["pareto"] = charts.pareto_curve(d.pareto, d.top20_share)
    if d.satisfaction_channel is not None and len(d.satisfaction_channel):
        trend = functools.partial(charts.satisfaction_trend, min_sample=d.min_sample, grain=d.satisfaction_grain)
        c["sat_channel"] = trend(d.satisfaction_channel, "channel", "satisfaction-by-channel")
        c["sat_branch"] = trend(d.satisfaction_branch, "branch_id", "satisfaction-by-branch")
    if d.abandonment is not None and d.abandonment["abandonment_rate"].notna().any():
        c["abandonment"] = charts.abandonment(d.abandonment)
    if d.waits_all is not None and d.waits_all["wait_p50_seconds"].notna().any():
        c["waits"] = charts.waits_by_hour(d.waits_all)
        if d.waits_branch is not None and len(d.waits_branch):
            c["heatmap"] = charts.waits_heatmap(d.waits_branch)
    if d.am is not None and len(d.am):
        c["am"] = charts.am_effectiveness(d.am)
    breaches = int(d.abandonment["abandonment_breach"].fillna(False).astype(bool).sum()) if d.abandonment is not None else 0
    branches = d.satisfaction_branch["branch_id"].nunique() if d.satisfaction_branch is not None else 0
    outcomes = d.abandonment["queue_outcomes"].dropna() if d.abandonment is not None else []
    outcomes_range = (f"{int(outcomes.min()):,} to {int(outcomes.max()):,} calls a day" if len(outcomes) else "")
    few_days = int((outcomes < d.min_sample).sum()) if len(outcomes) else 0
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    period_label = functools.partial(_period_label, d.satisfaction_grain)
    sat_drawn = d.satisfaction_channel is not None and charts.drawable(d.satisfaction_channel, d.min_sample)[["csat", "nps"]].notna().any(axis=None)
    return env.from_string(TEMPLATE).render(d=d, c=c, pct=pct, signed=signed, whole=whole, text=text, score=score, breaches=breaches,
                                            period_label=period_label, sat_drawn=sat_drawn,
                                            sat_grain_note=SAT_GRAIN_NOTES[d.satisfaction_grain],
                                            branches_shown=min(branches, 12), outcomes_range=outcomes_range, few_days=few_days,
                                            timezone=business_timezone(d.lake_root))


def business_timezone(lake_root: Path) -> str:
    """The bank's zone the marts' dates and hours are on, as the lake recorded it."""
    from interaction_lake import business_calendar

    return business_calendar.parse(business_calendar.of_lake(lake_root))[0]


def build_report(lake_root: Path, out: Path, held: list | None = None, min_sample: int = MIN_SAMPLE) -> Path:
    """Write the report for the lake at ``lake_root`` to ``out`` (atomically: a reader never sees half a page).
    ``held``: what the gates hold now (``jobs.quality.held.held``), shown as excluded from the figures; rates on fewer
    than ``min_sample`` answers are marked."""
    data = load(lake_root, min_sample)
    data.held = held or []
    html = render(data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    partial.write_text(html, encoding="utf-8")
    partial.replace(out)
    return out


__all__ = ["build_report", "render"]

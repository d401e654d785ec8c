"""The semantic layer of the marts: which columns are dimensions, which measures add up and over what, and the rates as
ratios of sums, so a BI tool does not double-count. Written as dbt MetricFlow YAML to ``docs/semantic_layer.yml``.

Descriptions come from the glossary (``docs/metrics.md``, through ``interaction_lake.glossary``); what this module
declares is how each column may be aggregated, which the glossary says in words:

* ``sums``: add up over every dimension, within the metric's ``rows`` (a mart whose rows overlap -- the day and month
  rows of `service_quality` and `satisfaction`, `service_quality`'s `ALL` unit, `branch_wait_by_hour`'s `ALL` branch --
  gets metrics filtered to rows that do not: summing every `service_quality` row with `unit_id = 'ALL'` counts each
  call three to four times);
* ``snapshots``: add up across customers, branches or managers but not over time (balances, distinct customers): a
  MetricFlow ``non_additive_dimension``, the period's last value;
* ``ratios``: the mart's rates, recomputed as a sum over a sum, never averaged;
* ``at_grain``: means, percentiles, scores and shares that are read row by row and cannot be aggregated from the mart.

Every metric also carries the plain SQL a BI tool without MetricFlow can run against the SQL endpoint (``meta.sql``).
A unit test keeps the file equal to what this module generates and every mart column declared; an integration test
runs the SQL on real marts and compares it with silver. Regenerate with ``python -m interaction_lake.semantic_layer``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from interaction_lake import glossary

OUTPUT = glossary.GLOSSARY.parent / "semantic_layer.yml"


@dataclass(frozen=True)
class Model:
    time: str  # the time dimension metrics aggregate over
    granularity: str  # its grain: day or month
    dimensions: tuple[str, ...]
    entities: dict[str, str] = field(default_factory=dict)  # entity name -> column
    sums: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    ratios: dict[str, tuple[str, str]] = field(default_factory=dict)  # rate column -> (numerator SQL, denominator SQL)
    at_grain: tuple[str, ...] = ()
    rows: dict[str, str] = field(default_factory=dict)  # name suffix -> SQL condition for rows that do not overlap
    scale: dict[str, str] = field(default_factory=dict)  # rate column -> factor (NPS is a score out of 100)


PERIODIC = ("period_complete", "as_of_date")
MODELS: dict[str, Model] = {
    "customer_value": Model(
        "month", "month", ("segment", "value_tier", "previous_value_tier", "tier_migration", "rfm_cell", "currency",
                           "inputs_complete", "period_complete"),
        {"customer": "customer_key", "account_manager": "am_id", "branch": "home_branch_id"},
        sums=("interactions", "counter_visits", "agent_calls", "self_service_calls", "am_visits", "am_calls", "am_events",
              "net_interest_income", "fee_income", "cost_to_serve", "contribution", "quarantined_inputs"),
        snapshots=("deposit_balance", "loan_balance", "investment_balance", "aum", "total_balance", "product_count", "clv",
                   "unconverted_holdings"),
        at_grain=("reference_date", "balance_snapshot_date", "contribution_share", "cumulative_share_before",
                  "last_interaction_date", "recency_days", "r_score", "f_score", "m_score", "as_of_date")),
    "value_tier_migration": Model("month", "month", ("from_tier", "to_tier", "period_complete"), snapshots=("customers",),
                                  at_grain=("as_of_date",)),
    "service_quality": Model(
        "period_start", "day", ("period", "channel", "unit_id", "month", "abandonment_breach", "service_level_met", "period_complete"),
        sums=("tickets", "tickets_served", "tickets_abandoned", "tickets_open", "calls_offered", "ivr_self_served",
              "ivr_abandoned", "offered_to_queue", "answered", "abandoned", "short_abandons", "queue_outcomes", "transfers",
              "fcr_eligible", "fcr_resolved"),
        ratios={"ticket_abandonment_rate": ("tickets_abandoned", "tickets_served + tickets_abandoned"),
                "abandonment_rate": ("abandoned - short_abandons", "queue_outcomes"),
                "fcr_rate": ("fcr_resolved", "fcr_eligible")},
        at_grain=("wait_mean_seconds", "wait_p50_seconds", "wait_p90_seconds", "served_within_target_share", "aht_seconds",
                  "abandonment_ceiling", "asa_seconds", "service_level", "service_level_target", "as_of_date"),
        rows={"": "period = 'day' AND unit_id = 'ALL'", "by_unit": "period = 'day' AND unit_id <> 'ALL'"}),
    "branch_wait_by_hour": Model(
        "month", "month", ("branch_id", "hour_of_day", "period_complete"), {"branch": "branch_id"},
        sums=("tickets", "tickets_abandoned", "tickets_called"),
        at_grain=("wait_mean_seconds", "wait_p10_seconds", "wait_p25_seconds", "wait_p50_seconds", "wait_p75_seconds",
                  "wait_p90_seconds", "served_within_target_share", "as_of_date"),
        rows={"": "branch_id = 'ALL'", "by_branch": "branch_id <> 'ALL'"}),
    "satisfaction": Model(
        "period_start", "day", ("period", "month", "channel", "branch_id", "segment", "period_complete"), {"branch": "branch_id"},
        sums=("surveys_sent", "responses", "csat_responses", "csat_satisfied", "nps_responses", "promoters", "passives",
              "detractors", "complaints_opened", "complaints_resolved", "complaints_open", "complaints_upheld",
              "resolved_within_target"),
        ratios={"response_rate": ("responses", "surveys_sent"), "csat": ("csat_satisfied", "csat_responses"),
                "nps": ("promoters - detractors", "nps_responses"),
                "resolved_within_target_share": ("resolved_within_target", "complaints_resolved")},
        at_grain=("effort_score_mean", "mean_hours_to_resolve", "as_of_date"), scale={"nps": "100"},
        rows={"": "period = 'day'"}),
    "am_effectiveness": Model(
        "month", "month", ("period_complete",), {"account_manager": "am_id"},
        sums=("contacts_planned", "contacts_logged", "contacts_achieved", "no_shows", "new_info_captured", "opportunities",
              "opportunity_value", "opportunities_to_follow_up"),
        snapshots=("customers_contacted", "book_customers", "contacted_balance_start", "contacted_balance_end",
                   "book_balance_start", "book_balance_end"),
        ratios={"contact_achievement_rate": ("contacts_achieved", "contacts_logged"),
                "new_info_rate": ("new_info_captured", "contacts_achieved")},
        at_grain=("contacted_balance_change_pct", "book_balance_change_pct", "as_of_date")),
    "key_customers_at_risk": Model(
        "as_of_date", "day", ("segment", "value_tier"),
        {"customer": "customer_key", "account_manager": "am_id", "branch": "home_branch_id"},
        snapshots=("contribution", "clv"),
        at_grain=("reasons", "reason_count", "last_nps", "low_csat_responses", "open_complaints", "abandoned_recently",
                  "recent_wait_mean_seconds", "earlier_wait_mean_seconds", "balance_change_pct")),
}


def declared(mart: str) -> set[str]:
    """Every column the model of ``mart`` says how to treat."""
    m = MODELS[mart]
    return {m.time, *m.dimensions, *m.entities.values(), *m.sums, *m.snapshots, *m.ratios, *m.at_grain}


def _measure(mart: str, name: str, expr: str, description: str, m: Model, snapshot: bool) -> dict:
    measure = {"name": f"{mart}_{name}", "description": description, "agg": "sum", "expr": expr}
    if snapshot:
        measure["non_additive_dimension"] = {"name": m.time, "window_choice": "max"}
    return measure


def _parts(m: Model) -> dict[str, str]:
    """The ratios' numerators and denominators that are not a column of ``sums``: name -> SQL."""
    return {f"{rate}_{part}": expr for rate, pair in m.ratios.items() for part, expr in zip(("numerator", "denominator"), pair)
            if expr not in m.sums}


def _filter(mart: str, condition: str) -> str:
    """A row condition in MetricFlow's filter syntax (dimensions named through the model's primary entity)."""
    text = condition
    for column in sorted(MODELS[mart].dimensions, key=len, reverse=True):
        text = text.replace(f"{column} ", f"{{{{ Dimension('{mart}__{column}') }}}} ")
    return text


def build() -> dict:
    """The whole semantic layer as a dict, ready for YAML."""
    docs = glossary.marts()
    models, metrics = [], []
    for mart, m in MODELS.items():
        columns = docs[mart].columns
        dims = [{"name": m.time, "type": "time", "description": columns[m.time], "type_params": {"time_granularity": m.granularity}}]
        dims += [{"name": d, "type": "categorical", "description": columns[d]} for d in m.dimensions]
        measures = [_measure(mart, c, c, columns[c], m, c in m.snapshots) for c in (*m.sums, *m.snapshots)]
        measures += [_measure(mart, name, expr, f"{name.replace('_', ' ')}: {expr}", m, False) for name, expr in _parts(m).items()]
        models.append({
            "name": mart, "description": docs[mart].description(), "model": f"ref('{mart}')", "primary_entity": mart,
            "defaults": {"agg_time_dimension": m.time},
            "entities": [{"name": e, "type": "foreign", "expr": c} for e, c in m.entities.items()],
            "dimensions": dims, "measures": measures,
            "meta": {"read_at_grain": list(m.at_grain),
                     "note": "means, percentiles, scores and shares of one row: read them at the row's grain, never sum or "
                             "average them across rows"},
        })
        metrics += _metrics(mart, m, columns)
    return {"semantic_models": models, "metrics": metrics}


def _metrics(mart: str, m: Model, columns: dict[str, str]) -> list[dict]:
    """Per row set (``Model.rows``): a simple metric per measure, a ratio (NPS: derived) per rate."""
    found = []
    for suffix, condition in (m.rows or {"": ""}).items():
        where, tail = (f" WHERE {condition}" if condition else ""), (f"_{suffix}" if suffix else "")
        common = ({"filter": _filter(mart, condition)} if condition else {})
        note = f" (rows: {condition})" if condition else ""
        for column in (*m.sums, *m.snapshots):
            snapshot = column in m.snapshots
            sql = (f"SELECT {m.time}, sum({column}) FROM gold.{mart}{where} GROUP BY {m.time}" if snapshot
                   else f"SELECT sum({column}) FROM gold.{mart}{where}")
            found.append({"name": f"{mart}_{column}{tail}", "type": "simple", "label": f"{column}{tail}".replace("_", " "),
                          "description": columns[column] + note + (" Not additive over time: one period's value." if snapshot else ""),
                          "type_params": {"measure": f"{mart}_{column}"}, **common, "meta": {"sql": sql}})
        for name, expr in _parts(m).items():
            found.append({"name": f"{mart}_{name}{tail}", "type": "simple", "label": f"{name}{tail}".replace("_", " "),
                          "description": f"{expr}{note}", "type_params": {"measure": f"{mart}_{name}"}, **common,
                          "meta": {"sql": f"SELECT sum({expr}) FROM gold.{mart}{where}"}})
        for rate, (numerator, denominator) in m.ratios.items():
            num, den = (f"{mart}_{e if e in m.sums else f'{rate}_{part}'}{tail}"
                        for e, part in ((numerator, "numerator"), (denominator, "denominator")))
            scale = m.scale.get(rate)
            metric = {"name": f"{mart}_{rate}{tail}", "label": f"{rate}{tail}".replace("_", " "),
                      "description": columns[rate] + note + " A ratio of sums: never average the rate column over rows.",
                      "meta": {"sql": f"SELECT {scale + ' * ' if scale else ''}sum({numerator}) / nullif(sum({denominator}), 0) "
                                      f"FROM gold.{mart}{where}"}}
            ratio = {"type": "ratio", "type_params": {"numerator": num, "denominator": den}}
            if scale:  # NPS is a score: the ratio scaled, as a derived metric over it
                found.append({"name": f"{mart}_{rate}_ratio{tail}", "label": f"{rate} ratio{tail}".replace("_", " "),
                              "description": f"{rate} / {scale}", **ratio})
                found.append({**metric, "type": "derived",
                              "type_params": {"expr": f"{scale} * r", "metrics": [{"name": f"{mart}_{rate}_ratio{tail}", "alias": "r"}]}})
            else:
                found.append({**metric, **ratio})
    return found


def render() -> str:
    import yaml

    header = ("# The semantic layer of the gold marts (dbt MetricFlow format), generated from docs/metrics.md by\n"
              "# `python -m interaction_lake.semantic_layer`: do not edit by hand. meta.sql is the same metric as plain SQL\n"
              "# for the SQL endpoint (interaction-lake serve); see interaction_lake/semantic_layer.py for the rules.\n")
    return header + yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")

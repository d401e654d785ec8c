"""Gold on the real engine: incremental equals full, reruns write nothing, late events, no PII, invariants, BI readers."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from interaction_lake import lake
from interaction_lake.generator import SOURCES, generate
from interaction_lake.generator.deliveries import days_of, deliver
from interaction_lake.marts_config import MartsConfig
from jobs.bronze.land import land_source
from jobs.gold.build import FROM_VALUES, MARTS, MONTHLY_MARTS, build_gold, mart_table
from jobs.gold.customer_value import score_customers
from jobs.silver.build import build_silver, read_fact


def rows(path: Path) -> list[dict]:
    return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=lambda r: json.dumps(r, sort_keys=True, default=str))


def gold_tables(lake_root: Path) -> dict[str, list[dict]]:
    """Every mart that was built (one whose inputs have no rows is not: a small bank may have had no survey)."""
    return {name: rows(mart_table(lake_root, name)) for name in MARTS if lake.exists(mart_table(lake_root, name))}


def land_all(spark, settings, run_id):
    for source in SOURCES:
        land_source(spark, settings, source, run_id)
    build_silver(spark, settings, run_id)


@pytest.fixture(scope="module")
def daily_lake(spark, tmp_path_factory):
    """Four days across a month end, landed and built day by day, gold built after each day."""
    from interaction_lake.config import Settings

    base = tmp_path_factory.mktemp("gold_daily")
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    sent = base / "sent"
    generate(sent, customers=400, days=4, seed=11, start=dt.date(2026, 11, 28), fault_rate=0.02)
    reports = []
    for day in days_of(sent):
        deliver(sent, settings.landing_root, day)
        land_all(spark, settings, f"daily-{day}")
        reports.append(build_gold(spark, settings, f"daily-{day}"))
    return settings, reports


def test_daily_incremental_gold_equals_a_full_rebuild(spark, daily_lake):
    settings, reports = daily_lake
    assert [r.up_to_date for r in reports] == [False] * len(reports)
    assert reports[-1].last_month == dt.date(2026, 12, 1)
    # a daily run reused stored customer measures (gold/_state/customer_months); not every one can: a silver table seen
    # for the first time means a full rebuild, and the month-end snapshot changes the month's balances for everyone
    assert any(dt.date(2026, 11, 1) in r.measures_reused for r in reports)
    incremental = gold_tables(settings.lake_root)
    assert {m: len(r) > 0 for m, r in incremental.items()} == {m: True for m in MARTS}
    build_gold(spark, settings, "full", full=True)
    assert gold_tables(settings.lake_root) == incremental


def test_marts_staged_two_at_a_time_equal_the_marts_staged_one_after_another(spark, daily_lake, tmp_path):
    """A build stages its marts ``parallelism`` at a time (customer_value beside the other facts' marts, then the marts
    derived from its staged rows): the published marts are what one mart after another gives."""
    import dataclasses

    settings, _ = daily_lake
    built = {}
    for workers in (1, 2):
        mine = dataclasses.replace(settings.with_paths(lake_root=tmp_path / f"lake-{workers}"), parallelism=workers)
        shutil.copytree(settings.lake_root, mine.lake_root)
        report = build_gold(spark, mine, "rebuild", full=True)
        built[workers] = (gold_tables(mine.lake_root), report.rows, [o.table for o in report.gates])
    assert built[1] == built[2] and set(built[2][0]) >= set(FROM_VALUES) | {"customer_value"}


@pytest.mark.parametrize("mart", FROM_VALUES)
def test_marts_derived_from_the_staged_customer_values_equal_their_computation_in_one_plan(daily_lake, capsys, mart):
    """The build derives these marts from the customer_value rows it staged; 'audit as-of --rebuild' computes every
    mart from silver in one plan (compute_marts). Each version the daily builds wrote must be the same either way."""
    from interaction_lake.cli import main

    settings, _ = daily_lake
    table = DeltaTable(str(mart_table(settings.lake_root, mart)))
    written = [h["version"] for h in table.history() if h["version"] > 0]  # version 0 is the definition
    # A snapshot mart that was empty and stays empty gets no new version (the engine commits nothing for an empty
    # overwrite of an empty table): how many builds wrote key_customers_at_risk depends on the data (its pseudonyms, drawn
    # per lake, break ties in the tiers), so only "at least one, holding rows" is certain.
    assert written and table.to_pyarrow_table().num_rows > 0
    for version in written:
        assert main(["audit", "as-of", mart, "--version", str(version), "--rebuild", "--lake", str(settings.lake_root)]) == 0
        assert "identical" in capsys.readouterr().out, (mart, version)


def test_no_table_of_the_lake_keeps_statistics_of_an_identifying_or_floating_point_column(daily_lake):
    """Every table the jobs wrote -- bronze, silver, gold, quarantine, _system, states -- keeps no min/max of a column that
    identifies someone (an erasure would leave it in the log: a mart's pseudonyms were) nor of a double, which the
    embedded engine may read back from them one unit in the last place off (capabilities.exact_doubles_from_statistics:
    a mart's balance_change_pct was)."""
    from interaction_lake.privacy import PATH_COLUMNS, identifying_columns

    settings, _ = daily_lake
    denied = identifying_columns() | PATH_COLUMNS
    tables = [log.parent for log in settings.lake_root.glob("**/_delta_log")]
    assert len(tables) > 20 and any(t.parent.name == "gold" for t in tables)
    kept = defaultdict(set)
    for table in tables:
        floating = {f["name"] for f in lake.schema_fields(table) if f["type"] in ("double", "float")}
        for commit in (table / "_delta_log").glob("*.json"):
            for line in commit.read_text().splitlines():
                stats = json.loads(json.loads(line)["add"].get("stats") or "{}") if '"add"' in line else {}
                kept[table.relative_to(settings.lake_root)] |= set(stats.get("minValues", {})) | set(stats.get("maxValues", {}))
        assert not kept[table.relative_to(settings.lake_root)] & (denied | floating), table
    assert any(kept.values())  # statistics are kept, of the other columns


def test_one_query_tells_each_fact_s_rows_and_dates_as_asking_each_fact_does(spark, daily_lake):
    """The build asks the engine once for every fact's row count and first and last dates (``_fact_spans``), where it
    asked each fact each question: the answers are those of the separate questions."""
    from jobs.gold.build import FACT, FACT_DATE, _fact_spans

    settings, _ = daily_lake
    facts = {name: read_fact(spark, settings.lake_root, fact) for name, fact in FACT.items()}
    spans = _fact_spans(facts)
    assert set(spans) == set(FACT)
    for name, frame in facts.items():
        dates = [r[0] for r in frame.select(FACT_DATE[name]).collect() if r[0] is not None] if name in FACT_DATE else []
        assert (spans[name].rows, spans[name].first, spans[name].last) == (frame.count(), min(dates, default=None), max(dates, default=None))
    snapshots = [r[0] for r in facts["product_holding"].select("snapshot_date").collect()]
    assert spans["product_holding"].last_snapshot == max(snapshots)
    assert {name for name, span in spans.items() if span.rows} >= {"counter_visit", "call", "product_holding", "customer_dim"}


def test_after_its_first_day_a_mart_is_published_by_committing_its_staged_files(daily_lake):
    """``adoption.adopt``: a mart's staged files become its files in one delta-rs commit, not written again by the
    engine (its first publication is, its staging having no mart to take statistics from); the incremental builds
    equal a full rebuild (``test_daily_incremental_gold_equals_a_full_rebuild``)."""
    settings, _ = daily_lake
    for name in MARTS:
        data = [h for h in DeltaTable(str(mart_table(settings.lake_root, name))).history()
                if h["operation"] == "WRITE" and json.loads(h["userMetadata"])["run_id"].startswith("daily-")]
        engines = [h["engineInfo"].split(":")[0] for h in sorted(data, key=lambda h: h["version"])]
        assert engines[1:] and set(engines[1:]) == {"delta-rs"}, (name, engines)


def test_each_run_replaces_the_months_its_data_touches_and_says_so(daily_lake):
    settings, reports = daily_lake
    assert [r.first_month for r in reports[:3]] == [dt.date(2026, 11, 1)] * 3
    # Day 4 is 1 December; its calls reach back 7 days (first-contact resolution), so November is redone too.
    assert (reports[-1].first_month, reports[-1].last_month) == (dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    history = DeltaTable(str(mart_table(settings.lake_root, "customer_value"))).history()
    metadata = [json.loads(h["userMetadata"]) for h in history if h.get("userMetadata")]
    assert len(metadata) == len(history)  # every commit says who wrote it
    assert {m["run_id"] for m in metadata} >= {f"daily-{day}" for day in ("2026-11-28", "2026-12-01")}
    for m in metadata:
        assert m["job"] == "gold.build" and m["config"] == MartsConfig().fingerprint()
        assert set(json.loads(m["silver_versions"])) >= {"call", "counter_visit", "customer_dim"}


def test_only_service_quality_reaches_back_for_first_contact_resolution(spark, tmp_path, capsys):
    """In a month's first days, a call can change the first-contact resolution of calls of the month before: that month's
    service_quality is recomputed, not every mart's. Each mart's commit names its own first month, so an auditor's
    rebuild of it is identical, and daily builds equal a full rebuild."""
    from interaction_lake.cli import main
    from interaction_lake.config import Settings

    settings = Settings().with_paths(lake_root=tmp_path / "lake", landing_root=tmp_path / "landing")
    sent = tmp_path / "sent"
    generate(sent, customers=150, days=5, seed=3, start=dt.date(2026, 11, 28), fault_rate=0.0)  # no late events
    _repeat_call(sent, "2026-11-30", "2026-12-02")
    reports, november_service = {}, {}
    for day in days_of(sent):
        deliver(sent, settings.landing_root, day)
        land_all(spark, settings, f"daily-{day}")
        reports[day] = build_gold(spark, settings, f"daily-{day}")
        november_service[day] = [r for r in rows(mart_table(settings.lake_root, "service_quality"))
                                 if r["period"] == "month" and r["period_start"] == dt.date(2026, 11, 1)]
    december, november = dt.date(2026, 12, 1), dt.date(2026, 11, 1)
    last = reports["2026-12-02"]  # 1 December was the day before: December alone changed, and calls reach back 7 days
    assert last.first_months["service_quality"] == november == last.first_month
    # the repeat call made a November call's first contact unresolved: November's service quality changed that day
    assert november_service["2026-12-02"] != november_service["2026-12-01"]
    assert {m for m, first in last.first_months.items() if first == december} == set(MONTHLY_MARTS) - {"service_quality"}
    for mart in ("service_quality", "customer_value"):
        table = DeltaTable(str(mart_table(settings.lake_root, mart)))
        commit = next(h for h in table.history() if json.loads(h.get("userMetadata") or "{}").get("run_id") == "daily-2026-12-02")
        assert json.loads(commit["userMetadata"])["first_month"] == last.first_months[mart].isoformat()
        assert main(["audit", "as-of", mart, "--version", str(commit["version"]), "--rebuild", "--lake", str(settings.lake_root)]) == 0
        assert "identical" in capsys.readouterr().out, mart
    incremental = gold_tables(settings.lake_root)
    build_gold(spark, settings, "full", full=True)
    assert gold_tables(settings.lake_root) == incremental


def _repeat_call(sent: Path, from_day: str, to_day: str) -> None:
    """Deliver on ``to_day`` a second call of the customer and contact reason of ``from_day``'s last wrapped-up call (its
    events copied, shifted to that day): that call is then not resolved at first contact."""
    events = [json.loads(line) for f in sorted((sent / "callcentre" / from_day).glob("*.jsonl")) for line in f.read_text().splitlines()]
    call = [e for e in events if e["event_type"] == "call_wrapped_up" and e.get("contact_reason")][-1]["call_id"]
    shift = dt.date.fromisoformat(to_day) - dt.date.fromisoformat(from_day)
    copies = [{**e, "event_id": e["event_id"] + "-again", "call_id": call + "-again",
               "occurred_at": (dt.datetime.fromisoformat(e["occurred_at"]) + shift).isoformat().replace("+00:00", "Z")}
              for e in events if e["call_id"] == call]
    (sent / "callcentre" / to_day / "callcentre_repeat_call.jsonl").write_text("".join(json.dumps(e) + "\n" for e in copies))


def test_rerun_without_new_silver_data_writes_nothing(spark, daily_lake):
    settings, _ = daily_lake
    build_gold(spark, settings, "settle")  # after the full rebuild in another test, or not: settle first
    versions = {m: DeltaTable(str(mart_table(settings.lake_root, m))).version() for m in MARTS}
    report = build_gold(spark, settings, "rerun")
    assert report.up_to_date
    assert {m: DeltaTable(str(mart_table(settings.lake_root, m))).version() for m in MARTS} == versions


def test_value_invariants_hold_on_generated_data(daily_lake):
    settings, _ = daily_lake
    values = rows(mart_table(settings.lake_root, "customer_value"))
    by_month = defaultdict(list)
    for r in values:
        by_month[r["month"]].append(r)
    for month, members in by_month.items():
        assert len({r["customer_key"] for r in members}) == len(members)          # one row per customer
        assert {r["value_tier"] for r in members} <= {"high", "mid", "low"}       # every customer has a tier
        assert all(r["value_tier"] is not None for r in members)
        assert math.isclose(sum(r["contribution_share"] for r in members), 1.0, rel_tol=1e-9)
        high = sum(r["contribution_share"] for r in members if r["value_tier"] == "high")
        assert high >= 0.80 and high - max(r["contribution_share"] for r in members if r["value_tier"] == "high") < 0.80
        assert all(1 <= r[s] <= 5 for r in members for s in ("r_score", "f_score", "m_score"))
    migration = rows(mart_table(settings.lake_root, "value_tier_migration"))
    for month, members in by_month.items():
        assert sum(r["customers"] for r in migration if r["month"] == month) == len(members)


def test_rates_are_shares_and_counts_reconcile(daily_lake):
    settings, _ = daily_lake
    service = rows(mart_table(settings.lake_root, "service_quality"))
    rates = ("ticket_abandonment_rate", "served_within_target_share", "abandonment_rate", "service_level", "fcr_rate")
    for r in service:
        assert all(r[k] is None or 0 <= r[k] <= 1 for k in rates), r
        if r["channel"] == "callcentre":
            assert r["queue_outcomes"] == r["answered"] + r["abandoned"] - r["short_abandons"] <= r["offered_to_queue"]
            if r["abandonment_rate"] is None:  # no call reached an outcome: no rate, no verdict
                assert r["abandonment_breach"] is None and r["queue_outcomes"] == 0
            else:
                assert r["abandonment_breach"] == (r["abandonment_rate"] > 0.05)
        else:
            assert r["tickets_served"] + r["tickets_abandoned"] + r["tickets_open"] == r["tickets"]
            assert r["wait_p50_seconds"] is None or r["wait_p50_seconds"] <= r["wait_p90_seconds"]
    # ALL rows equal the sum of their units for counts (rates are recomputed, not summed)
    totals = defaultdict(int)
    for r in service:
        if r["unit_id"] != "ALL":
            totals[(r["period"], r["period_start"], r["channel"])] += r["offered_to_queue"] if r["channel"] == "callcentre" else r["tickets"]
    for r in service:
        if r["unit_id"] == "ALL":
            assert totals[(r["period"], r["period_start"], r["channel"])] == (r["offered_to_queue"] if r["channel"] == "callcentre" else r["tickets"])
    for r in rows(mart_table(settings.lake_root, "satisfaction")):
        assert all(r[k] is None or 0 <= r[k] <= 1 for k in ("response_rate", "csat", "resolved_within_target_share"))
        assert r["nps"] is None or -100 <= r["nps"] <= 100
        assert r["promoters"] + r["passives"] + r["detractors"] == r["nps_responses"] <= r["responses"] <= r["surveys_sent"]
    for r in rows(mart_table(settings.lake_root, "am_effectiveness")):
        assert r["contact_achievement_rate"] is None or 0 <= r["contact_achievement_rate"] <= 1
        assert r["contacts_achieved"] <= r["contacts_logged"]


def test_branch_waits_by_hour_are_exact_percentiles_of_silver_visits(daily_lake):
    import numpy as np

    settings, _ = daily_lake
    marts = rows(mart_table(settings.lake_root, "branch_wait_by_hour"))
    visits = [v for v in DeltaTable(str(settings.lake_root / "silver" / "counter_visit")).to_pyarrow_table().to_pylist() if v["issued_at"]]
    groups = defaultdict(list)
    for v in visits:
        month, hour = v["visit_date"].replace(day=1), v["issued_at"].hour
        for branch in (v["branch_id"], "ALL"):
            groups[(month, branch, hour)].append(v)
    assert {(r["month"], r["branch_id"], r["hour_of_day"]) for r in marts} == set(groups)
    for r in marts:
        members = groups[(r["month"], r["branch_id"], r["hour_of_day"])]
        waits = [v["wait_seconds"] for v in members if v["called_at"] is not None and v["wait_seconds"] is not None]
        assert (r["tickets"], r["tickets_called"]) == (len(members), len(waits))
        assert r["tickets_abandoned"] == sum(v["status"] == "abandoned" for v in members)
        for p in (10, 25, 50, 75, 90):
            expected = float(np.percentile(waits, p)) if waits else None
            assert r[f"wait_p{p}_seconds"] == pytest.approx(expected), (r, p)


def test_marts_hold_no_personal_data(daily_lake):
    settings, _ = daily_lake
    secrets = set()
    for f in settings.landing_root.glob("*/*/*.jsonl"):
        for line in f.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the generator's malformed lines
            if isinstance(event, dict):
                secrets |= {str(v) for k, v in event.items() if k in ("customer_ref", "customer_name", "caller_phone", "phone", "notes") and v}
    assert len(secrets) > 100
    for name in MARTS:
        table = DeltaTable(str(mart_table(settings.lake_root, name)))
        columns = {f.name for f in table.schema().fields}
        assert not columns & {"customer_ref", "customer_name", "caller_phone", "phone", "notes", "comment"}
        text = json.dumps(table.to_pyarrow_table().to_pylist(), default=str)
        assert not [s for s in secrets if s in text], name


def test_a_bi_tool_reads_the_marts_without_spark(spark, daily_lake):
    """DuckDB over delta-rs (what a laptop BI tool does) gets the same figures as the engine."""
    settings, _ = daily_lake
    arrow = DeltaTable(str(mart_table(settings.lake_root, "customer_value"))).to_pyarrow_table()  # noqa: F841 (DuckDB scans the local by name)
    by_duckdb = dict(duckdb.sql("select value_tier, count(*) from arrow where month = date '2026-12-01' group by 1").fetchall())
    by_spark = {r[0]: r[1] for r in spark.read.format("delta").load(str(mart_table(settings.lake_root, "customer_value")))
                .where("month = DATE'2026-12-01'").groupBy("value_tier").count().collect()}
    assert by_duckdb == by_spark and set(by_duckdb) <= {"high", "mid", "low"}
    service = DeltaTable(str(mart_table(settings.lake_root, "service_quality"))).to_pyarrow_table()  # noqa: F841
    breaches = duckdb.sql("select period_start, abandonment_rate from service where channel = 'callcentre' and unit_id = 'ALL' "
                          "and period = 'day' order by 1").fetchall()
    assert len(breaches) == 4 and all(0 <= rate <= 1 for _, rate in breaches)


def test_every_mart_is_described_by_the_glossary_in_its_delta_log(spark, daily_lake):
    """Each mart's Delta log carries the glossary's description and a comment for every column (so a column the
    glossary does not define fails here), and its grain's keys are NOT NULL -- which the engine then enforces."""
    from interaction_lake import glossary
    from jobs.gold.build import definition

    settings, _ = daily_lake
    docs = glossary.marts()
    assert set(docs) == set(MARTS)
    for mart in MARTS:
        table = DeltaTable(str(mart_table(settings.lake_root, mart)))
        fields = {f.name: f for f in table.schema().fields}
        assert table.metadata().description == docs[mart].description()
        undefined = set(fields) - set(docs[mart].columns)
        assert not undefined, f"{mart}: docs/metrics.md does not define {sorted(undefined)}"
        assert {n: f.metadata.get("comment") for n, f in fields.items()} == {n: docs[mart].columns[n] for n in fields}
        assert set(docs[mart].grain) <= set(fields)
        assert {n for n, f in fields.items() if not f.nullable} == definition(mart).not_null
    assert definition("customer_value").not_null == {"month", "customer_key"}
    assert definition("satisfaction").not_null == {"period", "period_start", "channel"}  # branch and segment may be unknown

    path = mart_table(settings.lake_root, "value_tier_migration")
    with pytest.raises(Exception, match="NOT NULL"):
        spark.read.format("delta").load(str(path)).limit(1).withColumn("to_tier", F.lit(None).cast("string")) \
            .write.format("delta").mode("append").save(str(path))


def test_each_mart_is_its_own_lineage_job_reading_what_its_definition_reads(daily_lake):
    """OpenLineage: ``gold.<mart>`` per mart with the glossary's sources as inputs (not every silver table), under the
    ``gold.build`` run; each gold gate's verdicts as ``dataQualityAssertions`` on the table it judged."""
    from interaction_lake import lineage
    from interaction_lake.quality.suites import load_suite

    settings, _ = daily_lake
    events = [json.loads(line) for line in lineage.events_file(settings.lake_root).read_text().splitlines()]
    for event in events:
        lineage.parse_event(event)  # valid against the spec's model, the assertions facet included
    runs = {e["run"]["runId"]: e for e in events if e["eventType"] == "COMPLETE"}
    builds = {rid for rid, e in runs.items() if e["job"]["name"] == "gold.build"}
    assert builds and not any(o["name"].startswith(str(settings.lake_root / "gold" / "customer_value"))
                              for rid in builds for o in runs[rid]["outputs"])
    for mart in MARTS:
        done = [e for e in runs.values() if e["job"]["name"] == f"gold.{mart}"]
        assert done and all(e["run"]["facets"]["parent"]["run"]["runId"] in builds for e in done)
        expected = {str(p) for p in lineage.mart_sources(settings.lake_root, mart) if p.exists()}
        assert all({i["name"] for i in e["inputs"]} <= expected for e in done), mart  # a table made later is named once it exists
        assert {i["name"] for i in done[-1]["inputs"]} == expected, mart
        # what a run wrote (a version it made; an empty list replaced by an empty one makes none on the embedded engine)
        outputs = [[o["name"] for o in e["outputs"]] for e in done]
        assert [str(mart_table(settings.lake_root, mart))] in outputs and all(o in ([], outputs[0]) for o in outputs), mart
        gates = [e for e in runs.values() if e["job"]["name"] == f"quality.gate.gold.{mart}"]
        suite = load_suite("gold", mart).spec
        for gate in gates:
            [judged] = gate["inputs"]
            assertions = judged["inputFacets"]["dataQualityAssertions"]["assertions"]
            assert sorted(a["assertion"] for a in assertions) == sorted(x["type"] for x in suite["expectations"])
            assert all(a["success"] for a in assertions if a["severity"] == "error")  # the builds here passed
        assert len(gates) == len(done)
    # column lineage, from the glossary's definitions
    def origins(mart: str, column: str) -> set[tuple[str, str]]:
        event = [e for e in runs.values() if e["job"]["name"] == f"gold.{mart}" and e["outputs"]][-1]
        fields = event["outputs"][0]["facets"]["columnLineage"]["fields"]
        return {(Path(i["name"]).name, i["field"]) for i in fields[column]["inputFields"]} if column in fields else set()

    assert ("survey_response", "csat") in origins("satisfaction", "csat")
    assert ("customer_dim", "segment") in origins("satisfaction", "segment")
    assert origins("branch_wait_by_hour", "wait_mean_seconds") == {("counter_visit", "wait_seconds")}
    assert {("product_holding", "interest_booked"), ("product_holding", "fees_booked")} <= origins("customer_value", "contribution")
    assert {("product_holding", "balance")} <= origins("customer_value", "total_balance")
    assert origins("service_quality", "calls_offered") == set()  # its definition quotes no source column: no made-up origin
    assert {str(p) for p in lineage.mart_sources(settings.lake_root, "satisfaction")} == {
        str(settings.lake_root / "silver" / t) for t in ("survey_response", "complaint", "customer_dim")}


def test_the_semantic_layer_counts_each_call_and_answer_once(daily_lake):
    """Every metric's SQL (docs/semantic_layer.yml, meta.sql) runs on the real marts; the call centre's calls offered and
    CSAT it gives are silver's own counts, where summing the mart's rows naively counts each call several times."""
    import yaml

    from interaction_lake import semantic_layer

    settings, _ = daily_lake
    tables = {m: DeltaTable(str(mart_table(settings.lake_root, m))).to_pyarrow_table() for m in MARTS}  # noqa: F841 (DuckDB scans)
    connection = duckdb.connect()
    for name, table in tables.items():
        connection.register(f"gold_{name}", table)

    def run(sql: str):
        return connection.sql(sql.replace("gold.", "gold_")).fetchall()

    metrics = {m["name"]: m for m in yaml.safe_load(semantic_layer.render())["metrics"]}
    for metric in metrics.values():
        if "sql" in metric.get("meta", {}):
            run(metric["meta"]["sql"])  # each one runs
    calls = DeltaTable(str(settings.lake_root / "silver" / "call")).to_pyarrow_table()
    [(offered,)] = run(metrics["service_quality_calls_offered"]["meta"]["sql"].replace("WHERE", "WHERE channel = 'callcentre' AND"))
    assert offered == calls.num_rows
    [(naive,)] = run("SELECT sum(calls_offered) FROM gold.service_quality")
    assert naive > 2 * offered  # what a BI tool summing every row would show
    [(by_queue,)] = run(metrics["service_quality_calls_offered_by_unit"]["meta"]["sql"])
    assert by_queue == sum(1 for q in calls.column("queue_id").to_pylist() if q is not None)

    answers = [v for v in DeltaTable(str(settings.lake_root / "silver" / "survey_response")).to_pyarrow_table()
               .column("csat").to_pylist() if v is not None]
    [(csat,)] = run(metrics["satisfaction_csat"]["meta"]["sql"])
    assert answers and csat == pytest.approx(sum(1 for v in answers if v >= 4) / len(answers))
    [(naive_answers,)] = run("SELECT sum(csat_responses) FROM gold.satisfaction")
    assert naive_answers == 2 * len(answers)  # each answer is in a day row and a month row


def test_summary_headlines_count_each_answer_once(daily_lake):
    from interaction_lake.summary import satisfaction_headline

    settings, _ = daily_lake
    surveys = DeltaTable(str(settings.lake_root / "silver" / "survey_response")).to_pyarrow_table().to_pylist()
    november = dt.date(2026, 11, 1)
    rated = [r["nps"] for r in surveys if r["nps"] is not None and r["survey_date"].replace(day=1) == november]
    nps = 100 * (sum(1 for v in rated if v >= 9) - sum(1 for v in rated if v <= 6)) / len(rated)
    headline = satisfaction_headline(rows(mart_table(settings.lake_root, "satisfaction")), november)
    assert headline.endswith(f"NPS {nps:+.0f} ({len(rated)} answers)")


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(min_value=-500, max_value=5000, allow_nan=False).map(lambda x: round(x, 2)), min_size=1, max_size=30),
       st.floats(min_value=0.5, max_value=0.9), st.floats(min_value=0.0, max_value=0.09))
def test_tiers_cover_every_customer_and_shares_sum_to_one(spark, contributions, high, gap):
    config = MartsConfig(high_tier_share=high, mid_tier_share=high + gap)
    frame = spark.createDataFrame(
        [(dt.date(2026, 11, 1), f"c{i}", c, i % 3, i % 40) for i, c in enumerate(contributions)],
        "month date, customer_key string, contribution double, interactions int, recency_days int")
    scored = [r.asDict() for r in score_customers(frame, config).collect()]
    assert len(scored) == len(contributions) and all(r["value_tier"] in ("high", "mid", "low") for r in scored)
    positive = sum(max(c, 0) for c in contributions)
    shares = sum(r["contribution_share"] for r in scored)
    assert math.isclose(shares, 1.0 if positive > 0 else 0.0, abs_tol=1e-9)
    highs = [r for r in scored if r["value_tier"] == "high"]
    if positive > 0:
        assert sum(r["contribution_share"] for r in highs) >= high - 1e-9  # the high tier reaches the threshold...
        assert all(r["cumulative_share_before"] < high for r in highs)      # ...and no further than the customer crossing it
    assert all(r["contribution"] > 0 for r in highs)


@pytest.mark.parametrize("crash_at", ["gold_before_publish", "gold_mid_publish"])
def test_killed_while_publishing_then_rerun_equals_a_full_rebuild(spark, settings, tmp_path, crash_at, run_cli):
    """SIGKILL after the marts were staged, or after the first of them was published: the retry publishes every mart
    consistently (no half-updated set of marts, no month counted twice)."""
    sent = tmp_path / "sent"
    generate(sent, customers=300, days=3, seed=5, start=dt.date(2026, 11, 29), fault_rate=0.02)
    for index, day in enumerate(days_of(sent)):
        deliver(sent, settings.landing_root, day)
        if index == 0:
            land_all(spark, settings, "day-1")
            build_gold(spark, settings, "day-1", gate=False)
    land_all(spark, settings, "later-days")
    def version(name):  # a mart whose inputs have no rows yet is not built (no account-manager contact on day 1)
        return DeltaTable(str(mart_table(settings.lake_root, name))).version() if lake.exists(mart_table(settings.lake_root, name)) else None

    before = {name: version(name) for name in MARTS}
    killed = run_cli(settings, "build-marts", "--no-gate", "--run-id", "killed", crash_at=crash_at)
    assert killed.returncode == -9, killed.stderr[-2000:]
    moved = [name for name in MARTS if version(name) != before[name]]
    if crash_at == "gold_before_publish":
        assert moved == []
    else:  # killed with the set of marts half published: the first published, and as many as were publishing at once
        assert 1 <= len(moved) <= settings.parallelism < len(MARTS), moved

    retry = build_gold(spark, settings, "retry", gate=False)
    assert not retry.up_to_date  # the killed run recorded no progress, so the retry rebuilds the same months
    retried = gold_tables(settings.lake_root)
    assert all(retried[name] for name in MARTS)
    build_gold(spark, settings, "full", full=True, gate=False)
    assert gold_tables(settings.lake_root) == retried


def test_incremental_builds_keep_working_once_silver_tables_pass_a_delta_checkpoint(spark, tmp_path):
    """Found on monthly deliveries: once silver/customer_dim passed a checkpoint (its 10th commit), the embedded
    engine could not read the version the previous build had read (to see what changed), and every incremental
    build failed for good. Here the dimension's history grows past a checkpoint between two builds. Every pinned
    read goes through lake.read_version, tested across 27 commits in tests/integration/interaction_lake/test_capabilities.py."""
    from pyspark.sql import functions as F

    from interaction_lake import lake
    from interaction_lake.config import Settings
    from jobs.silver.build import fact_table
    from jobs.silver.lifecycles import FACTS

    settings = Settings().with_paths(lake_root=tmp_path / "lake", landing_root=tmp_path / "landing")
    generate(settings.landing_root, customers=40, days=2, seed=3, start=dt.date(2026, 11, 29), fault_rate=0.0)
    land_all(spark, settings, "history")
    build_gold(spark, settings, "history", gate=False)
    dim = fact_table(settings.lake_root, next(f for f in FACTS if f.name == "customer_dim"))

    def grow(commits: int) -> None:  # as months of deliveries would: rows in, rows out, net nothing
        for _ in range(commits // 2):
            lake.read(spark, dim).limit(1).withColumn("customer_key", F.lit("zz-spare")).write.format("delta").mode("append").save(str(dim))
            spark.sql(f"DELETE FROM delta.`{dim}` WHERE customer_key = 'zz-spare'").collect()

    grow(4)
    build_gold(spark, settings, "second", gate=False)
    read_before = lake.version(dim)  # what the second build recorded and the next one compares against
    grow(12)
    checkpoint = json.loads((dim / "_delta_log" / "_last_checkpoint").read_text())["version"]
    assert 1 < read_before < checkpoint - 1  # the version the next build compares against lies behind a checkpoint
    report = build_gold(spark, settings, "after-checkpoint", gate=False)
    assert not report.up_to_date
    incremental = gold_tables(settings.lake_root)
    build_gold(spark, settings, "full", full=True, gate=False)
    assert gold_tables(settings.lake_root) == incremental


def test_a_mart_whose_columns_an_upgrade_changed_is_recomputed_for_every_month(spark, tmp_path):
    """An upgrade that changes a mart's columns re-creates it (lake.define); an incremental build would then publish only
    the months its new data touches and lose the others. Here ``satisfaction`` is put back in its shape before day rows
    (month rows only) after October and early November were built; a later November day arrives, and October is still
    there afterwards, as a full rebuild has it."""
    import pyarrow.compute as pc
    from deltalake import write_deltalake

    from interaction_lake.config import Settings

    settings = Settings().with_paths(lake_root=tmp_path / "lake", landing_root=tmp_path / "landing")
    for run, start, days in (("october", dt.date(2026, 10, 30), 2), ("early", dt.date(2026, 11, 5), 1)):
        generate(settings.landing_root, customers=300, days=days, seed=len(run), start=start, fault_rate=0.0)
        land_all(spark, settings, run)
        build_gold(spark, settings, run, gate=False)
    path = mart_table(settings.lake_root, "satisfaction")
    table = DeltaTable(str(path)).to_pyarrow_table()
    old = table.filter(pc.equal(table["period"], "month")).drop_columns(["period", "period_start"])
    write_deltalake(str(path), old, mode="overwrite", schema_mode="overwrite", partition_by=["month"])

    generate(settings.landing_root, customers=300, days=1, seed=9, start=dt.date(2026, 11, 20), fault_rate=0.0)
    land_all(spark, settings, "late-november")
    report = build_gold(spark, settings, "late-november", gate=False)
    assert report.reshaped == ["satisfaction"] and report.first_month == dt.date(2026, 10, 1)
    incremental = gold_tables(settings.lake_root)
    assert {(r["period"], r["month"]) for r in incremental["satisfaction"]} == {
        (p, m) for p in ("day", "month") for m in (dt.date(2026, 10, 1), dt.date(2026, 11, 1))}
    build_gold(spark, settings, "full", full=True, gate=False)
    assert gold_tables(settings.lake_root) == incremental
    again = build_gold(spark, settings, "again", gate=False)
    assert again.up_to_date and not again.reshaped


def test_a_silver_rebuilt_from_version_zero_is_not_taken_for_the_silver_gold_last_read(spark, tmp_path):
    """build-silver --full re-creates every silver table at version 0: equal version numbers, other tables."""
    from interaction_lake.config import Settings

    settings = Settings().with_paths(lake_root=tmp_path / "lake", landing_root=tmp_path / "landing")
    generate(settings.landing_root, customers=30, days=1, seed=4, start=dt.date(2026, 11, 2), fault_rate=0.0)
    land_all(spark, settings, "first")
    assert not build_gold(spark, settings, "first", gate=False).up_to_date
    assert build_gold(spark, settings, "again", gate=False).up_to_date
    build_silver(spark, settings, "rebuilt", full=True)
    assert not build_gold(spark, settings, "after-rebuild", gate=False).up_to_date


@pytest.mark.parametrize("sent", [("callcentre",), ("holdings",), ("counter", "survey")])
def test_a_bank_that_sends_some_sources_gets_their_marts_published(spark, settings, tmp_path, sent):
    """Any subset of sources (issue 17, section 3): the marts whose inputs arrived are built and pass their gate; the
    others are not built, and the build says which and why."""
    from interaction_lake.generator import generate
    from jobs.gold.build import MART_INPUTS
    from jobs.silver.lifecycles import FACTS

    everything = tmp_path / "everything"
    generate(everything, customers=200, days=3, seed=5, start=dt.date(2026, 11, 2), fault_rate=0.0)
    for source in sent:
        shutil.copytree(everything / source, settings.landing_root / source)
    for source in sent:
        land_source(spark, settings, source, "r1")
    build_silver(spark, settings, "r1", sent)
    report = build_gold(spark, settings, "g1")
    facts = {f.name for f in FACTS if f.source in sent}
    expected = {name for name, inputs in MART_INPUTS.items() if facts & set(inputs)}
    assert set(report.rows) == expected and expected
    assert all(o.passed for o in report.gates) and {o.table for o in report.gates} == expected
    assert set(report.not_built) == set(MART_INPUTS) - expected
    for name in expected:
        assert lake.exists(mart_table(settings.lake_root, name))

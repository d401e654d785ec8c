"""Silver on the real engine: replay equals incremental, late and out-of-order events, dedup, SCD2, no PII."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings, strategies as st
from pyspark.sql import functions as F

from interaction_lake import contracts, lake
from interaction_lake.generator import SOURCES, generate
from interaction_lake.generator.deliveries import days_of, deliver
from interaction_lake.privacy import pseudonym_py, secret_for
from jobs.bronze.land import land_source
from jobs.silver.build import build_silver, fact_quarantine_table, fact_table, silver_events_table
from jobs.silver.lifecycles import FACTS
from tests.integration.conformance.lakes import differences

FACT = {fact.name: fact for fact in FACTS}


def table_rows(path: Path) -> list[dict]:
    rows = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def silver_tables(lake_root: Path) -> dict[str, list[dict]]:
    return {p.name: table_rows(p) for p in sorted((lake_root / "silver").iterdir())}


def land_and_build(spark, settings, run_id: str):
    for source in SOURCES:
        land_source(spark, settings, source, run_id)
    return {r.source: r for r in build_silver(spark, settings, run_id)}


def test_incremental_daily_runs_equal_a_full_replay(spark, settings, tmp_path, monkeypatch):
    """Day after day, silver's tables (compacted as they take commits: every 2nd here) hold what a replay builds."""
    monkeypatch.setattr(lake, "COMPACT_EVERY", 2)
    sent = tmp_path / "sent"
    generate(sent, customers=300, days=4, seed=21, start=dt.date(2026, 11, 28), fault_rate=0.03)
    days = days_of(sent)
    assert len(days) >= 4
    for day in days:  # each day's files arrive, land, and silver runs incrementally
        deliver(sent, settings.landing_root, day)
        land_and_build(spark, settings, f"daily-{day}")
    incremental = silver_tables(settings.lake_root)
    assert incremental["counter_visit"] and incremental["call"] and incremental["customer_dim"]
    # a partition with more than one file when its table's turn came was compacted (a day's single new file is not)
    compactions = {p.name: [json.loads(h["userMetadata"]) for h in DeltaTable(str(p)).history() if h["operation"] == "OPTIMIZE"]
                   for p in (settings.lake_root / "silver").iterdir()}
    assert compactions["customer_dim"] and compactions["am_contact"]
    # the facts' quarantine, which every source's build writes, is compacted at the end of a run (compact_fact_quarantine)
    held = DeltaTable(str(fact_quarantine_table(settings.lake_root)))
    assert [json.loads(h["userMetadata"])["table"] for h in held.history() if h["operation"] == "OPTIMIZE"], held.history()
    assert all(m["step"] == "compact" and m["job"] == "silver.build" for made in compactions.values() for m in made)
    # the MERGEs' temporary views are dropped after each source: a long-lived session does not collect them day by day
    assert [t.name for t in spark.catalog.listTables() if t.isTemporary and t.name.startswith("v_")] == []

    build_silver(spark, settings, "replay", full=True)
    assert silver_tables(settings.lake_root) == incremental


def test_sources_built_at_once_leave_what_one_at_a_time_leaves(spark, settings, tmp_path, monkeypatch):
    """interaction_lake.concurrently: silver's sources built two at a time, each on a session of its own, leave every
    silver and quarantine table as one after another does, and report the same, day after day -- the first day
    creating the shared tables (quarantines, progress) from two builds at once, later days correcting, quarantining
    and mending facts in the quarantine every source writes."""
    monkeypatch.setenv("INTERACTION_LAKE_PSEUDONYM_SECRET", "one-secret-for-both-lakes")
    sent = tmp_path / "sent"
    generate(sent, customers=300, days=3, seed=11, start=dt.date(2026, 11, 28), fault_rate=0.05)
    lakes = {workers: dataclasses.replace(settings.with_paths(lake_root=tmp_path / f"lake-{workers}"), parallelism=workers)
             for workers in (1, 2)}
    for day in days_of(sent):
        deliver(sent, settings.landing_root, day)
        delivered = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(1), dt.timezone.utc)
        reports = {}
        for workers, mine in lakes.items():  # the same files, landed at the same time, into each lake
            for source in SOURCES:
                land_source(spark, mine, source, f"daily-{day}", ingested_at=delivered)
            reports[workers] = [dataclasses.asdict(r) for r in build_silver(spark, mine, f"daily-{day}")]
        assert reports[1] == reports[2], day
        assert sum(r["events_inserted"] for r in reports[2]) > 0
    one, two = (mine.lake_root for mine in lakes.values())
    held = table_rows(fact_quarantine_table(two))
    assert held and {r["fact"] for r in held} >= {"call", "counter_visit"}, held  # facts of several sources: a shared table
    for layer in ("silver", "quarantine"):
        assert differences(one / layer, two / layer, {str(one): "<lake>"}, {str(two): "<lake>"}) == [], layer


def test_duplicates_are_suppressed_and_counted(spark, settings, small_bank):
    reports = land_and_build(spark, settings, "r1")
    for source in SOURCES:
        events = DeltaTable(str(silver_events_table(settings.lake_root, source))).to_pyarrow_table(columns=["event_id"]).to_pylist()
        assert len(events) == len({e["event_id"] for e in events})
        assert reports[source].duplicates_suppressed == small_bank.sources[source].duplicate_events
    again = land_and_build(spark, settings, "r2")
    assert all(r.batches == 0 for r in again.values())


def envelope(event_type: str, at: str, customer: str | None, **fields) -> dict:
    return {"event_id": f"evt-{event_type}-{fields.get('ticket_id', fields.get('call_id', ''))}-{at}", "event_type": event_type,
            "schema_version": 1, "occurred_at": at, "source_system": "test", "customer_ref": customer, **fields}


def drop(settings, source: str, name: str, records: list[dict]) -> None:
    path = settings.landing_root / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def visits(settings) -> dict[str, dict]:
    return {r["ticket_id"]: r for r in table_rows(fact_table(settings.lake_root, FACT["counter_visit"]))}


def test_late_event_closes_the_open_lifecycle_and_touches_only_it(spark, settings):
    t = dict(branch_id="BR001", counter_id="BR001-C1", teller_id="T001")
    drop(settings, "counter", "d1.jsonl", [
        envelope("ticket_issued", "2026-11-02T12:00:00Z", "C1", ticket_id="A", branch_id="BR001", service_type="cash"),
        envelope("ticket_issued", "2026-11-02T12:01:00Z", "C2", ticket_id="B", branch_id="BR001", service_type="loans"),
        envelope("ticket_called", "2026-11-02T12:03:00Z", "C2", ticket_id="B", **t),
        envelope("service_started", "2026-11-02T12:03:30Z", "C2", ticket_id="B", **t),
        envelope("service_completed", "2026-11-02T12:10:00Z", "C2", ticket_id="B", **t),
    ])
    land_and_build(spark, settings, "day-1")
    first = visits(settings)
    assert first["A"]["status"] == "open" and first["A"]["wait_seconds"] is None
    assert first["B"]["status"] == "completed" and first["B"]["wait_seconds"] == 120.0 and first["B"]["service_seconds"] == 390.0

    # A's closing events arrive two days late, newest first.
    drop(settings, "counter", "d3.jsonl", [
        envelope("service_completed", "2026-11-02T12:20:00Z", "C1", ticket_id="A", **t),
        envelope("service_started", "2026-11-02T12:15:00Z", "C1", ticket_id="A", **t),
        envelope("ticket_called", "2026-11-02T12:14:00.500Z", "C1", ticket_id="A", **t),
    ])
    report = land_and_build(spark, settings, "day-3")["counter"]
    assert report.facts == {"counter_visit": 1}
    after = visits(settings)
    assert after["A"]["status"] == "completed"
    assert after["A"]["wait_seconds"] == 840.5 and after["A"]["service_seconds"] == 300.0
    assert after["A"]["visit_date"] == dt.date(2026, 11, 2) and after["A"]["teller_id"] == "T001"
    assert after["B"] == first["B"]


def test_out_of_order_call_lifecycle_is_assembled_by_event_time(spark, settings):
    call = [
        envelope("call_offered", "2026-11-02T09:00:00Z", "C9", call_id="K", caller_phone="+44 20 7946 0000"),
        envelope("ivr_exited", "2026-11-02T09:00:40Z", "C9", call_id="K", ivr_outcome="to_agent"),
        envelope("call_queued", "2026-11-02T09:00:40Z", "C9", call_id="K", queue_id="cards", priority=3),
        envelope("call_answered", "2026-11-02T09:02:10Z", "C9", call_id="K", queue_id="cards", agent_id="AG1"),
        envelope("call_transferred", "2026-11-02T09:03:00Z", "C9", call_id="K", agent_id="AG1", queue_id="cards", to_queue_id="loans"),
        envelope("call_answered", "2026-11-02T09:04:00Z", "C9", call_id="K", queue_id="loans", agent_id="AG2"),
        envelope("call_ended", "2026-11-02T09:09:00Z", "C9", call_id="K", agent_id="AG2", talk_seconds=280, hold_seconds=20),
        envelope("call_wrapped_up", "2026-11-02T09:10:00Z", "C9", call_id="K", agent_id="AG2", wrap_seconds=60,
                 contact_reason="loan_enquiry", resolution="resolved"),
    ]
    drop(settings, "callcentre", "calls.jsonl", list(reversed(call)))
    land_and_build(spark, settings, "r")
    [row] = table_rows(fact_table(settings.lake_root, FACT["call"]))
    assert row["queue_id"] == "cards" and row["agent_id"] == "AG2" and row["transfers"] == 1
    assert row["queue_wait_seconds"] == 90.0 and row["talk_seconds"] == 280 and row["wrap_seconds"] == 60
    assert row["status"] == "ended" and row["abandoned_in"] is None and row["resolution"] == "resolved"


def profile(customer: str, snapshot: str, segment: str, n: int, taken: str | None = None) -> dict:
    return {"event_id": f"p-{customer}-{snapshot}-{n}", "event_type": "customer_profile_snapshot", "schema_version": 1,
            "occurred_at": taken or f"{snapshot}T23:00:00Z", "source_system": "core", "customer_ref": customer, "snapshot_date": snapshot,
            "segment": segment, "home_branch_id": "BR001", "am_id": None, "customer_name": "Jan Nowak", "phone": "+44 7700 900123"}


def test_customer_dimension_keeps_scd2_history_and_absorbs_a_late_snapshot(spark, settings):
    drop(settings, "holdings", "m.jsonl", [profile("C1", "2026-08-31", "mass", 1), profile("C1", "2026-09-30", "mass", 2),
                                          profile("C1", "2026-10-31", "affluent", 3), profile("C2", "2026-10-31", "sme", 4)])
    land_and_build(spark, settings, "r1")
    dim = table_rows(fact_table(settings.lake_root, FACT["customer_dim"]))
    secret = secret_for(settings.lake_root)
    c1 = sorted((r for r in dim if r["customer_key"] == pseudonym_py("C1", secret)), key=lambda r: r["valid_from"])
    assert [(r["segment"], str(r["valid_from"]), str(r["valid_to"]), r["is_current"]) for r in c1] == [
        ("mass", "2026-08-31", "2026-10-31", False), ("affluent", "2026-10-31", "None", True)]

    # A corrected September snapshot arrives late: the change happened a month earlier.
    drop(settings, "holdings", "late.jsonl", [profile("C1", "2026-09-30", "affluent", 5, taken="2026-11-15T08:00:00Z")])
    land_and_build(spark, settings, "r2")
    dim = table_rows(fact_table(settings.lake_root, FACT["customer_dim"]))
    c1 = sorted((r for r in dim if r["customer_key"] == pseudonym_py("C1", secret)), key=lambda r: r["valid_from"])
    assert [(r["segment"], str(r["valid_from"]), str(r["valid_to"]), r["is_current"]) for r in c1] == [
        ("mass", "2026-08-31", "2026-09-30", False), ("affluent", "2026-09-30", "None", True)]
    assert sum(r["is_current"] for r in dim) == 2  # one current version per customer


PII_PATTERN = re.compile(r"(\+44[\d ]{6,})|(@example\.com)|(\bC\d{8}\b)|(Nowak)")


def test_silver_holds_no_pii(spark, settings, small_bank):
    land_and_build(spark, settings, "r")
    pii_names = {name for source in SOURCES for name in contracts.latest(source).pii_fields if contracts.latest(source).properties[name]["x-pii"] is True}
    for table in (settings.lake_root / "silver").iterdir():
        schema = DeltaTable(str(table)).schema()
        names = {f.name for f in schema.fields}
        assert not names & (pii_names | {"customer_ref", "raw_line", "record_json"}), table.name
        for row in DeltaTable(str(table)).to_pyarrow_table().to_pylist():
            for column, value in row.items():
                if isinstance(value, str) and not column.startswith("_"):
                    assert not PII_PATTERN.search(value), (table.name, column, value)


def test_pseudonym_is_the_keyed_hash_of_the_customer_number(spark, settings, small_bank):
    land_and_build(spark, settings, "r")
    bronze = DeltaTable(str(lake.bronze_table(settings.lake_root, "counter"))).to_pyarrow_table(columns=["event_id", "customer_ref"]).to_pylist()
    silver = {r["event_id"]: r["customer_key"] for r in table_rows(silver_events_table(settings.lake_root, "counter"))}
    secret = secret_for(settings.lake_root)
    for row in bronze:
        expected = pseudonym_py(row["customer_ref"], secret) if row["customer_ref"] else None
        assert silver[row["event_id"]] == expected


# What customers write in comments, in the formats of the banks this serves: names, phone and account numbers.
FREE_TEXT = [
    "Please call Jan Nowak back on 07700/900123 or +44 7700 900123",
    "Soy María José García Fernández, mi teléfono 612 345 678, cuenta es91 2100 0418 4502 0005 1332",
    "我是王小明，电话 +86 138 0013 8000，账号 6222 0202 0000 1234 567",
    "refund to gb29 nwbk 6016 1331 9268 19 please, thanks - alex.smith@example.com",
]


def test_free_text_never_reaches_silver(spark, settings):
    """One rule (docs/privacy.md): free text stays in bronze; silver keeps whether there was any."""
    sent = "2026-11-02T10:00:00Z"
    records = []
    for n, text in enumerate(FREE_TEXT):
        records += [{**envelope("survey_sent", sent, f"C{n}", survey_id=f"S{n}", channel="counter", interaction_ref=f"T{n}"), "event_id": f"s{n}"},
                    {**envelope("survey_responded", "2026-11-02T11:00:00Z", f"C{n}", survey_id=f"S{n}", csat=2), "comment": text,
                     "event_id": f"r{n}"}]
    records += [{**envelope("survey_sent", sent, "C9", survey_id="S9", channel="counter", interaction_ref="T9"), "event_id": "s9"},
                {**envelope("survey_responded", "2026-11-02T11:00:00Z", "C9", survey_id="S9", csat=5), "event_id": "r9"}]
    drop(settings, "survey", "s.jsonl", records)
    land_and_build(spark, settings, "r")
    responses = {r["survey_id"]: r for r in table_rows(fact_table(settings.lake_root, FACT["survey_response"]))}
    assert {k: r["has_comment"] for k, r in responses.items()} == {**{f"S{n}": True for n in range(len(FREE_TEXT))}, "S9": False}
    needles = ["Nowak", "900123", "María", "García", "612 345 678", "2100 0418", "王小明", "138 0013 8000", "6222 0202",
               "nwbk 6016", "alex.smith"]
    silver = settings.lake_root / "silver"
    for path in silver.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [n for n in needles if n.encode() in data], path
    bronze = DeltaTable(str(lake.bronze_table(settings.lake_root, "survey"))).to_pyarrow_table(columns=["raw_line"]).column(0).to_pylist()
    assert any("Nowak" in line for line in bronze)  # kept where it belongs, for the record and for erasure


@pytest.mark.parametrize("secret", [b"short", b"k" * 64, b"a-very-long-secret-from-a-vault-" * 4])
def test_spark_pseudonym_equals_python_hmac_for_any_key_length(spark, secret):
    from interaction_lake.privacy import pseudonym
    from pyspark.sql import functions as F

    refs = ["C00000001", "C99999999", "ü-ref", None]
    got = [r.k for r in spark.createDataFrame([(r,) for r in refs], "ref string").select(pseudonym(F.col("ref"), secret).alias("k")).collect()]
    assert got == [pseudonym_py(r, secret) if r else None for r in refs]


def test_every_merge_commit_is_recorded_with_the_run_and_task(spark, settings, tmp_path, monkeypatch):
    sent = tmp_path / "sent"
    generate(sent, customers=120, days=2, seed=5, start=dt.date(2026, 11, 2), fault_rate=0.0)
    monkeypatch.setenv(lake.TASK_ENV, "silver.build_silver")
    for day in days_of(sent):
        deliver(sent, settings.landing_root, day)
        land_and_build(spark, settings, f"run-{day}")

    log = table_rows(lake.commit_log_table(settings.lake_root))
    merges = {}
    for table in (settings.lake_root / "silver").iterdir():
        if table.name.startswith("_"):
            continue
        for commit in DeltaTable(str(table)).history():
            if commit["operation"] == "MERGE":
                merges[(f"silver/{table.name}", commit["version"])] = commit
    assert merges, "the second day must MERGE into existing silver tables"
    recorded = {(r["table"], r["version"]): r for r in log}
    assert set(merges) <= set(recorded)
    for key in merges:
        assert recorded[key]["run_id"].startswith("run-")
        assert recorded[key]["task"] == "silver.build_silver"
        assert json.loads(recorded[key]["user_metadata"])["job"] == recorded[key]["job"]
    appended = DeltaTable(str(fact_table(settings.lake_root, FACT["call"]))).history()[-1]
    assert json.loads(appended["userMetadata"])["task"] == "silver.build_silver"


@pytest.mark.parametrize("crash_at", ["silver_after_events", "silver_after_fact"])
def test_killed_mid_build_then_rerun_equals_an_uninterrupted_build(spark, settings, small_bank, crash_at, run_cli):
    """SIGKILL after the events MERGE, or after the first fact's, then the scheduler's retry: nothing twice, nothing lost."""
    for source in SOURCES:
        land_source(spark, settings, source, "r1")
    killed = run_cli(settings, "build-silver", "--source", "callcentre", "--no-gate", "--run-id", "killed", crash_at=crash_at)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert lake.exists(silver_events_table(settings.lake_root, "callcentre"))  # it died after writing something

    build_silver(spark, settings, "retry")
    retried = silver_tables(settings.lake_root)
    events = retried["callcentre_events"]
    assert len(events) == len({e["event_id"] for e in events}) > 0
    assert len(retried["call"]) == len({c["call_id"] for c in retried["call"]}) > 0
    build_silver(spark, settings, "replay", full=True)
    assert silver_tables(settings.lake_root) == retried


CALL_SCHEMA = "call_id string, call_date date, talk_seconds double, queue_id string"
call_rows = st.lists(st.tuples(st.sampled_from([f"c{i}" for i in range(8)]), st.integers(1, 4),
                               st.sampled_from([None, 1.0, 2.5]), st.sampled_from(["Q1", "Q2"])), max_size=8)


@hypothesis_settings(max_examples=16, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stored=call_rows, recomputed=call_rows, retired=call_rows, window=st.sampled_from([None, (2, 3), (1, 4)]),
       versioned=st.booleans(), span=st.sampled_from([1, 30]))
def test_an_upsert_split_into_merge_and_append_leaves_what_one_merge_leaves(spark, tmp_path, stored, recomputed, retired,
                                                                            window, versioned, span):
    """The fast path (stored keys MERGEd, new ones appended) against the reference (every row through one MERGE): the
    same rows, on random stored and recomputed facts, retirements, partition windows and SCD2-style retirement of
    touched keys no longer recomputed; for a fact of a long span the fast path's MERGE names only the partitions that
    hold a touched key (``_holding_partitions``)."""
    import dataclasses
    import uuid

    from jobs.silver.build import KEY, upsert

    def unique(rows):  # a fact table holds one row per key, and a recomputation gives one per key
        return list({r[0]: (r[0], dt.date(2026, 10, r[1]), r[2], r[3]) for r in rows}.values())

    fact = dataclasses.replace(FACT["call"], versioned=versioned, span_days=span)
    stored, recomputed = unique(stored), unique(recomputed)
    retired = [r for r in unique(retired) if r[0] not in {k for k, *_ in recomputed}]  # a key is good or broken, not both
    partitions = (dt.date(2026, 10, window[0]), dt.date(2026, 10, window[1])) if window else None
    touched = spark.createDataFrame([(k,) for k in sorted({r[0] for r in recomputed})], f"{KEY} string")
    results = []
    for split in (True, False):
        path = tmp_path / uuid.uuid4().hex / "call"
        spark.createDataFrame(stored or [("c0", dt.date(2026, 10, 1), None, "Q1")], CALL_SCHEMA).write.format("delta") \
            .partitionBy("call_date").save(str(path))
        with lake.keeping(spark, tmp_path) as keep:  # as silver's build calls it: the stored keys computed once
            upsert(spark, spark.createDataFrame(recomputed, CALL_SCHEMA), path, fact, touched, {"job": "test", "run_id": "r"},
                   partitions=partitions, retire=spark.createDataFrame(retired, CALL_SCHEMA) if retired else None, split=split,
                   keep=keep)
        results.append(sorted(table_rows(path), key=lambda r: json.dumps(r, sort_keys=True, default=str)))
    assert results[0] == results[1]


def test_an_upsert_rewrites_only_the_partitions_whose_rows_really_changed(spark, tmp_path):
    """Recomputed rows equal to the stored ones are not written, so their partitions do not count as changed
    (the silver gate re-validates, and gold rebuilds from, only what changed)."""
    from jobs.silver.build import upsert

    fact = FACT["call"]
    path = tmp_path / "lake" / "silver" / "call"
    schema = "call_id string, call_date date, talk_seconds double, queue_id string"
    stored = [(f"c{i}", dt.date(2026, 10, 1 + i % 3), float(i) if i % 2 else None, "Q1") for i in range(9)]
    spark.createDataFrame(stored, schema).write.format("delta").partitionBy("call_date").save(str(path))
    recomputed = [*stored[:6], ("c9", dt.date(2026, 10, 3), 9.0, "Q2")]
    recomputed[4] = ("c4", dt.date(2026, 10, 2), 44.0, "Q1")  # one real change, in the 2026-10-02 partition
    rows = spark.createDataFrame(recomputed, schema)
    touched = rows.select(F.col("call_id").alias("_touched_key"))
    before = lake.version(path)
    upsert(spark, rows, path, fact, touched, {"job": "test", "run_id": "r"})
    assert lake.changed_partitions(path, before, lake.version(path), "call_date") == {"2026-10-02", "2026-10-03"}  # a change, an insert
    after = {r["call_id"]: r for r in table_rows(path)}
    assert after["c4"]["talk_seconds"] == 44.0 and after["c9"]["queue_id"] == "Q2" and len(after) == 10

"""The bronze gate: a clean batch passes; a poisoned batch (events from the future) fails, is held, and silver skips it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from deltalake import DeltaTable

from interaction_lake.cli import main
from jobs.bronze.gate import gate_bronze, gate_bronze_sources, held_batches, holds
from jobs.bronze.land import land_source
from jobs.silver.build import build_silver, silver_events_table


def future_events(n: int) -> str:
    """Events three hours ahead of now: plausible enough to land (landing refuses more than a day ahead), but
    beyond the hour of clock skew the bronze gate allows."""
    ahead = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)).isoformat()
    return "\n".join(json.dumps({
        "event_id": f"evt-future-{i}", "event_type": "ticket_issued", "schema_version": 1, "occurred_at": ahead,
        "source_system": "qmatic-branch", "customer_ref": "C00000001", "ticket_id": f"BR001-20310101-{i:04d}", "branch_id": "BR001",
        "service_type": "cash"}) for i in range(n)) + "\n"


def test_clean_batches_pass_and_are_validated_once(spark, settings, small_bank):
    land_source(spark, settings, "counter", "r1")
    [outcome] = gate_bronze(spark, settings, "counter", "r1")
    assert outcome.passed and outcome.batch_id
    assert gate_bronze(spark, settings, "counter", "r2") == []  # idempotent: nothing new to validate


def test_a_poisoned_batch_fails_the_gate_is_held_and_silver_does_not_read_it(spark, settings, small_bank):
    land_source(spark, settings, "counter", "r1")
    assert all(o.passed for o in gate_bronze(spark, settings, "counter", "r1"))
    build_silver(spark, settings, "r1", ("counter",))

    poisoned = settings.landing_root / "counter" / "2026-11-05"
    poisoned.mkdir(parents=True)
    (poisoned / "counter_20261105_events.jsonl").write_text(future_events(5))
    report = land_source(spark, settings, "counter", "r2")
    assert report.records_landed == 5  # valid by the contract: only the gate sees the problem
    [outcome] = gate_bronze(spark, settings, "counter", "r2")
    assert not outcome.passed and outcome.errors == ["expect_column_values_to_be_between(_arrival_lag_hours)"]
    assert held_batches(spark, settings.lake_root, "counter") == {outcome.batch_id}

    [silver] = build_silver(spark, settings, "r2", ("counter",))
    assert silver.batches == 0 and silver.held_back == 1
    ids = DeltaTable(str(silver_events_table(settings.lake_root, "counter"))).to_pyarrow_table(columns=["event_id"]).column(0).to_pylist()
    assert not [i for i in ids if i.startswith("evt-future")]


def test_the_land_command_exits_non_zero_when_a_gate_fails(spark, settings, capsys):
    folder = settings.landing_root / "counter" / "2026-11-05"
    folder.mkdir(parents=True)
    (folder / "counter_20261105_events.jsonl").write_text(future_events(3))
    code = main(["land", "--lake", str(settings.lake_root), "--landing", str(settings.landing_root), "--source", "counter", "--run-id", "cli"])
    assert code == 1
    captured = capsys.readouterr()
    assert "bronze/counter_events" in captured.out and "FAILED" in captured.out
    assert "1 data-quality gate(s) failed" in captured.err
    # Why, and where: the failing values counted and a few of them with their file, line and batch (issue 20).
    [why] = [line.strip() for line in captured.out.splitlines() if "_arrival_lag_hours):" in line]
    assert why.startswith("error expect_column_values_to_be_between(_arrival_lag_hours): 3 of 3 unexpected (100% of values); e.g.")
    assert "_source_file=counter_20261105_events.jsonl, _line_number=1" in why and "event_id=evt-future-0" in why
    failed = [r for r in DeltaTable(str(settings.lake_root / "_system" / "quality_results")).to_pyarrow_table().to_pylist()
              if not r["success"]]
    assert [(r["column_name"], r["unexpected_count"], r["unexpected_percent"]) for r in failed] == [("_arrival_lag_hours", 3, 100.0)]
    sample = json.loads(failed[0]["unexpected_sample"])
    assert [(Path(r["_source_file"]).name, r["_line_number"], r["_batch_id"]) for r in sample] == [
        ("counter_20261105_events.jsonl", n, failed[0]["batch_id"]) for n in (1, 2, 3)]
    assert all(r["_arrival_lag_hours"] < -2.9 for r in sample)


def test_a_batch_with_half_its_records_quarantined_fails_the_gate(spark, settings):
    folder = settings.landing_root / "counter" / "2026-11-05"
    folder.mkdir(parents=True)
    good = "".join(json.dumps({**json.loads(line), "occurred_at": "2026-11-05T09:00:00Z"}) + "\n" for line in future_events(3).splitlines())
    (folder / "half.jsonl").write_text(good + '{"event_id": "x"}\n{not json\n[]\n')
    report = land_source(spark, settings, "counter", "r1")
    assert (report.records_landed, report.records_quarantined) == (3, 3)
    [outcome] = gate_bronze(spark, settings, "counter", "r1")
    assert not outcome.passed and outcome.errors == ["expect_column_max_to_be_between(_batch_quarantined_share)"]


def test_a_batch_whose_every_record_was_quarantined_is_judged_too(spark, settings):
    folder = settings.landing_root / "survey" / "2026-11-05"
    folder.mkdir(parents=True)
    (folder / "bad.jsonl").write_text('{"event_id": "x"}\n{not json\n')
    assert land_source(spark, settings, "survey", "r1").records_quarantined == 2
    [outcome] = gate_bronze(spark, settings, "survey", "r1")
    assert not outcome.passed and "expect_table_row_count_to_be_between()" in outcome.errors


def test_one_bad_file_holds_only_itself_and_the_rest_of_the_batch_flows_on(spark, settings):
    folder = settings.landing_root / "counter" / "2026-11-05"
    folder.mkdir(parents=True)
    good = "".join(json.dumps({**json.loads(line), "event_id": f"good-{i}", "occurred_at": "2026-11-05T09:00:00Z"}) + "\n"
                   for i, line in enumerate(future_events(4).splitlines()))
    (folder / "branch_a.jsonl").write_text(good)
    (folder / "branch_b.jsonl").write_text(future_events(2))  # three hours ahead: the bronze gate fails it
    report = land_source(spark, settings, "counter", "r1")
    assert report.records_landed == 6 and report.files_new == 2
    outcomes = gate_bronze(spark, settings, "counter", "r1")
    batch, *alone = outcomes
    assert batch.source_file is None and not batch.passed  # one batch, judged whole first
    verdicts = {Path(o.source_file).name: o.passed for o in alone}
    assert verdicts == {"branch_a.jsonl": True, "branch_b.jsonl": False}
    held = holds(spark, settings.lake_root, "counter")
    assert held.batches == frozenset() and held.files == {(batch.batch_id, str(folder / "branch_b.jsonl"))}

    [silver] = build_silver(spark, settings, "r1", ("counter",))
    assert silver.batches == 1 and silver.files_held_back == 1
    ids = DeltaTable(str(silver_events_table(settings.lake_root, "counter"))).to_pyarrow_table(columns=["event_id"]).column(0).to_pylist()
    assert sorted(ids) == [f"good-{i}" for i in range(4)]



def test_the_gates_of_sources_at_once_give_the_verdicts_one_after_another_gives(spark, settings, small_bank, tmp_path):
    """``gate_bronze_sources``: the sources' gates two at a time, each on a session of its own -- two failing at once,
    so Great Expectations renders Data Docs from both (one at a time: ``quality.gate._GREAT_EXPECTATIONS``) -- judge
    every batch and file as one after another does, and both leave every failing validation's page."""
    import dataclasses

    from interaction_lake.generator import SOURCES
    from interaction_lake.quality.gate import SITE, lake_quality_folder

    for source, event in (("counter", "ticket_issued"), ("callcentre", "call_offered")):
        folder = settings.landing_root / source / "2026-11-05"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [{**json.loads(line), "event_type": event, "source_system": "x", "call_id": "c"} for line in future_events(2).splitlines()]
        (folder / f"{source}_future.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    def verdicts(lake_root: Path, parallelism: int) -> tuple[list, set]:
        apart = dataclasses.replace(settings.with_paths(lake_root=lake_root, landing_root=settings.landing_root), parallelism=parallelism)
        for source in SOURCES:
            land_source(spark, apart, source, "r1")
        outcomes = gate_bronze_sources(spark, apart, SOURCES, "r1")
        pages = lake_quality_folder(lake_root).joinpath(*SITE, "validations")
        return ([(o.table, Path(o.source_file or "").name, o.passed, sorted(o.errors)) for o in outcomes],
                {"/".join(p.relative_to(pages).parts[:2]) for p in pages.rglob("*.html")})

    one_by_one, at_once = verdicts(tmp_path / "one", 1), verdicts(tmp_path / "two", 2)
    assert at_once == one_by_one
    failed = {f"bronze/{table}" for table, _, passed, _ in one_by_one[0] if not passed}
    assert failed == {"bronze/counter_events", "bronze/callcentre_events"} and failed <= one_by_one[1]

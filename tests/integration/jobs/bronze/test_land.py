"""Bronze landing on the real embedded engine: counts reconcile, exactly once, crash-safe, quarantined with reasons."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from interaction_lake import lake, ledger
from interaction_lake.generator import SOURCES, fault_summary
from jobs.bronze.land import land_source


def rows(path: Path, columns: list[str] | None = None) -> list[dict]:
    return DeltaTable(str(path)).to_pyarrow_table(columns=columns).to_pylist()


def version(path: Path) -> int:
    return DeltaTable(str(path)).version()


def land_all(spark, settings, run_id: str) -> dict:
    return {source: land_source(spark, settings, source, run_id) for source in SOURCES}


def test_landing_reconciles_with_what_was_sent(spark, settings, small_bank):
    reports = land_all(spark, settings, "run-1")
    expected_reasons = fault_summary(small_bank)
    for source in SOURCES:
        stats, report = small_bank.sources[source], reports[source]
        refused = sum(expected_reasons[source].values())
        assert report.records_quarantined == refused
        assert report.records_landed == stats.lines - refused
        assert report.quarantine_reasons == expected_reasons[source]
        assert report.files_new == stats.files
        assert report.files_duplicate == stats.duplicate_files
        assert report.files_empty == stats.empty_files
        bronze = rows(lake.bronze_table(settings.lake_root, source), ["event_id", "_file_checksum", "_line_number"])
        assert len(bronze) == report.records_landed
        # Duplicate events are kept raw in bronze (silver deduplicates) and counted.
        assert len(bronze) - len({r["event_id"] for r in bronze}) == stats.duplicate_events == report.duplicate_events_in_batch
        assert len({(r["_file_checksum"], r["_line_number"]) for r in bronze}) == len(bronze)


def test_a_batch_too_large_to_travel_inline_lands_the_same_rows_in_one_commit(spark, settings, small_bank, tmp_path, monkeypatch):
    inline = settings.with_paths(lake_root=tmp_path / "inline-lake", landing_root=settings.landing_root)
    land_source(spark, inline, "holdings", "run-s")
    monkeypatch.setattr(lake, "INLINE_ROWS", 10)  # a bank's first day is over Spark Connect's 128 MiB plan limit; stage from 11 rows here
    monkeypatch.setattr(lake, "PART_ROWS", 7)  # and staged in parts as it is parsed, so memory holds one part, not the batch
    report = land_source(spark, settings, "holdings", "run-s")
    assert report.records_landed > 10 and report.records_quarantined > 10
    for table in (lambda root: lake.bronze_table(root, "holdings"), lake.landing_quarantine_table):
        staged, inline_rows = rows(table(settings.lake_root)), rows(table(inline.lake_root))
        key = lambda r: (r["_source_file"], r["_line_number"])  # noqa: E731
        assert [{k: v for k, v in r.items() if k not in ("_ingested_at", "_ingest_date", "_batch_id")} for r in sorted(staged, key=key)] == [
            {k: v for k, v in r.items() if k not in ("_ingested_at", "_ingest_date", "_batch_id")} for r in sorted(inline_rows, key=key)]
        assert version(table(settings.lake_root)) == 0  # one atomic commit, as inline
    assert not any((settings.lake_root / "_system" / "staging").iterdir())  # the staged files are gone


def test_quarantine_keeps_raw_line_reason_and_lineage(spark, settings, small_bank):
    land_source(spark, settings, "counter", "run-q")
    quarantined = rows(lake.landing_quarantine_table(settings.lake_root))
    assert quarantined
    for r in quarantined:
        assert r["source"] == "counter" and r["reason"] and r["detail"]
        source_line = Path(r["_source_file"]).read_text().splitlines()[r["_line_number"] - 1]
        assert r["raw_line"] == source_line
        assert r["_run_id"] == "run-q" and len(r["_file_checksum"]) == 64


def test_landing_twice_changes_nothing(spark, settings, small_bank):
    land_source(spark, settings, "survey", "first")
    tables = [t for t in (lake.bronze_table(settings.lake_root, "survey"), lake.landing_quarantine_table(settings.lake_root),
                          lake.landing_ledger_table(settings.lake_root)) if lake.exists(t)]
    assert lake.bronze_table(settings.lake_root, "survey") in tables
    before = [version(t) for t in tables]
    again = land_source(spark, settings, "survey", "second")
    assert [version(t) for t in tables] == before
    assert again.files_new == again.records_landed == again.files_duplicate == 0
    assert again.files_already_landed == small_bank.sources["survey"].files + small_bank.sources["survey"].duplicate_files + 1


def test_only_new_files_land_on_the_next_run(spark, settings, small_bank):
    land_source(spark, settings, "counter", "day-1")
    before = len(rows(lake.bronze_table(settings.lake_root, "counter")))
    extra = settings.landing_root / "counter" / "2026-11-09" / "counter_20261109_events.jsonl"
    extra.parent.mkdir()
    template = next((settings.landing_root / "counter").glob("*/counter_*_events.jsonl")).read_text().splitlines()
    extra.write_text("\n".join(line.replace('"event_id":"evt-', '"event_id":"new-') for line in template) + "\n")
    report = land_source(spark, settings, "counter", "day-2")
    assert report.files_new == 1
    assert len(rows(lake.bronze_table(settings.lake_root, "counter"))) == before + report.records_landed


def test_same_bytes_under_a_new_name_is_a_duplicate_file(spark, settings, small_bank):
    land_source(spark, settings, "account_manager", "r1")
    original = sorted((settings.landing_root / "account_manager").glob("*/*_events.jsonl"))[0]
    shutil.copy(original, original.with_name("renamed_by_ops.jsonl"))
    report = land_source(spark, settings, "account_manager", "r2")
    assert report.files_duplicate == 1 and report.records_landed == 0
    fates = {e.file_path: e.status for e in ledger.latest_entries(spark, settings.lake_root, "account_manager").values()}
    assert fates[str(original.with_name("renamed_by_ops.jsonl"))] == ledger.DUPLICATE_FILE


def test_a_known_file_is_not_hashed_again_unless_it_changed(spark, settings, small_bank):
    land_source(spark, settings, "counter", "r1")
    entries = ledger.latest_entries(spark, settings.lake_root, "counter").values()
    assert all(e.file_mtime_ns == Path(e.file_path).stat().st_mtime_ns for e in entries)  # fingerprints recorded
    bronze = lake.bronze_table(settings.lake_root, "counter")
    files = sorted((settings.landing_root / "counter").glob("*/*_events.jsonl"))
    touched, rewritten = files[0], files[1]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))  # same bytes, newer mtime: hashed, known
    lines = rewritten.read_text().splitlines()
    replaced = lines[0].replace('"event_id":"evt-', '"event_id":"new-')  # same size, new content: must land
    rewritten.write_text("\n".join([replaced, *lines[1:]]) + "\n")
    before = len(rows(bronze))
    report = land_source(spark, settings, "counter", "r2")
    assert report.files_new == 1 and report.records_landed == len(lines) - sum(
        1 for r in rows(lake.landing_quarantine_table(settings.lake_root)) if r["_source_file"] == str(rewritten) and r["_batch_id"] == report.batch_id)
    assert len(rows(bronze)) == before + report.records_landed
    again = land_source(spark, settings, "counter", "r3")
    assert again.files_new == 0 and again.records_landed == 0


def test_a_ledger_from_before_the_fingerprint_column_still_lands_exactly_once(spark, settings, small_bank):
    """Lakes written by the first release have no file_mtime_ns: their files are hashed as before, once."""
    land_source(spark, settings, "survey", "r1")
    table = lake.landing_ledger_table(settings.lake_root)
    old = spark.read.format("delta").load(str(table)).drop("file_mtime_ns")
    old_schema, old_rows = old.schema, [tuple(r) for r in old.collect()]
    shutil.rmtree(table)
    lake.append(spark.createDataFrame(old_rows, old_schema), table, {"job": "test"})
    lake._CURRENT.clear()
    again = land_source(spark, settings, "survey", "r2")
    assert again.files_new == again.records_landed == 0 and again.files_already_landed > 0
    extra = settings.landing_root / "survey" / "2026-11-09" / "survey_20261109_events.jsonl"
    extra.parent.mkdir()
    template = sorted((settings.landing_root / "survey").glob("*/survey_*_events.jsonl"))[0].read_text()
    extra.write_text(template.replace('"event_id":"evt-', '"event_id":"new-'))
    new = land_source(spark, settings, "survey", "r3")
    assert new.files_new == 1 and new.files_already_landed == again.files_already_landed
    assert "file_mtime_ns" in DeltaTable(str(table)).schema().to_arrow().names  # the column was added, old rows read null
    entries = ledger.latest_entries(spark, settings.lake_root, "survey")
    assert [e.file_mtime_ns is not None for e in entries.values()].count(True) == 1
    assert land_source(spark, settings, "survey", "r4").records_landed == 0


@pytest.mark.parametrize("crash_at", ["after_pending", "after_bronze", "after_quarantine"])
def test_killed_mid_batch_then_rerun_leaves_no_duplicates_and_no_gaps(spark, settings, small_bank, crash_at, run_cli):
    killed = run_cli(settings, "land", "--source", "callcentre", "--run-id", f"crash-{crash_at}", crash_at=crash_at)
    assert killed.returncode == -9, killed.stderr[-2000:]
    states = {e.status for e in ledger.latest_entries(spark, settings.lake_root, "callcentre").values()}
    assert states == {ledger.PENDING}

    rerun = land_source(spark, settings, "callcentre", "rerun")
    assert rerun.files_recovered == small_bank.sources["callcentre"].files

    refused = sum(fault_summary(small_bank)["callcentre"].values())
    bronze = rows(lake.bronze_table(settings.lake_root, "callcentre"), ["_file_checksum", "_line_number", "_batch_id"])
    quarantine = rows(lake.landing_quarantine_table(settings.lake_root), ["_file_checksum", "_line_number"])
    assert len(bronze) == len({(r["_file_checksum"], r["_line_number"]) for r in bronze}) == small_bank.sources["callcentre"].lines - refused
    assert len(quarantine) == len({(r["_file_checksum"], r["_line_number"]) for r in quarantine}) == refused
    assert len({r["_batch_id"] for r in bronze}) == 1  # finished under the batch id it started with
    assert {e.status for e in ledger.latest_entries(spark, settings.lake_root, "callcentre").values()} <= {
        ledger.COMMITTED, ledger.DUPLICATE_FILE, ledger.EMPTY}


def test_a_batch_whose_files_changed_or_vanished_is_stuck_not_fatal_and_is_abandoned_by_command(spark, settings, small_bank, run_cli):
    assert run_cli(settings, "land", "--source", "survey", crash_at="after_pending").returncode == -9
    files = sorted((settings.landing_root / "survey").glob("*/*_events.jsonl"))
    changed, vanished = files[0], files[1]
    changed.write_text(changed.read_text() + "\n")
    vanished.unlink()

    rerun = land_source(spark, settings, "survey", "rerun")  # no traceback: the batch waits, new content lands beside it
    [(stuck, why)] = rerun.stuck_batches.items()
    assert len(why) == 2 and any("changed since" in w for w in why) and any("gone" in w for w in why)
    assert rerun.files_new == 1 and rerun.batch_id != stuck  # the changed file's new bytes are a new landing file
    assert "--abandon-batch " + stuck in rerun.warnings()[0]

    wrong = run_cli(settings, "land", "--source", "survey", "--abandon-batch", "survey-nope", "--reason", "x")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1 and "not an unfinished batch" in wrong.stderr
    done = run_cli(settings, "land", "--source", "survey", "--abandon-batch", stuck, "--reason", "sender re-cut the export, ticket OPS-1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 file(s) recorded as abandoned" in done.stdout

    entries = ledger.latest_entries(spark, settings.lake_root, "survey")
    of_batch = [e for e in entries.values() if e.batch_id == stuck]
    abandoned = {e.file_path for e in of_batch if e.status == ledger.ABANDONED}
    assert abandoned == {str(changed), str(vanished)}
    assert all("OPS-1" in e.detail for e in of_batch if e.status == ledger.ABANDONED)
    finished = [e for e in of_batch if e.status == ledger.COMMITTED]
    assert len(finished) == len(of_batch) - 2 > 0
    bronze = rows(lake.bronze_table(settings.lake_root, "survey"), ["_batch_id", "_source_file", "_line_number"])
    table = lake.landing_quarantine_table(settings.lake_root)
    quarantine = rows(table, ["_batch_id", "_source_file", "_line_number"]) if lake.exists(table) else []
    in_batch = [(r["_source_file"], r["_line_number"]) for r in bronze + quarantine if r["_batch_id"] == stuck]
    assert len(in_batch) == len(set(in_batch)) == sum(e.records_landed + e.records_quarantined for e in finished)
    assert {f for f, _ in in_batch} == {e.file_path for e in finished}
    after = land_source(spark, settings, "survey", "after")
    assert after.stuck_batches == {} and after.files_new == 0


def test_commits_carry_the_run_and_batch(spark, settings, small_bank):
    report = land_source(spark, settings, "counter", "scheduled__2026-11-03")
    history = DeltaTable(str(lake.bronze_table(settings.lake_root, "counter"))).history()
    import json

    meta = json.loads(history[0]["userMetadata"])
    assert meta == {"job": "bronze.land", "run_id": "scheduled__2026-11-03", "source": "counter", "batch_id": report.batch_id, "step": "bronze"}


def test_cli_reports_missing_landing_directory_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "interaction_lake", "land", "--landing", str(tmp_path / "nowhere"), "--lake", str(tmp_path / "lake")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"interaction-lake: error: landing directory {tmp_path / 'nowhere'} does not exist "
                                                "(run 'interaction-lake generate' or pass --landing)"]


def test_unreadable_file_is_quarantined_whole(spark, settings):
    folder = settings.landing_root / "counter" / "2026-11-02"
    folder.mkdir(parents=True)
    (folder / "counter_20261102_events.jsonl").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4)
    report = land_source(spark, settings, "counter", "r")
    assert report.quarantine_reasons == Counter({"unreadable_file": 1})
    [row] = rows(lake.landing_quarantine_table(settings.lake_root))
    assert row["_line_number"] is None and "binary or corrupt" in row["detail"]


def test_a_truncated_file_is_quarantined_whole_and_its_complete_redelivery_lands_each_record_once(spark, settings):
    folder = settings.landing_root / "counter" / "2026-11-02"
    folder.mkdir(parents=True)
    records = [f'{{"event_id": "evt-{n}", "event_type": "ticket_issued", "schema_version": 1, "occurred_at": "2026-11-02T09:0{n}:00Z", '
               f'"source_system": "qmatic", "customer_ref": "C{n}", "ticket_id": "t{n}", "branch_id": "B01", "service_type": "cash"}}' for n in range(3)]
    complete = ("\n".join(records) + "\n").encode()
    path = folder / "counter_20261102_events.jsonl"
    path.write_bytes(complete[:-25])  # the transfer stopped in the last record
    first = land_source(spark, settings, "counter", "r1")
    assert (first.records_landed, first.quarantine_reasons) == (0, Counter({"truncated_file": 3}))
    quarantined = rows(lake.landing_quarantine_table(settings.lake_root))
    assert sorted(r["_line_number"] for r in quarantined) == [1, 2, 3] and quarantined[0]["raw_line"]  # kept, raw, with line numbers

    path.write_bytes(complete)  # the sender delivers the whole file again, under the same name
    second = land_source(spark, settings, "counter", "r2")
    assert second.records_landed == 3
    landed = rows(lake.bronze_table(settings.lake_root, "counter"), ["event_id"])
    assert sorted(r["event_id"] for r in landed) == ["evt-0", "evt-1", "evt-2"]


def test_two_landing_runs_at_once_on_one_source_land_each_file_once(spark, settings, small_bank):
    env = {**os.environ, "INTERACTION_LAKE_LAKE_ROOT": str(settings.lake_root), "INTERACTION_LAKE_LANDING_ROOT": str(settings.landing_root)}
    command = [sys.executable, "-m", "interaction_lake", "land", "--source", "callcentre", "--no-gate", "--json"]
    runs = [subprocess.Popen([*command, "--run-id", f"concurrent-{i}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]

    refused = sum(fault_summary(small_bank)["callcentre"].values())
    bronze = rows(lake.bronze_table(settings.lake_root, "callcentre"), ["_file_checksum", "_line_number", "_batch_id"])
    assert len(bronze) == len({(r["_file_checksum"], r["_line_number"]) for r in bronze}) == small_bank.sources["callcentre"].lines - refused
    assert len({r["_batch_id"] for r in bronze}) == 1
    quarantine = rows(lake.landing_quarantine_table(settings.lake_root), ["_file_checksum", "_line_number"])
    assert len(quarantine) == refused


def test_land_with_jobs_lands_in_processes_of_their_own_what_one_process_lands(spark, settings, small_bank, tmp_path, run_cli):
    """``land --jobs 2`` (``land_sources``: a process, and an engine session, per source) and landing in this process two
    sources at a time (``interaction_lake.concurrently``: a session each, the shared ledger and quarantine created by two
    at once) write what landing one source after another writes: the same bronze rows, quarantine rows and ledger
    entries, and the same reports."""
    import dataclasses
    import json

    from jobs.bronze.land import land_sources

    alone = land_sources(dataclasses.replace(settings, parallelism=1), list(SOURCES), "run-1", jobs=1, spark=spark)
    by_source = {r["source"]: r for r in json.loads(json.dumps([r.as_dict() for r in alone], default=str))}
    together = settings.with_paths(lake_root=tmp_path / "together", landing_root=settings.landing_root)
    at_once = land_sources(dataclasses.replace(together, parallelism=2), list(SOURCES), "run-1", jobs=1, spark=spark)
    assert {r["source"]: r for r in json.loads(json.dumps([r.as_dict() for r in at_once], default=str))} == by_source
    apart = settings.with_paths(lake_root=tmp_path / "apart", landing_root=settings.landing_root)
    done = run_cli(apart, "land", "--jobs", "2", "--no-gate", "--json", "--run-id", "run-1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {r["source"]: r for r in json.loads(done.stdout)} == by_source

    def table(path: Path, left_out: tuple[str, ...] = ()) -> list[tuple]:
        found = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
        return sorted(tuple(str(v) for k, v in sorted(r.items()) if k not in left_out) for r in found)

    times = ("_ingested_at", "_ingest_date")  # each run stamps its own ingest time
    ledger_times = ("ingested_at", "recorded_at")
    for other in (together, apart):
        for source in SOURCES:
            assert table(lake.bronze_table(other.lake_root, source), times) == table(lake.bronze_table(settings.lake_root, source), times)
        quarantined = table(lake.landing_quarantine_table(other.lake_root), times)
        assert quarantined == table(lake.landing_quarantine_table(settings.lake_root), times) and quarantined
        ledger = table(lake.landing_ledger_table(other.lake_root), ledger_times)
        assert ledger == table(lake.landing_ledger_table(settings.lake_root), ledger_times)


def test_land_jobs_must_be_a_whole_number_of_at_least_one(settings, run_cli):
    for wrong in ("0", "-1", "two"):
        done = run_cli(settings, "land", "--jobs", wrong)
        assert done.returncode == 2 and "--jobs" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr

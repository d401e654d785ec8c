"""What a failed gate holds, end to end through the command line: `quality held` says what and why, a green day
after does not hide it, `quality release` lets it flow with an audit record, `quality recheck` judges it again
after the suite is fixed (issue 20)."""

from __future__ import annotations

import json
import shutil

from deltalake import DeltaTable

from interaction_lake.cli import main
from interaction_lake.quality.suites import DEFAULT_DIR
from jobs.silver.build import silver_events_table
from tests.integration.jobs.bronze.test_gate import future_events

GOOD = {"event_id": "evt-good-1", "event_type": "ticket_issued", "schema_version": 1, "occurred_at": "2026-11-05T09:00:00Z",
        "source_system": "qmatic-branch", "customer_ref": "C00000001", "ticket_id": "BR001-20261105-0001", "branch_id": "BR001",
        "service_type": "cash"}


def _cli(settings, capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--lake", str(settings.lake_root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _land(settings, capsys, day: str, files: dict[str, str]) -> int:
    folder = settings.landing_root / "counter" / day
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    code = main(["land", "--lake", str(settings.lake_root), "--landing", str(settings.landing_root), "--source", "counter"])
    capsys.readouterr()
    return code


def _silver_event_ids(settings, capsys) -> set[str]:
    assert main(["build-silver", "--lake", str(settings.lake_root), "--landing", str(settings.landing_root), "--source", "counter"]) == 0
    capsys.readouterr()
    table = silver_events_table(settings.lake_root, "counter")
    return set(DeltaTable(str(table)).to_pyarrow_table(columns=["event_id"]).column(0).to_pylist())


def test_a_held_file_is_listed_with_why_stays_held_after_a_green_day_and_flows_once_released(spark, settings, capsys):
    assert _land(settings, capsys, "2026-11-05", {"a_good.jsonl": json.dumps(GOOD) + "\n", "b_future.jsonl": future_events(2)}) == 1
    code, out, _ = _cli(settings, capsys, "quality", "held")
    assert code == 0 and "1 held" in out
    [subject] = [line for line in out.splitlines() if line.startswith("  bronze/")]
    assert "b_future.jsonl" in subject and "whole batch" not in subject
    batch = subject.split(" batch ")[1].split()[0]
    assert "expect_column_values_to_be_between(_arrival_lag_hours): 2 of 2 unexpected" in out and "_source_file=b_future.jsonl" in out

    # The next day is green: the held file is still listed.
    next_day = dict(GOOD, event_id="evt-good-2", occurred_at="2026-11-06T09:00:00Z", ticket_id="BR001-20261106-0001")
    assert _land(settings, capsys, "2026-11-06", {"c_good.jsonl": json.dumps(next_day) + "\n"}) == 0
    assert "b_future.jsonl" in _cli(settings, capsys, "quality", "held")[1]
    summary = _cli(settings, capsys, "summary")[1]
    assert "HELD by the data-quality gates (1;" in summary and "b_future.jsonl" in summary
    assert not any(i.startswith("evt-future") for i in _silver_event_ids(settings, capsys))
    code = main(["build-marts", "--lake", str(settings.lake_root), "--landing", str(settings.landing_root)])
    assert code == 0, capsys.readouterr()
    report = settings.lake_root.parent / "report.html"
    assert _cli(settings, capsys, "report", "--out", str(report))[0] == 0
    page = report.read_text()
    assert "Held by the gates: excluded from every figure above until resolved (1)" in page and "b_future.jsonl" in page

    code, _, err = _cli(settings, capsys, "quality", "release", "--batch", "no-such-batch", "--reason", "x")
    assert code == 2 and "is not held" in err and len(err.strip().splitlines()) == 1
    code, out, _ = _cli(settings, capsys, "quality", "release", "--batch", batch, "--file", "b_future.jsonl",
                        "--reason", "branch clock fixed; the times are right to the hour")
    assert code == 0 and "released bronze/counter_events" in out
    assert _cli(settings, capsys, "quality", "held")[1].startswith("nothing is held")
    assert "HELD" not in _cli(settings, capsys, "summary")[1]
    assert {"evt-future-0", "evt-future-1"} <= _silver_event_ids(settings, capsys)

    [record] = [r for r in DeltaTable(str(settings.lake_root / "_system" / "quality_results")).to_pyarrow_table().to_pylist()
                if r["expectation"] == "manual_release"]
    assert record["batch_id"] == batch and record["source_file"].endswith("b_future.jsonl") and record["gate_passed"]
    assert record["scope"].startswith("released by ") and record["scope"].endswith(": branch clock fixed; the times are right to the hour")


def test_recheck_after_a_suite_fix_releases_what_now_passes_and_keeps_what_still_fails(spark, settings, capsys, tmp_path, monkeypatch):
    assert _land(settings, capsys, "2026-11-05", {"future.jsonl": future_events(3)}) == 1
    code, out, _ = _cli(settings, capsys, "quality", "held")
    assert "(whole batch)" in out

    code, out, err = _cli(settings, capsys, "quality", "recheck")  # same suite, same data: still held
    assert code == 1 and "FAILED" in out and "(whole batch)" in _cli(settings, capsys, "quality", "held")[1]

    suites = tmp_path / "expectations"
    shutil.copytree(DEFAULT_DIR, suites)
    path = suites / "bronze" / "counter_events.json"
    spec = json.loads(path.read_text())
    for e in spec["expectations"]:
        if e["kwargs"].get("column") == "_arrival_lag_hours" and "min_value" in e["kwargs"]:
            e["kwargs"]["min_value"] = -4  # this bank's branch clocks run up to four hours ahead
    path.write_text(json.dumps(spec))
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    code, out, _ = _cli(settings, capsys, "quality", "recheck")
    assert code == 0 and "passed" in out
    assert _cli(settings, capsys, "quality", "held")[1].startswith("nothing is held")
    assert {"evt-future-0", "evt-future-1", "evt-future-2"} <= _silver_event_ids(settings, capsys)


def test_release_says_what_it_needs(settings, capsys):
    assert _cli(settings, capsys, "quality", "release", "--reason", "x")[0] == 2
    code, _, err = _cli(settings, capsys, "quality", "release", "--table", "call", "--file", "f", "--reason", "x")
    assert code == 2 and "--file needs the --batch" in err

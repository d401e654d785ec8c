"""The gate core on the real engine: error vs warn, results persisted in Delta and readable by DuckDB, Data Docs rendered."""

from __future__ import annotations

import json

import duckdb
from deltalake import DeltaTable

from interaction_lake.quality.gate import data_docs_index, latest_verdicts, render_data_docs, results_table, validate


def write_suite(root, expectations):
    (root / "silver").mkdir(parents=True, exist_ok=True)
    (root / "silver" / "call.json").write_text(json.dumps({"name": "silver.call", "expectations": expectations}))


def expectation(kind, severity, **kwargs):
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": severity}}


def test_warn_records_and_passes_error_fails_and_everything_is_kept(spark, settings, tmp_path, monkeypatch):
    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    frame = spark.createDataFrame([("c1", 10.0), ("c2", 30.0), ("c2", -5.0)], "call_id string, queue_wait_seconds double")

    write_suite(suites, [expectation("expect_column_values_to_be_unique", "warn", column="call_id"),
                         expectation("expect_column_values_to_be_between", "error", column="queue_wait_seconds", min_value=-10)])
    warned = validate(spark, settings.lake_root, "silver", "call", frame, "run-warn", table_version=3)
    render_data_docs(settings.lake_root, [warned])
    assert warned.passed and warned.warnings == ["expect_column_values_to_be_unique(call_id)"] and not warned.errors

    write_suite(suites, [expectation("expect_column_values_to_be_unique", "warn", column="call_id"),
                         expectation("expect_column_values_to_be_between", "error", column="queue_wait_seconds", min_value=0)])
    failed = validate(spark, settings.lake_root, "silver", "call", frame, "run-error", table_version=4)
    render_data_docs(settings.lake_root, [failed])
    assert not failed.passed and failed.errors == ["expect_column_values_to_be_between(queue_wait_seconds)"]

    results = DeltaTable(str(results_table(settings.lake_root))).to_pyarrow_table()  # noqa: F841 (DuckDB reads it by name)
    rows = duckdb.sql("select run_id, table_version, expectation, severity, success, unexpected_count, element_count, gate_passed "
                      "from results order by run_id, expectation").fetchall()
    assert rows == [
        ("run-error", 4, "expect_column_values_to_be_between", "error", False, 1, 3, False),
        ("run-error", 4, "expect_column_values_to_be_unique", "warn", False, 2, 3, False),
        ("run-warn", 3, "expect_column_values_to_be_between", "error", True, 0, 3, True),
        ("run-warn", 3, "expect_column_values_to_be_unique", "warn", False, 2, 3, True),
    ]
    verdicts = {v.table_version: v.passed for v in latest_verdicts(spark, settings.lake_root, "silver", "call")}
    assert verdicts == {3: True, 4: False}

    index = data_docs_index(settings.lake_root)
    assert index.is_file() and "silver.call" in index.read_text()
    pages = list(index.parent.glob("validations/**/*.html"))
    assert len(pages) == 2


def test_a_later_process_validates_against_the_project_an_earlier_one_saved(spark, settings, tmp_path, monkeypatch):
    """Each scheduled task is a new process that finds the GX project the previous ones left in the lake."""
    import subprocess
    import sys

    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    write_suite(suites, [expectation("expect_column_values_to_be_between", "error", column="queue_wait_seconds", min_value=0)])
    frame = spark.createDataFrame([("c1", 10.0)], "call_id string, queue_wait_seconds double")
    assert validate(spark, settings.lake_root, "silver", "call", frame, "run-1", table_version=1).passed

    later = (
        "import sys; from interaction_lake.engine import get_spark; from interaction_lake.quality.gate import validate\n"
        "spark = get_spark()\n"
        "frame = spark.createDataFrame([('c2', 20.0), ('c3', -1.0)], 'call_id string, queue_wait_seconds double')\n"
        f"outcome = validate(spark, {str(settings.lake_root)!r}, 'silver', 'call', frame, 'run-2', table_version=2)\n"
        "print(outcome.errors); sys.exit(0 if outcome.errors == ['expect_column_values_to_be_between(queue_wait_seconds)'] else 3)\n"
    )
    child = subprocess.run([sys.executable, "-c", later], capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-3000:]
    runs = {r["run_id"] for r in DeltaTable(str(results_table(settings.lake_root))).to_pyarrow_table().to_pylist()}
    assert runs == {"run-1", "run-2"}


def test_data_docs_keep_the_newest_validations_and_quality_results_keep_all(spark, settings, tmp_path, monkeypatch):
    """Bounded Data Docs: GX rebuilds its index from every stored result, so an unbounded store makes each gate slower every day."""
    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    monkeypatch.setenv("INTERACTION_LAKE_DATA_DOCS_KEEP", "2")
    write_suite(suites, [expectation("expect_column_values_to_be_unique", "error", column="call_id")])
    frame = spark.createDataFrame([("c1",), ("c2",)], "call_id string")
    for n in range(4):
        render_data_docs(settings.lake_root, [validate(spark, settings.lake_root, "silver", "call", frame, f"run-{n}", table_version=n)])
    index = data_docs_index(settings.lake_root)
    pages = sorted(str(p) for p in index.parent.glob("validations/**/*.html"))
    assert len(pages) == 2 and "run-3" in pages[-1] and not any("run-0" in p or "run-1" in p for p in pages)
    assert "run-0" not in index.read_text() and "run-3" in index.read_text()
    assert sorted(r["run_id"] for r in DeltaTable(str(results_table(settings.lake_root))).to_pyarrow_table().to_pylist()) == [
        "run-0", "run-1", "run-2", "run-3"]


def test_pruning_deletes_the_pages_of_the_results_it_drops(spark, settings, tmp_path, monkeypatch):
    """Pruning itself removes a dropped result's page, in the working copy and the lake's copy (on an object store no
    later render cleans the lake's); a page's name is the suite's batch name plus .html (``...-silver.call.html``)."""
    from interaction_lake.quality.gate import _context, prune_data_docs

    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    write_suite(suites, [expectation("expect_column_values_to_be_unique", "error", column="call_id")])
    frame = spark.createDataFrame([("c1",), ("c2",)], "call_id string")
    render_data_docs(settings.lake_root, [validate(spark, settings.lake_root, "silver", "call", frame, f"run-{n}") for n in range(3)])
    site = data_docs_index(settings.lake_root).parent
    assert len(list(site.glob("validations/**/*.html"))) == 3
    assert prune_data_docs(_context(settings.lake_root), settings.lake_root, 1) == 2
    assert [p.name for p in site.glob("validations/**/*.html")] == ["interaction_lake-silver.call.html"]


def test_a_stage_s_verdicts_are_recorded_against_the_suite_they_were_computed_from(spark, settings, tmp_path, monkeypatch):
    """``evaluate_stage`` reads each suite file once and ``validate`` records its results as computed, even if the file
    changed between the two: a verdict never mixes the expectations of two versions of a suite."""
    from interaction_lake.quality.gate import evaluate_stage

    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    monkeypatch.setenv("INTERACTION_LAKE_GATE_EVALUATOR", "compiled")
    frame = spark.createDataFrame([("c1", 10.0), ("c2", -5.0)], "call_id string, queue_wait_seconds double")
    write_suite(suites, [expectation("expect_column_values_to_be_between", "error", column="queue_wait_seconds", min_value=0)])
    [evaluated] = evaluate_stage("silver", [(frame, "call")])
    write_suite(suites, [expectation("expect_column_values_to_be_unique", "warn", column="call_id")])  # edited meanwhile
    outcome = validate(spark, settings.lake_root, "silver", "call", frame, "run-1", table_version=1, evaluated=evaluated)
    assert not outcome.passed and outcome.errors == ["expect_column_values_to_be_between(queue_wait_seconds)"]
    recorded = DeltaTable(str(results_table(settings.lake_root))).to_pyarrow_table().to_pylist()
    assert [(r["expectation"], r["severity"], r["success"]) for r in recorded] == [("expect_column_values_to_be_between", "error", False)]

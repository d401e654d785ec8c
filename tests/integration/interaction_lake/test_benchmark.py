"""The end-to-end benchmark, run small: every stage and gate day by day, figures that reconcile with the lake.

Only that it runs and counts right is checked here; its timings are printed by ``make bench``, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.cli import main
from interaction_lake.generator import SOURCES


def test_the_benchmark_delivers_day_by_day_and_its_figures_reconcile(tmp_path, capsys):
    from interaction_lake import engine

    out, work = tmp_path / "bench.json", tmp_path / "work"
    owned = not engine.running()  # the bench renews only an engine it started: never the tests' own session
    assert main(["bench", "--customers", "300", "--days", "2", "--start", "2026-10-01", "--out", str(out), "--workdir", str(work)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["days_done"] == 2 and [d["day"] for d in result["per_day"]] == ["2026-10-01", "2026-10-02"]
    assert all(d["gates_failed"] == [] for d in result["per_day"])
    assert all(0 < d["cpu_s"] for d in result["per_day"]) and result["last_over_day2_cpu_per_event"] == 1.0
    landed = sum(DeltaTable(str(lake.bronze_table(work / "lake", s))).to_pyarrow_table().num_rows for s in SOURCES)
    assert sum(d["events_landed"] for d in result["per_day"]) == landed > 0
    quarantined = DeltaTable(str(lake.landing_quarantine_table(work / "lake"))).to_pyarrow_table().num_rows
    assert landed + quarantined == result["events"]  # every generated record landed or was quarantined, once
    assert set(result["flatness"]) == {"1", "2"} and result["last_over_day2_per_event"] == 1.0
    # each day's host-speed probe ran, in this process and in the engine, and the last day (day 2) is day 2 at any speed
    assert all(d["host_probe_s"]["python_s"] > 0 and d["host_probe_s"]["engine_s"] > 0 for d in result["per_day"])
    assert result["last_over_day2_per_event_host_adjusted"] == 1.0 and "day 2's host speed" in printed
    assert set(result["flatness"]["2"]["stages_per_1k_events"]) == {"land_s", "bronze_gate_s", "silver_s", "silver_gate_s", "gold_s",
                                                                    "gold_gate_s", "data_docs_s"}
    assert result["peak_memory_mb"] > 0 and "flatness" in printed and "landing:" in printed
    # each day's own peak (not the process's so far), each stage on a renewed engine (engine.renewed)
    assert all(0 < d["peak_memory_mb"] <= result["peak_memory_mb"] for d in result["per_day"])
    assert all(("engine_renewed_s" in d) == owned for d in result["per_day"])  # day 1's later stages too
    # an engine the bench started serves from a child process, whose own peak is counted in the day's
    assert all((0 < d["server_peak_memory_mb"] < d["peak_memory_mb"]) == owned for d in result["per_day"])
    # ... measured stage by stage, each stage on a server of its own: the day's peak is the highest of its stages'
    assert all(set(d["server_peak_memory_mb_by_stage"]) == {"land", "bronze_gate", "silver", "silver_gate", "gold", "data_docs"}
               and max(d["server_peak_memory_mb_by_stage"].values()) == d["server_peak_memory_mb"] for d in result["per_day"])
    # ... and this process's too: the day's peak is the highest of this process's stages' and of the server's
    assert all(set(d["process_peak_memory_mb_by_stage"]) == set(d["server_peak_memory_mb_by_stage"])
               and min(d["process_peak_memory_mb_by_stage"].values()) > 0
               and d["peak_memory_mb"] == max(d["process_peak_memory_mb_by_stage"].values()) + d["server_peak_memory_mb"]
               for d in result["per_day"])
    assert all(d["engine_servers"] == 6 * int(owned) for d in result["per_day"])
    assert engine.running()
    assert DeltaTable(str(lake.table_path(work / "lake", "gold", "customer_value"))).to_pyarrow_table().num_rows > 0
    # the files already sent, run again: the bank is the one they were generated for, whatever --events would size; only
    # the first --days of their day folders; a day's stages on one engine (--engine-per-day), the same work done. In a
    # process of its own: the bench renews only an engine it started, and this process's may be the tests' session
    again = tmp_path / "again.json"
    code = "import sys; from interaction_lake.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "bench", "--sent", str(work / "sent"), "--days", "1", "--start", "2026-10-01",
                           "--out", str(again), "--engine-per-day"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "INTERACTION_LAKE_ENGINE": "embedded"})
    assert done.returncode == 0, done.stderr[-3000:]
    rerun = json.loads(again.read_text())
    assert rerun["customers"] == 300 and result["customers"] == 300
    assert rerun["days"] == 1 and [d["day"] for d in rerun["per_day"]] == ["2026-10-01"]
    assert [d["engine_servers"] for d in rerun["per_day"]] == [1]
    assert [d["events_landed"] for d in rerun["per_day"]] == [result["per_day"][0]["events_landed"]]
    assert all(d["gates_failed"] == [] and d["cpu_s"] > 0 for d in rerun["per_day"])


def test_without_a_workdir_the_benchmark_leaves_nothing_behind(tmp_path, monkeypatch):
    """Its temporary lake, landing and generated files are removed, whether the run ends well or not."""
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where mkdtemp makes its folders
    assert main(["bench", "--customers", "40", "--days", "1", "--start", "2026-10-01", "--out", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["days_done"] == 1
    assert list(scratch.iterdir()) == []
    with pytest.raises(Exception):  # a run that stops half-way (here: no such sent folder) cleans up too
        main(["bench", "--sent", str(tmp_path / "missing"), "--days", "1", "--out", str(tmp_path / "c.json")])
    assert list(scratch.iterdir()) == []


@pytest.mark.spark
@pytest.mark.skipif(os.environ.get("INTERACTION_LAKE_CONFORMANCE") != "full",
                    reason="classic Spark takes ~4 minutes a small day on 2 cores (JVM start and cold JIT on every job); "
                           "runs under 'make test-spark' beside the classic conformance scenario")
def test_both_engines_run_the_same_days_side_by_side_into_equal_marts(tmp_path, monkeypatch):
    """``bench --engine both``: the same files through the embedded engine and Apache Spark + delta-spark, one process
    each, compared day by day and stage by stage; the two lakes' marts are equal (one pseudonym secret for both)."""
    from tests.integration.dags.test_chain import gold

    monkeypatch.setenv("INTERACTION_LAKE_PSEUDONYM_SECRET", "bench-both-engines")
    out, work = tmp_path / "both.json", tmp_path / "work"
    assert main(["bench", "--engine", "both", "--customers", "200", "--days", "2", "--start", "2026-10-01", "--out", str(out),
                 "--workdir", str(work)]) == 0
    result = json.loads(out.read_text())
    assert {name: r["engine"] for name, r in result["engines"].items()} == {"embedded": "embedded", "spark": "spark"}
    compared = result["side_by_side"]
    assert compared["same_events_landed"] and [d["day"] for d in compared["per_day"]] == ["2026-10-01", "2026-10-02"]
    assert all(d["total_s"]["spark_over_embedded"] > 0 for d in compared["per_day"]) and compared["startup_s"]["spark"] > 0
    assert all(r["per_day"][-1]["gates_failed"] == [] for r in result["engines"].values())
    assert gold(work / "embedded" / "lake") == gold(work / "spark" / "lake")


def test_the_landing_anchors_read_the_records_landing_accepts_from_the_same_files(tmp_path):
    """bench/landing_anchors.py, as ``bench --compare-classic`` runs it: every anchor reads the same records (those the
    contracts accept), the hostile ones the generator sends are counted as left out, and the ratios are the anchors'
    events/s over landing's."""
    import subprocess
    import sys

    from interaction_lake.benchmark import landing_anchors

    sent = tmp_path / "sent"
    subprocess.run([sys.executable, "-m", "interaction_lake", "generate", "--customers", "60", "--days", "2", "--seed", "3",
                    "--start", "2026-10-01", "--out", str(sent)], check=True, stdout=subprocess.DEVNULL)
    anchors = landing_anchors(sent, landing_events_per_s=1000.0)
    names = ("python_json_parse", "pyarrow_read_write_parquet", "embedded_read_with_contract_schema_to_delta")
    assert all("error" not in anchors[name] for name in names), anchors
    read = {anchors[name]["records"] for name in names}
    assert len(read) == 1 and read.pop() > 0
    assert anchors["records_left_out"] > 0  # the generator's hostile records: no anchor could read them
    landed = {anchors[name].get("records") for name in ("landing_all_at_once", "landing_all_at_once_every_core")}
    assert len(landed) == 1 and landed.pop() > 0, anchors  # one process or a process per source: the same records
    for name in names:
        assert anchors[name]["anchor_over_landing"] == round(anchors[name]["events_per_s"] / 1000.0, 1)


def test_the_airflow_task_benchmark_runs_the_day_three_ways_and_preloaded_tasks_import_no_heavy_library(tmp_path):
    """bench/airflow_tasks.py (``make bench-airflow``) on a small bank, once: every task of an ordinary day succeeds in
    each way (a failed task ends the script), and each task forked from a worker with Airflow only imports pandas, numpy,
    the OpenLineage client and the project itself, where a task forked from the preloaded worker imports none of them
    (interaction_lake/airflow_preload.py)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    out = tmp_path / "airflow-tasks.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "airflow_tasks.py"), "--customers", "80", "--repeat", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-8000:]  # the failed worker's traceback end, whole (the rerun policy reads it)
    result = json.loads(out.read_text())
    forked, preloaded = result["forked"]["tasks"], result["preloaded"]["tasks"]
    assert len(forked) == 2 * len(SOURCES) + 4 and set(preloaded) == set(forked)
    heavy = {"numpy", "pandas", "openlineage", "interaction_lake"}
    assert all(heavy <= set(task["imported"]) for task in forked.values()), forked
    assert all(not heavy & set(task["imported"]) for task in preloaded.values()), preloaded
    assert 0 < result["preloaded"]["total_s"] and 0 < result["forked"]["total_s"]

"""The lake on an S3-compatible object store (issue 18 §4): the conformance scenario -- landing, silver, every mart,
the gates, a rerun, ``audit trace`` and ``audit as-of``, an erasure with VACUUM -- run on the embedded engine with
the lake under ``s3://`` on a real S3 server (moto, on loopback) gives the rows the same run gives on local disk;
two landers started at once on that lake take turns through the lease lock and land every file once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from deltalake import DeltaTable

from interaction_lake.lake import arrow
from interaction_lake.storage import location
from tests.integration.conformance.capability_probe import probe
from tests.integration.conformance.runs import SECRET, finish, same_lakes, start
from tests.integration.servers import s3_server

pytestmark = pytest.mark.integration  # the Spark runs below are marked spark as well


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with s3_server() as server:
        yield server


@pytest.fixture
def s3_env(store, monkeypatch, tmp_path):
    """This process reads the store too (delta-rs and s3fs take the same variables)."""
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    return {**store.env, "INTERACTION_LAKE_QUALITY_DIR": str(tmp_path / "quality")}


def test_the_scenario_on_an_s3_lake_leaves_the_rows_it_leaves_on_local_disk(bank, embedded_lake, store, s3_env):
    lake = store.bucket("conformance") + "/lake"
    work = finish(*start(bank, "s3", lake=lake, INTERACTION_LAKE_ENGINE="embedded",
                         INTERACTION_LAKE_GATE_EVALUATOR="great_expectations", **s3_env))
    same_lakes(embedded_lake(), work, right_lake=location(lake))
    # the Data Docs the gates rendered are in the lake, and the erasure left no lock held
    assert (location(lake) / "_system/quality/gx/uncommitted/data_docs/local_site/index.html").is_file()
    leases = [p for p in (location(lake) / "_system/locks").rglob("*.lease")]
    assert leases and all('"released": true' in p.read_text() for p in leases)


def test_two_landers_at_once_on_an_s3_lake_land_every_file_once(bank, store, s3_env, tmp_path):
    lake = store.bucket("landers") + "/lake"
    landing = tmp_path / "landing"
    subprocess.run(["cp", "-r", str(bank / "landing"), str(landing)], check=True)
    env = {**os.environ, **s3_env, "INTERACTION_LAKE_PSEUDONYM_SECRET": SECRET, "INTERACTION_LAKE_PROGRESS": "0",
           "INTERACTION_LAKE_ENGINE": "embedded"}
    command = [sys.executable, "-m", "interaction_lake", "land", "--source", "counter", "--lake", lake, "--landing", str(landing)]
    landers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in landers]
    assert [p.returncode for p in landers] == [0, 0], outputs
    ledger = arrow(DeltaTable(f"{lake}/_system/landing_ledger")).to_pylist()
    committed = Counter(e["file_path"] for e in ledger if e["source"] == "counter" and e["status"] == "committed")
    files = {str(p) for p in (landing / "counter").rglob("*") if p.is_file()}
    assert set(committed) <= files and committed and max(committed.values()) == 1
    bronze = arrow(DeltaTable(f"{lake}/bronze/counter_events"), columns=["_source_file", "_line_number"]).to_pylist()
    assert len(bronze) == len({(r["_source_file"], r["_line_number"]) for r in bronze})  # no record landed twice


def test_each_capability_test_passes_on_an_s3_lake_on_the_embedded_engine(store):
    passed = probe("embedded", store.bucket("capabilities"), env=store.env)
    assert len(passed) >= 3, passed


WRITER = """
import sys
from interaction_lake import lake, storage
from interaction_lake.config import Settings
from interaction_lake.engine import get_spark

engine, table, writer, commits = sys.argv[1], storage.location(sys.argv[2]), sys.argv[3], int(sys.argv[4])
spark = get_spark(Settings(engine=engine, spark_master="local[1]"))
for i in range(commits):
    lake.append(spark.createDataFrame([(writer, i)], "writer string, i int"), table, {"job": "test", "writer": writer})
"""


def _two_writers_at_once(engine: str, store, commits: int) -> None:
    """Two processes append ``commits`` times each to one table on the S3 server at once: every commit's row is there,
    one version per commit (``capabilities.exclusive_commits_on_object_stores``, else ``lake.committing``'s lease)."""
    table = store.bucket(f"writers-{engine}") + "/lake/bronze/shared"
    env = {**os.environ, **store.env, "PYSPARK_PYTHON": sys.executable}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, engine, table, name, str(commits)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for name in ("a", "b")]
    outputs = [w.communicate(timeout=900)[0] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [o[-3000:] for o in outputs]
    rows = arrow(DeltaTable(table, storage_options=store.env)).to_pylist()
    assert sorted((r["writer"], r["i"]) for r in rows) == [(w, i) for w in ("a", "b") for i in range(commits)]
    assert DeltaTable(table, storage_options=store.env).version() == 2 * commits - 1


def test_two_embedded_engines_committing_to_one_s3_table_at_once_lose_nothing(store):
    _two_writers_at_once("embedded", store, commits=12)


@pytest.mark.spark
@pytest.mark.skipif(os.environ.get("INTERACTION_LAKE_CONFORMANCE") != "full",
                    reason="two Spark drivers (two JVMs) on 2 cores: under 'make test-spark'")
def test_two_spark_drivers_committing_to_one_s3_table_at_once_lose_nothing(store):
    _two_writers_at_once("spark", store, commits=6)


@pytest.mark.spark
@pytest.mark.skipif(os.environ.get("INTERACTION_LAKE_CONFORMANCE") != "full",
                    reason="the scenario on classic Spark takes ~14 min on 2 cores: under 'make test-spark'")
def test_the_scenario_on_classic_spark_on_an_s3_lake_leaves_the_rows_it_leaves_on_local_disk(bank, embedded_lake, store, s3_env):
    lake = store.bucket("spark-conformance") + "/lake"
    work = finish(*start(bank, "spark-s3", lake=lake, INTERACTION_LAKE_ENGINE="spark", INTERACTION_LAKE_SPARK_MASTER="local[2]", **s3_env))
    same_lakes(embedded_lake(), work, right_lake=location(lake))


HOLDER = """
import os, sys, time
from interaction_lake.locks import exclusive
root, log, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    with exclusive(root, "gold", timeout_seconds=120):
        with open(log, "a") as handle:
            handle.write(f"enter {os.getpid()}\\n")
        time.sleep(0.05)
        with open(log, "a") as handle:
            handle.write(f"exit {os.getpid()}\\n")
"""


def test_runs_contending_for_a_lease_on_s3_hold_it_one_at_a_time(store, tmp_path):
    """Three processes take and release one lease six times each, with renewals (a short lease): every holder leaves
    before the next enters."""
    root, log = store.bucket("leases") + "/lake", tmp_path / "holders.log"
    env = {**os.environ, **store.env, "INTERACTION_LAKE_LOCK_LEASE_SECONDS": "1"}
    holders = [subprocess.Popen([sys.executable, "-c", HOLDER, root, str(log), "6"], env=env, stderr=subprocess.PIPE, text=True)
               for _ in range(3)]
    errors = [h.communicate(timeout=600)[1] for h in holders]
    assert [h.returncode for h in holders] == [0, 0, 0], errors
    events = [line.split() for line in log.read_text().splitlines()]
    assert len(events) == 36
    assert all(enter[0] == "enter" and leave == ["exit", enter[1]] for enter, leave in zip(events[::2], events[1::2])), events

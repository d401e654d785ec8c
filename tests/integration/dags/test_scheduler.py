"""The DAGs as a bank runs them: Airflow's own scheduler, DAG processor, triggerer and API server with the LocalExecutor
on a PostgreSQL metadata database (Debian's server on loopback), started by ``make airflow-ui`` -- not ``dag.test()``.

1. Unpaused, the landing DAGs get their daily run at once and land in parallel; their bronze Assets fire the silver
   DAG, whose Asset fires the marts: the marts equal those built from the same files without Airflow. The UI's
   login works and every DAG parses; a run past its Deadline Alert (Airflow 3's successor of SLAs) alerts a webhook.
   The task processes were forked from the scheduler's forkserver, which preloaded what they import.
2. Two more days of counter files arrive; ``airflow backfill create`` of its landing DAG over those days gives the
   marts built from all the files.
3. A file that fails counter's bronze gate: the task fails once, and neither silver nor the marts run. These tasks use
   the Apache Spark engine (classic, delta-spark) on the lake the embedded engine wrote. (The whole pipeline on a
   Spark standalone cluster through Spark Connect is the conformance test's, tests/integration/conformance; here it
   ran too, and took five minutes of a two-core machine's CI for what the conformance test already shows.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy
from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.config import Settings
from interaction_lake.generator import SOURCES, generate
from interaction_lake.generator.deliveries import days_of, deliver
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold
from jobs.silver.build import build_silver
from tests.conftest import REPO
from tests.integration.dags.airflow_server import airflow_ui, cli_environment, forkserver, wait_for
from tests.integration.dags.faults import deliver_a_file_the_bronze_gate_fails
from tests.integration.dags.test_chain import SECRET, START, gold
from tests.integration.servers import postgres, smtp_and_webhook

pytestmark = pytest.mark.spark  # the backfill's tasks run Apache Spark
LANDING_DAGS = [f"land_{s}" for s in SOURCES]


def runs(db: sqlalchemy.Engine, where: str = "TRUE") -> list[dict]:
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(sqlalchemy.text(
            f"SELECT dag_id, run_id, run_type, state, start_date, end_date FROM dag_run WHERE {where} ORDER BY id"))]


def settled(db: sqlalchemy.Engine, expected: dict[str, int]) -> bool:
    """Every DAG has at least ``expected[dag]`` finished runs, none is queued or running, and no Asset event waits to
    start one (the chain has come to rest)."""
    with db.connect() as c:
        if c.execute(sqlalchemy.text("SELECT count(*) FROM asset_dag_run_queue")).scalar():
            return False
    done: dict[str, int] = {}
    for r in runs(db):
        if r["state"] in ("queued", "running"):
            return False
        done[r["dag_id"]] = done.get(r["dag_id"], 0) + 1
    return all(done.get(dag, 0) >= n for dag, n in expected.items())


def reference(spark, sent: Path, lake_root: Path) -> dict:
    """The marts built from the same files in one go, without Airflow (embedded engine, in this process)."""
    direct = Settings().with_paths(lake_root=lake_root, landing_root=sent)
    for source in SOURCES:
        land_source(spark, direct, source, "direct")
    build_silver(spark, direct, "direct")
    build_gold(spark, direct, "direct")
    return gold(lake_root)


def test_the_scheduler_runs_the_chain_backfills_and_stops_at_a_failed_gate(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_PSEUDONYM_SECRET", SECRET)
    sent, settings = tmp_path / "sent", Settings().with_paths(lake_root=tmp_path / "lake", landing_root=tmp_path / "landing")
    generate(sent, customers=200, days=3, seed=8, start=START, fault_rate=0.0)
    days = days_of(sent)
    late = ("counter",)  # the source whose later days arrive and are backfilled (one: Spark on two cores is slow)
    deliver(sent, settings.landing_root, days[0])
    with postgres() as url, smtp_and_webhook() as (received, connections):
        db = sqlalchemy.create_engine(url)
        env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
               "INTERACTION_LAKE_LAKE_ROOT": str(settings.lake_root), "INTERACTION_LAKE_LANDING_ROOT": str(settings.landing_root),
               "INTERACTION_LAKE_PSEUDONYM_SECRET": SECRET, "INTERACTION_LAKE_PROGRESS": "0", **connections}
        home = tmp_path / "airflow"

        # 1. The first day: every landing DAG at once, the Asset chain, a deadline alert (three seconds after queueing).
        with airflow_ui(home, {**env, "INTERACTION_LAKE_DEADLINE_MINUTES": "0.05"}, tmp_path / "first.log"):
            wait_for(lambda: settled(db, {**dict.fromkeys(LANDING_DAGS, 1), "silver": 1, "marts": 1}), 420, "the chain's first day")
            marts_runs = {r["run_id"] for r in runs(db, "dag_id = 'marts'")}  # one per silver run: as landings finish
            wait_for(lambda: [a for _, b in received.posts for a in b["alerts"]
                              if a["kind"] == "deadline_missed" and a["dag_id"] == "marts" and a["run_id"] in marts_runs],
                     120, "a deadline alert of the marts")
            # The tasks were forked from a worker of the scheduler's forkserver, which had imported what they need
            # (interaction_lake/airflow_preload.py): the Spark Connect client's Arrow and the contracts' validator.
            preloading = forkserver(home)
            assert preloading and "interaction_lake.airflow_preload" in preloading["command"], preloading
            assert "/pyarrow/libarrow.so" in preloading["maps"] and "jsonschema_rs" in preloading["maps"]
        assert {(r["dag_id"], r["state"]) for r in runs(db)} == {(dag, "success") for dag in (*LANDING_DAGS, "silver", "marts")}
        assert {r["run_type"] for r in runs(db, "dag_id = 'silver' OR dag_id = 'marts'")} == {"asset_triggered"}
        with db.connect() as c:  # each landing DAG's first run (a run that crosses midnight UTC also gets the new day's)
            lands = c.execute(sqlalchemy.text(
                "SELECT t.start_date, t.end_date FROM task_instance t JOIN dag_run r ON r.dag_id = t.dag_id AND r.run_id = t.run_id "
                "WHERE t.task_id = 'land' AND r.id = (SELECT min(id) FROM dag_run WHERE dag_id = t.dag_id)")).all()
        assert len(lands) == len(SOURCES) and max(s for s, _ in lands) < min(e for _, e in lands)  # all five at once
        deliver(sent, tmp_path / "first_day", days[0])
        assert gold(settings.lake_root) == reference(spark, tmp_path / "first_day", tmp_path / "reference_1")

        # 2. Days 2 and 3 of counter visits arrive; a backfill of its landing DAG over those days.
        for day in days[1:]:
            deliver(sent, settings.landing_root, day, late)
            deliver(sent, tmp_path / "first_day", day, late)
        everything = reference(spark, tmp_path / "first_day", tmp_path / "reference_2")
        with airflow_ui(home, env, tmp_path / "backfill.log"):
            for source in late:
                created = subprocess.run([str(REPO / ".venv/bin/airflow"), "backfill", "create", "--dag-id", f"land_{source}",
                                          "--from-date", days[1], "--to-date", days[2], "--max-active-runs", "1"],
                                         env=cli_environment(home, env), capture_output=True, text=True, timeout=300)
                assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
            wait_for(lambda: len(runs(db, "run_type = 'backfill'")) == 2 * len(late) and settled(db, {"marts": 2}), 600,
                     "the backfill and the chain after it")
        assert {r["state"] for r in runs(db, "run_type = 'backfill'")} == {"success"}
        assert gold(settings.lake_root) == everything

        # 3. A file that fails counter's bronze gate; the tasks on Apache Spark (classic, delta-spark, a JVM per task).
        deliver_a_file_the_bronze_gate_fails(settings.landing_root)
        before = {dag: len(runs(db, f"dag_id = '{dag}'")) for dag in ("silver", "marts")}
        spark_env = {**env, "INTERACTION_LAKE_ENGINE": "spark", "INTERACTION_LAKE_SPARK_MASTER": "local[1]"}
        with airflow_ui(home, spark_env, tmp_path / "failed.log") as api:
            run = api.post("dags/land_counter/dagRuns", {"logical_date": None})
            wait_for(lambda: runs(db, f"run_id = '{run['dag_run_id']}' AND state = 'failed'"), 300, "the failed landing run")
            with db.connect() as c:
                tries = dict(c.execute(sqlalchemy.text("SELECT task_id, state || ' ' || try_number FROM task_instance "
                                                       "WHERE run_id = :run"), {"run": run["dag_run_id"]}).all())
            assert tries == {"land": "success 1", "gate_bronze": "failed 1"}  # a failed gate is not retried: the data would not change
            wait_for(lambda: settled(db, {}), 60, "nothing running")
        [last] = DeltaTable(str(lake.landing_ledger_table(settings.lake_root))).history(1)
        assert last["engineInfo"].startswith("Apache-Spark/")  # the landing task wrote through Spark (Sail: sail-delta-lake)
        assert {dag: len(runs(db, f"dag_id = '{dag}'")) for dag in ("silver", "marts")} == before
        assert gold(settings.lake_root) == everything

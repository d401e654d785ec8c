"""DAG integrity: every file in dags/ imports under Airflow's own DagBag, and each DAG follows the house rules."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from interaction_lake.airflow_run import DAGS_FOLDER, chain_order, load_dags
from interaction_lake.generator import SOURCES


@pytest.fixture(scope="module")
def dags():
    return load_dags(DAGS_FOLDER)


def test_every_dag_file_imports_and_the_expected_dags_exist(dags):
    assert set(dags) == {f"land_{s}" for s in SOURCES} | {"silver", "marts"}


def test_house_rules(dags):
    for dag in dags.values():
        assert dag.owner == "data-platform", dag.dag_id
        assert "interaction-lake" in dag.tags and len(dag.tags) >= 2, dag.dag_id
        assert dag.start_date.utcoffset() == dt.timedelta(0), dag.dag_id
        assert dag.catchup is False, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert dag.description, dag.dag_id
        for task in dag.tasks:
            assert task.retries >= 1 and task.retry_exponential_backoff, f"{dag.dag_id}.{task.task_id}"
            assert task.execution_timeout and task.execution_timeout <= dt.timedelta(hours=6), f"{dag.dag_id}.{task.task_id}"
            assert task.doc_md and len(task.doc_md) > 40, f"{dag.dag_id}.{task.task_id} says what it does in the UI"
            assert task.on_failure_callback, f"{dag.dag_id}.{task.task_id} alerts when it fails"


def test_no_cycles_and_tasks_in_order(dags):
    for dag in dags.values():
        order = [t.task_id for t in dag.topological_sort()]  # raises on a cycle
        assert len(order) == len(dag.tasks)
    assert [t.task_id for t in dags["land_counter"].topological_sort()] == ["land", "gate_bronze"]
    assert [t.task_id for t in dags["silver"].topological_sort()] == ["build_silver", "gate_silver"]


def scheduled_on(dag) -> set[str]:
    """URIs of the Assets a DAG is scheduled on (one Asset, or any of several)."""
    condition = dag.timetable.asset_condition
    return {a.uri for a in getattr(condition, "objects", (condition,))}


def outlets(dag, task_id: str) -> set[str]:
    [task] = [t for t in dag.tasks if t.task_id == task_id]
    return {a.uri for a in task.outlets}


def test_assets_chain_landing_to_silver_to_marts(dags):
    """The gate task of each stage publishes the Asset the next stage is scheduled on."""
    published = set().union(*(outlets(dags[f"land_{s}"], "gate_bronze") for s in SOURCES))
    assert scheduled_on(dags["silver"]) == published and len(published) == len(SOURCES)
    assert scheduled_on(dags["marts"]) == outlets(dags["silver"], "gate_silver")
    assert outlets(dags["silver"], "build_silver") == set()  # silver is published only after its gate
    assert chain_order(dags)[-2:] == ["silver", "marts"]


def test_parsing_the_dag_files_imports_no_engine_client_nor_great_expectations():
    """Airflow's DAG processor parses each file again and again, in a process of its own: top-level code stays light.
    pyspark alone cost 0.4-0.6 s of every parse before the task bodies' imports moved into them."""
    code = ("import sys; from interaction_lake.airflow_run import DAGS_FOLDER, load_dags; load_dags(DAGS_FOLDER); "
            "print('heavy:', sorted(m for m in ('pyspark', 'numpy', 'pandas', 'great_expectations', 'jobs') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    [heavy] = [line for line in done.stdout.splitlines() if line.startswith("heavy:")]
    assert heavy == "heavy: []"

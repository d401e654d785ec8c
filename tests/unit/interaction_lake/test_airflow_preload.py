"""interaction_lake.airflow_preload: what the scheduler's forkserver imports once for every task process forked from it.

Under Airflow itself it is proven by tests/integration/dags/test_scheduler.py (the forkserver of the real scheduler has
it imported, and the chain runs); the share of start-up it saves is measured by bench/airflow_tasks.py."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from interaction_lake import orchestration
from interaction_lake.airflow_run import load_dags
from tests.conftest import REPO

pytestmark = pytest.mark.unit

PRELOADED = """
import gc, json, os, sys, threading
fds = set(os.listdir("/proc/self/fd"))
import interaction_lake.airflow_preload as preload
from interaction_lake import contracts, engine
print(json.dumps({"threads": threading.active_count(), "new_fds": sorted(set(os.listdir("/proc/self/fd")) - fds),
                  "session": engine.running(), "server": engine._embedded_server is not None,
                  "registry_loaded": contracts._registry.cache_info().currsize, "texts_checked": len(contracts._VALID_TEXTS),
                  "frozen": gc.get_freeze_count(), "modules": sorted(sys.modules), "task_modules": preload.TASK_MODULES}))
"""


@pytest.fixture(scope="module")
def preloaded() -> dict:
    """What a process holds once it has imported the preload (in a fresh interpreter, as the forkserver is)."""
    done = subprocess.run([sys.executable, "-c", PRELOADED], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_preload_only_imports_and_checks(preloaded):
    """Every task process is a fork of it: no thread of its own, no file or socket left open, no engine session or
    server, no contract loaded (a task reads schemas/ as it finds them); the contracts' texts are checked once."""
    assert preloaded["threads"] == 1
    assert preloaded["new_fds"] == []
    assert not preloaded["session"] and not preloaded["server"]
    assert preloaded["registry_loaded"] == 0
    assert preloaded["texts_checked"] == len(list((REPO / "schemas").rglob("*.json")))
    assert preloaded["frozen"] > 0  # out of the collector's passes, so that forks share its pages


def _imported_by(function: ast.FunctionDef) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_every_module_a_task_body_imports_is_preloaded(preloaded):
    """The task bodies import what they need when they run (the DAG files parse without it); each of those imports is
    already done in a task forked from the preload -- a task body that imports something new fails this until the
    preload has it too."""
    tree = ast.parse((REPO / "interaction_lake" / "orchestration.py").read_text())
    bodies = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    # every task's callable, from the DAGs themselves, and the two helpers each of them calls
    tasks = {task.python_callable.__name__ for dag in load_dags().values() for task in dag.tasks} | {"_task", "_fail_if"}
    assert {"land", "gate_bronze", "build_silver", "gate_silver", "build_marts", "data_docs"} < tasks <= set(bodies)
    assert all(callable(getattr(orchestration, name)) for name in tasks)
    wanted = set().union(*(_imported_by(bodies[name]) for name in tasks))
    assert {"jobs.bronze.land", "jobs.gold.build", "interaction_lake.quality.gate"} <= wanted
    assert sorted(wanted - set(preloaded["modules"])) == []
    assert set(preloaded["task_modules"]) <= set(preloaded["modules"])

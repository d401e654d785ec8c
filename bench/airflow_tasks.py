"""Airflow's task processes: the share of an ordinary day's task time that goes to process start-up.

    python bench/airflow_tasks.py [--sent DIR | --customers N] [--out bench/results/airflow-tasks.json]

Under Airflow's LocalExecutor every task runs in a process of its own, forked from a worker that has imported Airflow
and none of this project: the task parses its DAG file, imports what its body needs, starts an engine session, and
only then works. This script runs one ordinary day's chain -- each landing DAG's ``land`` and ``gate_bronze``,
``silver``'s ``build_silver`` and ``gate_silver``, ``marts``' ``build_marts`` and ``data_docs`` -- twice, on two copies
of the same lake (the first day landed and built before either):

1. as Airflow runs it: each task in a fresh process forked from this one, which has imported Airflow only; the child
   parses the task's DAG file with Airflow's ``DagBag`` and calls the task's callable with its arguments;
2. warm: every task in one process that imported every task body and started its engine session first.

A task's start-up is (1) less (2); printed with its share of (1), and written as JSON. Airflow's own work around a
task (the supervisor, the API server's state calls, log shipping) is in neither: this is the project's part, what
"import only what a task needs" can change. The day is the second day folder of ``--sent`` (the first is the initial
load) or of a bank generated with ``--customers``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
DAG_FILE = {"silver": "silver.py", "marts": "marts.py"}  # the landing DAGs: landing.py


def _chain() -> list[tuple[str, str]]:
    """(dag_id, task_id) of a day's tasks in the order the Assets run them: each enabled source's landing DAG (the
    registry, asked in a child: this process imports nothing of the project, as a LocalExecutor worker), then silver's
    and the marts'."""
    code = "from interaction_lake import sources; print(' '.join(sources.enabled()))"
    names = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return ([(f"land_{source}", task) for source in names for task in ("land", "gate_bronze")]
            + [("silver", "build_silver"), ("silver", "gate_silver"), ("marts", "build_marts"), ("marts", "data_docs")])


def _context(dag, task, day: dt.date) -> dict:
    """What the task bodies read of Airflow's context (``interaction_lake.orchestration``)."""
    logical = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    return {"dag": dag, "task": task, "run_id": f"bench__{day}", "ds": str(day), "logical_date": logical,
            "dag_run": types.SimpleNamespace(run_after=logical, logical_date=logical), "ti": types.SimpleNamespace(try_number=1)}


def _run_task(dag_id: str, task_id: str, day: dt.date) -> dict:
    """Parse the task's DAG file and call its callable, as a task process does; the seconds of each part."""
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / DAG_FILE.get(dag_id, "landing.py")))
    dag = bag.dags[dag_id]
    task = dag.get_task(task_id)
    parsed = time.perf_counter()
    task.python_callable(**task.op_kwargs, **_context(dag, task, day))
    return {"parse_s": parsed - started, "callable_s": time.perf_counter() - parsed, "total_s": time.perf_counter() - started}


def _forked(dag_id: str, task_id: str, day: dt.date, log: Path) -> dict:
    """``_run_task`` in a child forked from this process (Airflow imported, nothing of the project), timed from the fork
    to the end of its exit handlers (the engine's server stopped)."""
    read, write = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the task process: its output to the task log, its exit as a task process's (the engine stopped)
        os.close(read)
        with open(log, "a") as out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
        try:
            result = _run_task(dag_id, task_id, day)
        except BaseException as error:  # noqa: BLE001 -- reported to the parent, which stops
            result = {"error": f"{type(error).__name__}: {error}"}
        engine = sys.modules.get("interaction_lake.engine")
        if engine is not None:  # what its exit handler does at a task process's end (this one's would run the parent's too)
            engine.stop_spark()
        result["process_s"] = time.perf_counter() - started
        os.write(write, json.dumps(result).encode())
        os.close(write)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        result = json.loads(pipe.read() or '{"error": "no result"}')
    os.waitpid(pid, 0)
    if "error" in result:
        raise SystemExit(f"{dag_id}.{task_id} failed in its own process: {result['error']} (log: {log})")
    return result


def _warm(day: dt.date, tasks: list[tuple[str, str]]) -> dict:
    """Every task in a child process that imported all task bodies and started its engine before the first."""
    code = ("import json, sys, datetime as dt, time\n"
            "sys.path.insert(0, sys.argv[1]); import airflow_tasks as b\n"
            "t = time.perf_counter()\n"
            "from interaction_lake import orchestration\n"
            "from interaction_lake.config import Settings\n"
            "from interaction_lake.engine import get_spark\n"
            "import jobs.bronze.land, jobs.bronze.gate, jobs.silver.build, jobs.silver.gate, jobs.gold.build\n"
            "import interaction_lake.quality.gate as q; q.data_docs_index\n"
            "import great_expectations\n"
            "get_spark(Settings.from_env())\n"
            "ready = time.perf_counter() - t\n"
            "day = dt.date.fromisoformat(sys.argv[2])\n"
            "out = {f'{d}.{k}': b._run_task(d, k, day) for d, k in json.loads(sys.argv[3])}\n"
            "out['_imports_and_engine_s'] = ready\n"
            "print('RESULT', json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(day), json.dumps(tasks)],
                          capture_output=True, text=True, env=os.environ.copy())
    if done.returncode:
        raise SystemExit(f"the warm run failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[len("RESULT "):])


def _deliver(sent: Path, landing: Path, day: str) -> None:
    for folder in sent.glob(f"*/{day}"):
        shutil.copytree(folder, landing / folder.parent.name / day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sent", type=Path, help="day folders as interaction-lake generate writes them (<source>/<date>/)")
    parser.add_argument("--customers", type=int, default=5000, help="without --sent: the generated bank's customers")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "airflow-tasks.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        sent = args.sent
        if sent is None:
            sent = work / "sent"
            subprocess.run([sys.executable, "-m", "interaction_lake", "generate", "--customers", str(args.customers),
                            "--days", "2", "--start", "2026-11-01", "--out", str(sent)], check=True, stdout=subprocess.DEVNULL)
        days = sorted({folder.name for folder in sent.glob("*/20*")})[:2]
        first, second = days
        landing = work / "landing"
        landing.mkdir()
        os.environ.update({"INTERACTION_LAKE_PSEUDONYM_SECRET": os.environ.get("INTERACTION_LAKE_PSEUDONYM_SECRET", "bench"),
                           "INTERACTION_LAKE_LANDING_ROOT": str(landing), "INTERACTION_LAKE_LAKE_ROOT": str(work / "warm"),
                           "INTERACTION_LAKE_PROGRESS": "0"})
        _deliver(sent, landing, first)
        chain = _chain()
        _warm(dt.date.fromisoformat(first), chain)  # the initial load, into the warm lake; then copied for the forked run
        shutil.copytree(work / "warm", work / "forked")
        _deliver(sent, landing, second)
        day = dt.date.fromisoformat(second)

        importlib.import_module("airflow.dag_processing.dagbag")  # what a LocalExecutor worker imported before it forks

        warm = _warm(day, chain)
        os.environ["INTERACTION_LAKE_LAKE_ROOT"] = str(work / "forked")
        forked = {f"{dag_id}.{task_id}": _forked(dag_id, task_id, day, work / "tasks.log") for dag_id, task_id in chain}
    rows = {name: {"forked_s": round(forked[name]["process_s"], 3), "warm_s": round(warm[name]["total_s"], 3),
                   "start_up_s": round(forked[name]["process_s"] - warm[name]["total_s"], 3),
                   "dag_parse_s": round(forked[name]["parse_s"], 3)} for name in forked}
    total = sum(r["forked_s"] for r in rows.values())
    start_up = sum(r["start_up_s"] for r in rows.values())
    result = {"day": second, "sent": str(args.sent or f"generated, {args.customers} customers"), "tasks": rows,
              "forked_total_s": round(total, 3), "warm_total_s": round(sum(r["warm_s"] for r in rows.values()), 3),
              "start_up_total_s": round(start_up, 3), "start_up_share": round(start_up / total, 4),
              "warm_process_imports_and_engine_s": round(warm["_imports_and_engine_s"], 3)}
    print(f"{'task':34} {'own process':>11} {'warm':>7} {'start-up':>9} {'DAG parse':>9}")
    for name, r in rows.items():
        print(f"{name:34} {r['forked_s']:11.2f} {r['warm_s']:7.2f} {r['start_up_s']:9.2f} {r['dag_parse_s']:9.2f}")
    print(f"{'day':34} {total:11.2f} {result['warm_total_s']:7.2f} {start_up:9.2f}   start-up {start_up / total:.0%} of the tasks' time")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

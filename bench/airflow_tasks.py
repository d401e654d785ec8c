"""Airflow's task processes: the share of an ordinary day's task time that goes to process start-up.

    python bench/airflow_tasks.py [--sent DIR | --customers N] [--repeat 3] [--out bench/results/airflow-tasks.json]

Under Airflow's LocalExecutor every task runs in a process of its own, forked from an executor worker: the task parses
its DAG file, imports what its body needs, starts an engine session, and only then works. This script runs one ordinary
day's chain -- each landing DAG's ``land`` and ``gate_bronze``, ``silver``'s ``build_silver`` and ``gate_silver``,
``marts``' ``build_marts`` and ``data_docs`` -- in three ways, each on its own copy of the same lake (the first day landed
and built before any), ``--repeat`` times in turn:

1. ``forked``: as a worker that imported Airflow only runs it -- each task in a process forked from that worker; the
   child parses the task's DAG file with Airflow's ``DagBag`` and calls the task's callable with its arguments;
2. ``preloaded``: as the project's deployments run it -- the same, from a worker that imported
   ``interaction_lake.airflow_preload`` first, as the scheduler's forkserver does (docs/adr/0003-airflow-task-start-up.md);
3. ``warm``: every task in one process that imported every task body and started its engine session first.

Each "worker" is a child of this script, and imports what its way says. A task's start-up is the median of its forked
times less the median of its warm ones; printed with its share of the forked time, and written as JSON with every run's
seconds and the modules each forked task still imported itself. Airflow's own work around a task
(the supervisor, the API server's state calls, log shipping) is in none of them: this is the project's part. The day is
the second day folder of ``--sent`` (the first is the initial load) or of a bank generated with ``--customers``. Nothing
is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _chain() -> list[tuple[str, str, str]]:
    """(dag_id, task_id, DAG file) of a day's tasks in the order the Assets run them, from the DAGs themselves
    (``interaction_lake.airflow_run``: each enabled source's landing DAG, then silver's and the marts'; each DAG's tasks
    in their order), asked in a child: this process stays free of Airflow and the project, as a LocalExecutor worker."""
    code = ("import json; from interaction_lake.airflow_run import chain_order, load_dags; dags = load_dags(); "
            "print(json.dumps([(d, t.task_id, dags[d].fileloc) for d in chain_order(dags) for t in dags[d].topological_sort()]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [tuple(task) for task in json.loads(done.stdout.strip().splitlines()[-1])]


def _context(dag, task, day: dt.date) -> dict:
    """What the task bodies read of Airflow's context (``interaction_lake.orchestration``)."""
    logical = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    return {"dag": dag, "task": task, "run_id": f"bench__{day}", "ds": str(day), "logical_date": logical,
            "dag_run": types.SimpleNamespace(run_after=logical, logical_date=logical), "ti": types.SimpleNamespace(try_number=1)}


def _run_task(dag_id: str, task_id: str, dag_file: str, day: dt.date) -> dict:
    """Parse the task's DAG file and call its callable, as a task process does; the seconds of each part."""
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dag_file)
    dag = bag.dags[dag_id]
    task = dag.get_task(task_id)
    parsed = time.perf_counter()
    task.python_callable(**task.op_kwargs, **_context(dag, task, day))
    return {"parse_s": parsed - started, "callable_s": time.perf_counter() - parsed, "total_s": time.perf_counter() - started}


def _forked(dag_id: str, task_id: str, dag_file: str, day: dt.date, log: Path) -> dict:
    """``_run_task`` in a child forked from this process (the worker), timed from the fork to the end of the engine's stop."""
    read, write = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the task process: its output to the task log, its exit as a task process's (the engine stopped)
        os.close(read)
        with open(log, "a") as out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
        try:
            before = set(sys.modules)
            result = _run_task(dag_id, task_id, dag_file, day)
            result["imported"] = sorted({name.partition(".")[0] for name in set(sys.modules) - before})
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


def _worker(mode: str, day: dt.date, chain: list[tuple[str, str, str]], log: Path) -> dict:
    """In the worker process: the chain's tasks as ``mode`` runs them; each task's seconds, by ``<dag_id>.<task_id>``.
    The warm process imports what the preload does (every task body and what they load) and starts its engine first."""
    importlib.import_module("airflow.dag_processing.dagbag")  # what a LocalExecutor worker has imported
    if mode != "forked":
        importlib.import_module("interaction_lake.airflow_preload")
    if mode != "warm":
        return {f"{dag_id}.{task_id}": _forked(dag_id, task_id, dag_file, day, log) for dag_id, task_id, dag_file in chain}
    from interaction_lake.config import Settings
    from interaction_lake.engine import get_spark

    get_spark(Settings.from_env())
    results = {}
    for dag_id, task_id, dag_file in chain:
        try:
            results[f"{dag_id}.{task_id}"] = {**_run_task(dag_id, task_id, dag_file, day), "process_s": None}
        except BaseException:
            print(f"task {dag_id}.{task_id} failed", file=sys.stderr)  # the traceback follows: _run reports its end
            raise
    return results


def _run(mode: str, day: dt.date, chain: list[tuple[str, str, str]], lake: Path, log: Path) -> dict:
    """``_worker`` in a fresh child process on ``lake``."""
    code = ("import json, sys, datetime as dt; sys.path.insert(0, sys.argv[1]); import airflow_tasks as b\n"
            "out = b._worker(sys.argv[2], dt.date.fromisoformat(sys.argv[3]), json.loads(sys.argv[4]), b.Path(sys.argv[5]))\n"
            "print('RESULT', json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), mode, str(day), json.dumps(chain), str(log)],
                          capture_output=True, text=True, env={**os.environ, "INTERACTION_LAKE_LAKE_ROOT": str(lake)})
    if done.returncode:
        raise SystemExit(failure(mode, done.returncode, done.stderr))
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[len("RESULT "):])


def failure(mode: str, returncode: int, stderr: str) -> str:
    """What a failed worker run is reported as: the end of its traceback, whole. An engine error's text spans lines
    (a gRPC status's ends with ``>``), and the test suite reruns a test once for the embedded engine's known transport
    fault only when the fault's own text is in the failure (``only_rerun`` in pyproject.toml)."""
    return f"the {mode} run failed (exit code {returncode}):\n" + "\n".join(stderr.strip().splitlines()[-40:])


def _summary(runs: dict[str, list[dict]]) -> dict:
    """Per task the median seconds of each way, and each forked way's start-up (its median less the warm one's)."""
    def seconds(result: dict) -> float:
        return result["process_s"] if result["process_s"] is not None else result["total_s"]

    tasks = list(runs["warm"][0])
    median = {mode: {task: statistics.median(seconds(run[task]) for run in results) for task in tasks}
              for mode, results in runs.items()}
    summary = {"warm_total_s": round(sum(median["warm"].values()), 3)}
    for mode in ("forked", "preloaded"):
        rows = {task: {"median_s": round(median[mode][task], 3), "warm_median_s": round(median["warm"][task], 3),
                       "start_up_s": round(median[mode][task] - median["warm"][task], 3),
                       "dag_parse_median_s": round(statistics.median(run[task]["parse_s"] for run in runs[mode]), 3),
                       "imported": runs[mode][-1][task]["imported"]} for task in tasks}
        total = sum(r["median_s"] for r in rows.values())
        start_up = sum(r["start_up_s"] for r in rows.values())
        summary[mode] = {"tasks": rows, "total_s": round(total, 3), "start_up_total_s": round(start_up, 3),
                         "start_up_share": round(start_up / total, 4)}
    return summary


def _print(summary: dict, repeat: int) -> None:
    print(f"medians of {repeat} run(s), seconds")
    print(f"{'task':34} {'warm':>6} {'forked':>7} {'start-up':>9} {'preloaded':>10} {'start-up':>9}")
    forked, preloaded = summary["forked"]["tasks"], summary["preloaded"]["tasks"]
    for task, row in forked.items():
        print(f"{task:34} {row['warm_median_s']:6.2f} {row['median_s']:7.2f} {row['start_up_s']:9.2f} "
              f"{preloaded[task]['median_s']:10.2f} {preloaded[task]['start_up_s']:9.2f}")
    day = {mode: summary[mode] for mode in ("forked", "preloaded")}
    print(f"{'day':34} {summary['warm_total_s']:6.2f} {day['forked']['total_s']:7.2f} {day['forked']['start_up_total_s']:9.2f} "
          f"{day['preloaded']['total_s']:10.2f} {day['preloaded']['start_up_total_s']:9.2f}")
    print(f"start-up: {summary['forked']['start_up_share']:.0%} of the day's task time forked from a worker that imported "
          f"Airflow only, {summary['preloaded']['start_up_share']:.0%} with the preload")


def main() -> None:
    # here, not at the top: the workers import this file, and a LocalExecutor worker has imported nothing of the project
    from interaction_lake.generator.deliveries import days_of, deliver

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sent", type=Path, help="day folders as interaction-lake generate writes them (<source>/<date>/)")
    parser.add_argument("--customers", type=int, default=5000, help="without --sent: the generated bank's customers")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each way, in turn (medians are reported)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "airflow-tasks.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        sent = args.sent
        if sent is None:
            sent = work / "sent"
            subprocess.run([sys.executable, "-m", "interaction_lake", "generate", "--customers", str(args.customers),
                            "--days", "2", "--start", "2026-11-01", "--out", str(sent)], check=True, stdout=subprocess.DEVNULL)
        days = days_of(sent)[:2]
        if len(days) < 2:
            parser.error(f"{sent} holds {len(days)} day folder(s) (<source>/<date>/); the benchmark needs two")
        first, second = days
        landing = work / "landing"
        landing.mkdir()
        os.environ.update({"INTERACTION_LAKE_PSEUDONYM_SECRET": os.environ.get("INTERACTION_LAKE_PSEUDONYM_SECRET", "bench"),
                           "INTERACTION_LAKE_LANDING_ROOT": str(landing), "INTERACTION_LAKE_PROGRESS": "0"})
        deliver(sent, landing, first)
        chain = _chain()
        _run("warm", dt.date.fromisoformat(first), chain, work / "first_day", work / "tasks.log")  # the initial load
        deliver(sent, landing, second)
        day = dt.date.fromisoformat(second)
        runs: dict[str, list[dict]] = {"warm": [], "forked": [], "preloaded": []}
        for repetition in range(args.repeat):
            for mode, results in runs.items():
                lake = work / f"{mode}_{repetition}"
                shutil.copytree(work / "first_day", lake)
                results.append(_run(mode, day, chain, lake, work / "tasks.log"))
                shutil.rmtree(lake)
    summary = _summary(runs)
    _print(summary, args.repeat)
    result = {"day": second, "sent": str(args.sent or f"generated, {args.customers} customers"), "repeat": args.repeat,
              **summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

if __name__ == "__main__":
    main()

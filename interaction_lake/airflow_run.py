"""Run the DAG chain through Airflow in this process: the README's Airflow demo and the CI check.

For one logical date: every landing DAG, then the silver DAG, then the marts DAG, each with
``dag.test()`` -- real task instances, XComs, Asset events and DAG runs in the metadata database
(SQLite by default), without a scheduler. The order is the one the Assets impose in a deployment
(landing publishes bronze Assets -> silver; silver publishes ``silver`` -> marts).

    python -m interaction_lake.airflow_run 2026-11-02 [2026-11-03 ...]

Needs ``AIRFLOW_HOME`` with a migrated database (``airflow db migrate``) and
``AIRFLOW__CORE__DAGS_FOLDER`` pointing at ``dags/`` (``make airflow-demo`` sets both).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"
CHAIN = ("land_", "silver", "marts")


def load_dags(folder: Path = DAGS_FOLDER) -> dict:
    """The project's DAGs, parsed by Airflow's own DagBag; raises if any file fails to import."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder))
    if bag.import_errors:
        raise RuntimeError("DAG import errors: " + "; ".join(f"{k}: {v}" for k, v in bag.import_errors.items()))
    return bag.dags


def chain_order(dags: dict) -> list[str]:
    return [d for step in CHAIN for d in sorted(dags) if (d.startswith(step) if step.endswith("_") else d == step)]


def run_chain(day: dt.date, dags: dict | None = None) -> dict[str, str]:
    """Run every DAG of the chain for ``day``; the state of each DAG run, by dag_id. Stops at a failed run."""
    dags = dags or load_dags()
    logical = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    states: dict[str, str] = {}
    for dag_id in chain_order(dags):
        run = dags[dag_id].test(logical_date=logical)
        states[dag_id] = str(run.state)
        if states[dag_id] != "success":
            break
    return states


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interaction_lake.airflow_run", description=__doc__.splitlines()[0])
    parser.add_argument("dates", nargs="+", type=dt.date.fromisoformat, help="logical dates (YYYY-MM-DD), run in order")
    args = parser.parse_args(argv)
    dags = load_dags()
    failed = False
    for day in args.dates:
        states = run_chain(day, dags)
        for dag_id, state in states.items():
            print(f"{day}  {dag_id:<24} {state}")
        failed = failed or any(s != "success" for s in states.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

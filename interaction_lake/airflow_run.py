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
    return [d for step in range(len(CHAIN)) for d in sorted(dags) if _step(d) == step]


def _step(dag_id: str) -> int | None:
    """The DAG's place in ``CHAIN`` (None for a DAG outside it)."""
    return next((i for i, step in enumerate(CHAIN) if (dag_id.startswith(step) if step.endswith("_") else dag_id == step)), None)


NOT_RUN = "not run"


def run_chain(day: dt.date, dags: dict | None = None) -> dict[str, str]:
    """Run the chain's DAGs for ``day`` as their Assets would schedule them; the state of each DAG run, by dag_id.

    Every landing DAG runs; a failed one (a source's gate refused its files) publishes no Asset, but the others do,
    so silver runs if any landing DAG succeeded (``any_bronze_asset``) -- as in a deployment, one source's failure
    does not hold the others back -- and the marts if silver did. A DAG its Assets would not schedule is ``not run``."""
    dags = dags or load_dags()
    logical = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    states: dict[str, str] = {}
    for dag_id in chain_order(dags):
        upstream = [state for earlier, state in states.items() if _step(earlier) == _step(dag_id) - 1]
        if _step(dag_id) > 0 and "success" not in upstream:
            states[dag_id] = NOT_RUN
            continue
        states[dag_id] = str(dags[dag_id].test(logical_date=logical).state)
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

"""Silver DAG: scheduled by new bronze data (any source's bronze Asset); builds silver, then runs the silver gate.

The gate task publishes the ``silver`` Asset, which schedules the marts DAG. Idempotent: a run with
no new bronze batches changes nothing.
"""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from interaction_lake import orchestration as o

with DAG(
    dag_id="silver",
    description="Conform, deduplicate and pseudonymise new bronze batches; rebuild the facts they touch; validate",
    schedule=o.any_bronze_asset(),
    start_date=o.START,
    catchup=False,
    max_active_runs=1,
    deadline=o.deadline("silver"),
    default_args=o.DEFAULT_ARGS,
    tags=["interaction-lake", "silver"],
) as dag:
    build = PythonOperator(task_id="build_silver", python_callable=o.build_silver, doc_md=o.DOCS["build_silver"])
    gate = PythonOperator(task_id="gate_silver", python_callable=o.gate_silver, outlets=[o.silver_asset()],
                          doc_md=o.DOCS["gate_silver"])
    build >> gate

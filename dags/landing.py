"""Landing DAGs, one per source: land new landing files into bronze, then run the bronze gate.

Landing is driven by what has arrived, not by the logical date: each run lands every file not landed
yet, exactly once (the landing ledger). So ``catchup`` is off: a missed day is picked up by the next run,
and a backfill over a date range lands the same files, once, giving the same tables as daily runs.
The gate task publishes the source's bronze Asset, which schedules the silver DAG.
"""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from interaction_lake import orchestration as o

for source in o.registry.enabled():
    with DAG(
        dag_id=f"land_{source}",
        description=f"Land new {source} files into bronze/{source}_events and validate the batch",
        schedule="@daily",
        start_date=o.START,
        catchup=False,
        max_active_runs=1,
        deadline=o.deadline(f"land_{source}"),
        default_args=o.DEFAULT_ARGS,
        tags=["interaction-lake", "bronze", source],
    ) as dag:
        land = PythonOperator(task_id="land", python_callable=o.land, op_kwargs={"source": source}, doc_md=o.DOCS["land"])
        gate = PythonOperator(task_id="gate_bronze", python_callable=o.gate_bronze, op_kwargs={"source": source},
                              outlets=[o.bronze_asset(source)], doc_md=o.DOCS["gate_bronze"])
        land >> gate
    globals()[dag.dag_id] = dag

"""Marts DAG: scheduled by the ``silver`` Asset; rebuilds the gold marts for the months silver changed in.

Write-audit-publish: the task stages the marts, validates them with the gold suites and publishes only
if no error-severity expectation failed (then it updates the ``gold`` Asset). A failed gate, or a silver
table whose last gate failed, fails the task without retrying.
"""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from interaction_lake import orchestration as o

with DAG(
    dag_id="marts",
    description="Customer value, service quality, satisfaction, account-manager effectiveness, key customers at risk",
    schedule=o.silver_asset(),
    start_date=o.START,
    catchup=False,
    max_active_runs=1,
    deadline=o.deadline("marts"),
    default_args=o.DEFAULT_ARGS,
    tags=["interaction-lake", "gold"],
) as dag:
    PythonOperator(task_id="build_marts", python_callable=o.build_marts, outlets=[o.gold_asset()], doc_md=o.DOCS["build_marts"])

"""Marts DAG: scheduled by the ``silver`` Asset; rebuilds the gold marts for the months silver changed in.

Write-audit-publish: the task stages the marts, validates them with the gold suites and publishes only
if no error-severity expectation failed (then it updates the ``gold`` Asset). A failed gate, or a silver
table whose last gate failed, fails the task without retrying. Then ``data_docs`` renders the Data Docs pages of the
day's verdicts, all stages' (a teardown task: it runs either way and does not decide the DAG run's state).
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
    build = PythonOperator(task_id="build_marts", python_callable=o.build_marts, outlets=[o.gold_asset()], doc_md=o.DOCS["build_marts"])
    docs = PythonOperator(task_id="data_docs", python_callable=o.data_docs, doc_md=o.DOCS["data_docs"])
    build >> docs.as_teardown()  # runs whatever the build did; the DAG run's state stays the build's

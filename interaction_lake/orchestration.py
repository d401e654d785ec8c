"""What the Airflow DAGs share: schedules, retry policy, the Assets that chain them, and the task bodies.

The DAG files in ``dags/`` only wire these together. Task bodies call the same job functions as the
command line, with the Airflow run id and ``<dag_id>.<task_id>`` recorded in every Delta commit they
make. A failed data-quality gate raises ``AirflowFailException``: the task fails at once (retrying would
not change the data) and downstream tasks and DAGs do not run.

Assets (``delta://`` URIs named after the tables) chain the DAGs: a landing DAG's gate publishes
``bronze/<source>_events``, which schedules the silver DAG; the silver gate publishes ``silver``,
which schedules the marts DAG.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from typing import Iterator

# Only what the DAG files need at parse time: Airflow's DAG processor imports them again and again, and pyspark (through
# ``lake`` and ``lineage``) alone costs 0.6 s of each parse. The task bodies import the rest.
from interaction_lake import alerts
from interaction_lake.config import Settings
from interaction_lake import sources as registry

OWNER = "data-platform"
START = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": alerts.on_task_failure,  # e-mail and webhook, where configured (interaction_lake/alerts.py)
    # A task stuck on a hung file system or cluster fails (and alerts) instead of holding its DAG's only run slot forever;
    # far above the benchmark's 10M-event day (under four minutes a stage).
    "execution_timeout": dt.timedelta(hours=2),
}

def deadline(dag_id: str):
    """The DAG's Deadline Alert (Airflow 3's successor of SLAs) when ``$INTERACTION_LAKE_DEADLINE_MINUTES`` is set: a run
    not finished that long after it was queued alerts ``deadline_missed``. Off by default because Airflow 3.3.2's
    ``dag.test()`` -- the demo and ``make airflow-demo`` -- fails on a DAG with a deadline once the run succeeds
    (``DagRun.update_state`` passes the serialized alert where an id is expected: AttributeError 'dict' object has no
    attribute 'hex'); the scheduler itself handles it (tests/integration/dags/test_scheduler.py)."""
    from interaction_lake.config import env_number

    if not os.environ.get("INTERACTION_LAKE_DEADLINE_MINUTES"):
        return None
    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

    minutes = env_number("DEADLINE_MINUTES", 120.0)
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=dt.timedelta(minutes=minutes),
                         callback=AsyncCallback(alerts.deadline_missed, kwargs={"dag_id": dag_id}))


# What each task does, shown in the Airflow UI (Task details -> doc).
DOCS = {
    "data_docs": "Render the Data Docs pages of every verdict recorded since the last render, from `_system/quality_results` "
                 "(gates that pass leave them to this task: it spares each gate task importing Great Expectations). A teardown: "
                 "it runs whatever `build_marts` did and does not change the DAG run's state.",
    "land": "Land every new file of the source's landing folder into `bronze/<source>_events`, exactly once (the landing "
            "ledger); bad records go to `quarantine/landing` with their raw bytes. Alerts `feed_missing` when no new file came.",
    "gate_bronze": "Validate each new batch with `expectations/bronze/<source>_events.json`; a failed batch (or only its "
                   "failing files) is held from silver and the task fails without retrying. Publishes the bronze Asset with "
                   "the batches and table version validated. Held data: `interaction-lake quality held`.",
    "build_silver": "Conform, deduplicate and pseudonymise the new bronze batches (held ones skipped); rebuild the facts "
                    "they touch, SCD2 customer profiles included.",
    "gate_silver": "Validate what the silver run changed, table by table; a failure blocks the marts. Publishes the silver "
                   "Asset with each table's version.",
    "build_marts": "Stage, validate and publish the gold marts for the months silver changed (write-audit-publish). "
                   "Alerts what the gates still hold and any call-abandonment breach. Publishes the gold Asset with the "
                   "as-of date and rows per mart.",
}


def bronze_asset(source: str):
    from airflow.sdk import Asset

    return Asset(name=f"bronze.{source}_events", uri=f"delta://interaction-lake/bronze/{source}_events", group="interaction-lake")


def any_bronze_asset():
    """Any source's bronze Asset updated: the silver DAG's schedule."""
    import functools
    import operator

    return functools.reduce(operator.or_, [bronze_asset(source) for source in registry.enabled()])


def silver_asset():
    from airflow.sdk import Asset

    return Asset(name="silver", uri="delta://interaction-lake/silver", group="interaction-lake")


def gold_asset():
    from airflow.sdk import Asset

    return Asset(name="gold", uri="delta://interaction-lake/gold", group="interaction-lake")


@contextlib.contextmanager
def _task(context, lands: bool = False) -> Iterator[tuple[Settings, str]]:
    """Settings and Airflow's run id for a task body; records ``<dag_id>.<task_id>`` for commit metadata and
    emits the task's OpenLineage run (parent: the DAG run), which the job runs inside it name as their parent.

    The roots must be configured, absolute (``Settings.for_scheduled_task``); if not, the task fails at once, without
    retries: waiting would not configure them."""
    from airflow.sdk.exceptions import AirflowFailException
    from openlineage.client.uuid import generate_static_uuid

    from interaction_lake import lake, lineage
    from interaction_lake.config import ConfigError

    dag_id, task_id, run_id = context["dag"].dag_id, context["task"].task_id, context["run_id"]
    os.environ[lake.TASK_ENV] = f"{dag_id}.{task_id}"
    try:
        settings = Settings.for_scheduled_task(landing_must_exist=lands)
    except ConfigError as error:
        raise AirflowFailException(str(error)) from None
    dag_run = context["dag_run"]
    # Stable across retries and processes: derived from the DAG run, not from the clock of this try.
    instant = getattr(dag_run, "run_after", None) or getattr(dag_run, "logical_date", None) or START
    dag_parent = {"namespace": lineage.namespace(), "name": dag_id,
                  "runId": str(generate_static_uuid(instant, f"{dag_id}/{run_id}".encode()))}
    try_number = getattr(context.get("ti"), "try_number", 1)
    task_run_id = str(generate_static_uuid(instant, f"{dag_id}/{run_id}/{task_id}/{try_number}".encode()))
    with lineage.job_run(settings.lake_root, f"{dag_id}.{task_id}", parent=dag_parent, run_id=task_run_id,
                         job_type="TASK", integration="AIRFLOW") as run:
        os.environ[lineage.PARENT_ENV] = json.dumps(run.as_parent())
        try:
            yield settings, run_id
        finally:
            os.environ.pop(lineage.PARENT_ENV, None)


def _fail_if(outcomes) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    failed = [o for o in outcomes if not o.passed]
    for o in outcomes:
        print(o.report())
    if failed:
        raise AirflowFailException("data-quality gate failed: " + "\n".join(o.report() for o in failed))


def land(source: str, **context) -> dict:
    from interaction_lake import sources
    from interaction_lake.engine import get_spark
    from jobs.bronze.land import land_source, record_unassigned

    with _task(context, lands=True) as (settings, run_id):
        spark = get_spark(settings)
        report = land_source(spark, settings, source, run_id).as_dict()
        # files no source or feed lands are recorded by whichever landing task comes first (under a lock: once)
        report["files_outside_landing_folders"] = record_unassigned(spark, settings, sources.enabled(), run_id)
        alerts.send(alerts.feed_missing(source, report["files_new"], context), context)
        return report


def gate_bronze(source: str, **context) -> None:
    from interaction_lake.engine import get_spark
    from jobs.bronze.gate import gate_bronze as gate

    with _task(context) as (settings, run_id):
        outcomes = gate(get_spark(settings), settings, source, run_id)
        _fail_if(outcomes)
        _describe_event(context, bronze_asset(source), {
            "batch_ids": sorted({o.batch_id for o in outcomes if o.batch_id}),
            "table_version": max((o.table_version for o in outcomes if o.table_version is not None), default=None),
            "validations": len(outcomes)})


def _describe_event(context, asset, extra: dict) -> None:
    """Metadata on the Asset event this task emits (shown in the Asset's history; read by whatever it schedules)."""
    events = context.get("outlet_events")
    if events is not None:
        events[asset].extra.update(extra)


def build_silver(**context) -> dict:
    from interaction_lake.engine import get_spark
    from jobs.silver.build import build_silver as build

    with _task(context) as (settings, run_id):
        reports = build(get_spark(settings), settings, run_id)
    return {r.source: {"batches": r.batches, "events": r.events_inserted, "held_back": r.held_back} for r in reports}


def gate_silver(**context) -> None:
    from interaction_lake.engine import get_spark
    from jobs.silver.gate import gate_silver as gate

    with _task(context) as (settings, run_id):
        outcomes = gate(get_spark(settings), settings, run_id)
        _fail_if(outcomes)
        _describe_event(context, silver_asset(), {"table_versions": {o.table: o.table_version for o in outcomes},
                                                  "validations": len(outcomes)})


def build_marts(**context) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from interaction_lake.engine import get_spark
    from interaction_lake.quality.gate import GateBlocked, GateFailed
    from jobs.gold.build import build_gold

    with _task(context) as (settings, run_id):
        try:
            report = build_gold(get_spark(settings), settings, run_id)
        except (GateFailed, GateBlocked) as error:
            for o in getattr(error, "outcomes", []):
                print(o.report())
            raise AirflowFailException(str(error)) from None
        for o in report.gates:
            print(o.report())
        spark = get_spark(settings)
        alerts.send(alerts.held(spark, settings.lake_root, context)
                    + alerts.abandonment_breaches(spark, settings.lake_root, report.as_of, context), context)
        _describe_event(context, gold_asset(), {"as_of": str(report.as_of), "rows": report.rows, "up_to_date": report.up_to_date})
    return {"as_of": str(report.as_of), "first_month": str(report.first_month), "rows": report.rows, "not_built": report.not_built}


def data_docs(**context) -> dict:
    from interaction_lake.engine import get_spark
    from interaction_lake.quality.gate import data_docs_index, render_pending_data_docs

    with _task(context) as (settings, _):
        rendered = render_pending_data_docs(get_spark(settings), settings.lake_root)
        print(f"rendered {rendered} validation(s) into Data Docs: {data_docs_index(settings.lake_root)}")
    return {"rendered": rendered}


__all__ = ["registry", "DEFAULT_ARGS", "DOCS", "deadline", "START", "OWNER", "bronze_asset", "any_bronze_asset", "silver_asset", "gold_asset",
           "land", "gate_bronze", "build_silver", "gate_silver", "build_marts", "data_docs"]

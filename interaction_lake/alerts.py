"""Alerts, sent through Airflow's notifier mechanism to the channels a deployment configures by connection.

What is alerted (``KINDS``):

- ``gate_failed``: a task failed (a data-quality gate, most often; the failure callback of every task);
- ``held``: something a gate holds is still unresolved at the end of a marts run (daily, until a re-check or a
  release resolves it: a green day does not hide it);
- ``abandonment_breach``: the latest day's call abandonment is above the ceiling (``abandonment_ceiling``, 5%);
- ``feed_missing``: a landing run found no new file of its source;
- ``deadline_missed``: a DAG run has not finished ``$INTERACTION_LAKE_DEADLINE_MINUTES`` (120) after it was queued --
  Airflow 3's Deadline Alert, the successor of SLAs, whose callback the triggerer runs (``deadline_missed`` below).

Channels, each used when its connection exists (none configured: nothing is sent, and the run goes on):

- e-mail: Airflow's SMTP provider (``SmtpNotifier``) on connection ``interaction_lake_smtp``, to the address(es) in
  ``$INTERACTION_LAKE_ALERT_EMAIL`` (or the connection's extra ``to``), from its ``from_email`` extra or login;
- webhook: ``WebhookNotifier`` below, a JSON POST to the URL of connection ``interaction_lake_webhook``
  (``http://host:port/path``; or the extra ``url``).

Delivery problems are logged, never raised: an unreachable mail server must not fail the data's task.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import os
import urllib.request

log = logging.getLogger(__name__)

KINDS = ("gate_failed", "held", "abandonment_breach", "feed_missing", "deadline_missed")
SMTP_CONN, WEBHOOK_CONN = "interaction_lake_smtp", "interaction_lake_webhook"
ALERTS_KEY = "interaction_lake_alerts"  # where the alerts travel in the context handed to a notifier


@dataclasses.dataclass(frozen=True)
class Alert:
    kind: str
    subject: str  # one line: what and where
    detail: str = ""  # the lines an operator needs to act
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _connection(conn_id: str):
    """The Airflow connection, or None when the deployment did not configure it."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException (not configured) and a metadata database without it
        return None


def _notifier_base():
    from airflow.sdk.bases.notifier import BaseNotifier

    return BaseNotifier


def webhook_notifier(connection):
    """A notifier posting ``{"alerts": [...]}`` as JSON to the URL of ``connection`` (an Airflow connection)."""

    class WebhookNotifier(_notifier_base()):
        template_fields = ()

        def notify(self, context) -> None:
            url = connection.extra_dejson.get("url") or f"{connection.conn_type or 'http'}://{connection.host}" + (
                f":{connection.port}" if connection.port else "") + "/" + (connection.schema or "").lstrip("/")
            body = json.dumps({"alerts": [a.as_dict() for a in context[ALERTS_KEY]]}).encode()
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the deployment's own endpoint
                response.read()

    return WebhookNotifier()


def email_notifier(alerts: list[Alert]):
    """Airflow's SMTP notifier with the alerts as subject and body; None when no mail connection or address is set."""
    connection = _connection(SMTP_CONN)
    if connection is None:
        return None
    extra = connection.extra_dejson
    to = os.environ.get("INTERACTION_LAKE_ALERT_EMAIL") or extra.get("to")
    if not to:
        log.warning("connection %s exists but no address: set $INTERACTION_LAKE_ALERT_EMAIL", SMTP_CONN)
        return None
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    subject = f"[interaction-lake] {alerts[0].subject}" + (f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else "")
    body = "".join(f"<h3>{html.escape(a.kind)}: {html.escape(a.subject)}</h3><pre>{html.escape(a.detail)}</pre>"
                   f"<p>{html.escape(' '.join(x for x in (a.dag_id, a.task_id, a.run_id) if x))}</p>" for a in alerts)
    return SmtpNotifier(to=[t.strip() for t in to.split(",")], from_email=extra.get("from_email") or connection.login or "interaction-lake@localhost",
                        subject=subject, html_content=body, smtp_conn_id=SMTP_CONN)


def send(alerts: list[Alert], context: dict | None = None) -> int:
    """Deliver the alerts on every configured channel; how many channels took them."""
    if not alerts:
        return 0
    context = {**(context or {}), ALERTS_KEY: alerts}
    delivered = 0
    hook = _connection(WEBHOOK_CONN)
    for name, notifier in (("email", email_notifier(alerts)), ("webhook", webhook_notifier(hook) if hook else None)):
        if notifier is None:
            continue
        try:
            notifier.notify(context)
            delivered += 1
        except Exception as error:  # noqa: BLE001 - a broken channel is the operator's to fix, not the data's task's failure
            log.warning("alert not delivered by %s: %s", name, error)
    for alert in alerts:
        print(f"ALERT {alert.kind}: {alert.subject}")  # in the task log whatever the channels
    return delivered


def _where(context: dict) -> dict:
    ti = context.get("ti") or context.get("task_instance")
    return {"dag_id": getattr(context.get("dag"), "dag_id", None) or getattr(ti, "dag_id", None),
            "task_id": getattr(context.get("task"), "task_id", None) or getattr(ti, "task_id", None), "run_id": context.get("run_id")}


def on_task_failure(context: dict) -> None:
    """Every task's ``on_failure_callback``: the failure, with the gate's report when a gate failed."""
    error = context.get("exception")
    message = str(error) if error else "the task failed"
    where = _where(context)
    subject = (f"data-quality gate failed in {where['dag_id']}.{where['task_id']}" if "data-quality gate failed" in message
               else f"task {where['dag_id']}.{where['task_id']} failed")
    send([Alert("gate_failed", subject, message, **where)], context)


def feed_missing(source: str, files_new: int, context: dict) -> list[Alert]:
    if files_new:
        return []
    return [Alert("feed_missing", f"no new {source} file arrived", f"the landing run for {source} found no new file "
                  f"in {source}/ of the landing zone (logical date {context.get('ds') or context.get('logical_date')})",
                  **_where(context))]


def held(spark, lake_root, context: dict) -> list[Alert]:
    from jobs.quality.held import held as held_now

    found = held_now(spark, lake_root)
    if not found:
        return []
    detail = "\n".join(f"{h.subject()} (since {h.since:%Y-%m-%d %H:%M} UTC)\n    " + "\n    ".join(h.reasons) for h in found)
    return [Alert("held", f"{len(found)} held by the data-quality gates, unresolved",
                  detail + "\n\nresolve: interaction-lake quality held | recheck | release", **_where(context))]


def abandonment_breaches(spark, lake_root, day, context: dict) -> list[Alert]:
    """The units whose call abandonment on ``day`` (the marts' as-of day) is above the ceiling."""
    from pyspark.sql import functions as F

    from interaction_lake import lake
    from jobs.gold.build import mart_table

    marts = lake.read(spark, mart_table(lake_root, "service_quality"))
    if marts is None:
        return []
    rows = (marts.where((F.col("period") == "day") & (F.col("period_start") == F.lit(day)) & F.col("abandonment_breach"))
            .select("unit_id", "abandonment_rate", "abandonment_ceiling", "queue_outcomes").orderBy("unit_id").collect())
    if not rows:
        return []
    detail = "\n".join(f"{r.unit_id}: {r.abandonment_rate:.1%} of {r.queue_outcomes} queued calls abandoned "
                       f"(ceiling {r.abandonment_ceiling:.0%})" for r in rows)
    return [Alert("abandonment_breach", f"call abandonment above the ceiling on {day} ({len(rows)} unit(s))", detail, **_where(context))]


async def deadline_missed(context: dict | None = None, **kwargs) -> None:
    """A DAG run's Deadline Alert callback (run by the triggerer): the run is late; tell the channels."""
    import asyncio

    run = (context or {}).get("dag_run") or {}  # the scheduler hands the triggerer the run as the REST API shows it
    dag_id, run_id = run.get("dag_id") or kwargs.get("dag_id"), run.get("dag_run_id")
    alert = Alert("deadline_missed", f"{dag_id} run {run_id} has not finished within its deadline",
                  f"queued {run.get('queued_at')}; state {run.get('state')}; deadline "
                  f"{((context or {}).get('deadline') or {}).get('deadline_time')}. Look at the run in Airflow: a stuck task, a "
                  "full pool, or a paused DAG.", dag_id=dag_id, run_id=run_id)
    await asyncio.to_thread(send, [alert], {})

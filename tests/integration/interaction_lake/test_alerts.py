"""Alerts delivered to a real SMTP server and a real HTTP endpoint on loopback, through Airflow's notifiers configured
by connection: what a gate holds (until resolved), and an abandonment breach. The failed-gate and missing-feed
alerts are proven under Airflow itself (tests/integration/dags/test_chain.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from deltalake import DeltaTable

from interaction_lake import alerts
from interaction_lake.generator import SOURCES
from interaction_lake.marts_config import MartsConfig
from jobs.bronze.gate import gate_bronze
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold, mart_table
from jobs.silver.build import build_silver
from tests.integration.jobs.bronze.test_gate import future_events
from tests.integration.servers import smtp_and_webhook


@pytest.fixture
def channels(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    with smtp_and_webhook() as (received, connections):
        for name, value in connections.items():
            monkeypatch.setenv(name, value)
        yield received


def _mailed(received) -> dict[str, str]:
    return {m["Subject"]: next(p.get_payload(decode=True).decode() for p in m.walk() if p.get_content_type() == "text/html")
            for m in received.mails}


def test_what_a_gate_holds_is_alerted_with_why_until_it_is_released(spark, settings, channels):
    folder = settings.landing_root / "counter" / "2026-11-05"
    folder.mkdir(parents=True)
    (folder / "counter_20261105_events.jsonl").write_text(future_events(2))
    land_source(spark, settings, "counter", "r1")
    [outcome] = gate_bronze(spark, settings, "counter", "r1")
    assert not outcome.passed

    held = alerts.held(spark, settings.lake_root, {"run_id": "marts-run"})
    assert alerts.send(held, {"run_id": "marts-run"}) == 2  # e-mail and webhook
    [posted] = [a for _, body in channels.posts for a in body["alerts"]]
    assert posted["kind"] == "held" and posted["subject"] == "1 held by the data-quality gates, unresolved"
    assert f"batch {outcome.batch_id}" in posted["detail"] and "_arrival_lag_hours): 2 of 2 unexpected" in posted["detail"]
    assert "quality held | recheck | release" in posted["detail"]
    body = _mailed(channels)["[interaction-lake] 1 held by the data-quality gates, unresolved"]
    assert "_arrival_lag_hours" in body

    from jobs.quality.held import release

    release(spark, settings.lake_root, "reviewed: branch clock", batch_id=outcome.batch_id)
    assert alerts.held(spark, settings.lake_root, {}) == []


def test_an_abandonment_breach_names_each_unit_above_the_ceiling(spark, settings, channels):
    from interaction_lake.generator import generate

    generate(settings.landing_root, customers=3000, days=2, seed=7, start=dt.date(2026, 11, 2), fault_rate=0.0)
    for source in SOURCES:
        land_source(spark, settings, source, "r1")
    build_silver(spark, settings, "r1")
    ceiling = 0.02
    report = build_gold(spark, settings, "r1", MartsConfig(abandonment_ceiling=ceiling))
    found = alerts.abandonment_breaches(spark, settings.lake_root, report.as_of, {})

    rows = DeltaTable(str(mart_table(settings.lake_root, "service_quality"))).to_pyarrow_table().to_pylist()
    expected = sorted(r["unit_id"] for r in rows if r["period"] == "day" and r["period_start"] == report.as_of
                      and r["abandonment_rate"] is not None and r["abandonment_rate"] > ceiling)
    assert expected, "a bank of 3000 customers abandons more than 2% of some queue's calls on a day"
    [alert] = found
    assert [line.split(":")[0] for line in alert.detail.splitlines()] == expected
    assert alert.subject == f"call abandonment above the ceiling on {report.as_of} ({len(expected)} unit(s))"
    assert alerts.send(found, {}) == 2
    assert json.loads(json.dumps(channels.posts[0][1]))["alerts"][0]["kind"] == "abandonment_breach"
    assert f"[interaction-lake] {alert.subject}" in _mailed(channels)


def test_no_channel_configured_sends_nothing_and_fails_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    for name in ("AIRFLOW_CONN_INTERACTION_LAKE_SMTP", "AIRFLOW_CONN_INTERACTION_LAKE_WEBHOOK"):
        monkeypatch.delenv(name, raising=False)
    assert alerts.send([alerts.Alert("feed_missing", "no new counter file arrived")], {}) == 0

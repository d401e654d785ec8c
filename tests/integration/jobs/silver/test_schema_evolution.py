"""A producer moves to a new contract version with a new optional field: v1 and v2 events land side by side,
silver takes the new column, and everything built for v1 (facts, marts, readers of old versions) keeps working."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil

import pytest
from deltalake import DeltaTable

from interaction_lake import contracts, lake
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold, mart_table
import jobs.silver.build as silver_build
from jobs.silver.build import StoredShapeError, build_silver, fact_table, silver_events_table
from jobs.silver.lifecycles import FACTS

CALL = next(f for f in FACTS if f.name == "call")


@pytest.fixture
def contract_dir(tmp_path, monkeypatch):
    """A copy of the shipped contracts the test can extend; returns a function that publishes callcentre v2
    (v1 + an optional ``callback_requested`` flag), as a producer's contract change would."""
    schemas = tmp_path / "schemas"
    shutil.copytree(contracts.SCHEMAS_DIR, schemas)
    monkeypatch.setattr(contracts, "SCHEMAS_DIR", schemas)

    def reload():
        contracts._registry.cache_clear()
        contracts.contracts.cache_clear()

    def publish_v2():
        v2 = json.loads((schemas / "callcentre" / "v1.json").read_text())
        v2["$id"] = v2["$id"].replace("/v1.json", "/v2.json")
        v2["x-version"] = 2
        v2["title"] = v2["title"].replace("version 1", "version 2")
        v2["properties"]["callback_requested"] = {"type": ["boolean", "null"], "description": "The caller asked to be called back."}
        (schemas / "callcentre" / "v2.json").write_text(json.dumps(v2))
        reload()

    reload()
    yield publish_v2
    monkeypatch.undo()
    reload()


def call_events(call_id: str, day: str, version: int, **extra) -> list[dict]:
    base = {"schema_version": version, "source_system": "genesys-acd", "customer_ref": "C00000001", "call_id": call_id}
    events = [("call_offered", "09:00:00", {}), ("call_queued", "09:00:20", {"queue_id": "Q-CARDS"}),
              ("call_answered", "09:00:50", {"queue_id": "Q-CARDS", "agent_id": "A1"}),
              ("call_ended", "09:05:00", {"agent_id": "A1", "talk_seconds": 240, "hold_seconds": 10}),
              ("call_wrapped_up", "09:06:00", {"agent_id": "A1", "wrap_seconds": 60, "contact_reason": "card_issue", "resolution": "resolved"})]
    return [{**base, "event_id": f"evt-{call_id}-{i}", "event_type": kind, "occurred_at": f"{day}T{at}Z", **fields, **extra}
            for i, (kind, at, fields) in enumerate(events)]


def drop(settings, day: str, name: str, records: list[dict]) -> None:
    folder = settings.landing_root / "callcentre" / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_new_optional_field_in_a_new_version_lands_and_older_consumers_keep_working(spark, settings, contract_dir):
    drop(settings, "2026-11-02", "calls_v1.jsonl", call_events("call-old", "2026-11-02", 1))
    assert land_source(spark, settings, "callcentre", "r1").records_quarantined == 0
    build_silver(spark, settings, "r1", ("callcentre",))
    events_path = silver_events_table(settings.lake_root, "callcentre")
    v1_version = DeltaTable(str(events_path)).version()
    assert "callback_requested" not in DeltaTable(str(events_path)).schema().to_json()

    contract_dir()  # the producer publishes v2; v1 stays valid

    drop(settings, "2026-11-03", "calls_mixed.jsonl", call_events("call-v1", "2026-11-03", 1)
         + call_events("call-v2", "2026-11-03", 2, callback_requested=True))
    report = land_source(spark, settings, "callcentre", "r2")
    assert report.records_landed == 10 and report.records_quarantined == 0
    build_silver(spark, settings, "r2", ("callcentre",))

    events = {r["event_id"]: r for r in DeltaTable(str(events_path)).to_pyarrow_table().to_pylist()}
    assert events["evt-call-v2-0"]["callback_requested"] is True and events["evt-call-v2-0"]["schema_version"] == 2
    assert events["evt-call-v1-0"]["callback_requested"] is None and events["evt-call-old-0"]["callback_requested"] is None
    old = DeltaTable(str(events_path), version=v1_version).to_pyarrow_table()  # a reader pinned before the change still reads
    assert old.num_rows == 5

    calls = {r["call_id"]: r for r in DeltaTable(str(fact_table(settings.lake_root, CALL))).to_pyarrow_table().to_pylist()}
    assert {c: calls[c]["status"] for c in calls} == {"call-old": calls["call-old"]["status"]} | {
        c: calls["call-old"]["status"] for c in ("call-v1", "call-v2")}  # the v2 call is a call like any other
    assert calls["call-v2"]["talk_seconds"] == calls["call-v1"]["talk_seconds"] == 240

    build_gold(spark, settings, "r2", gate=False)
    quality = DeltaTable(str(mart_table(settings.lake_root, "service_quality"))).to_pyarrow_table().to_pylist()
    [month] = [r for r in quality if r["channel"] == "callcentre" and r["period"] == "month" and r["unit_id"] == "ALL"]
    assert month["answered"] == 3 and month["month"] == dt.date(2026, 11, 1)


def test_an_unknown_schema_version_is_quarantined_not_guessed(spark, settings, contract_dir):
    contract_dir()
    drop(settings, "2026-11-02", "calls_v3.jsonl", call_events("call-v3", "2026-11-02", 3))
    report = land_source(spark, settings, "callcentre", "r1")
    assert report.records_landed == 0 and report.quarantine_reasons == {contracts.UNSUPPORTED_SCHEMA_VERSION: 5}
    assert lake.exists(lake.landing_quarantine_table(settings.lake_root))



def test_a_table_built_with_another_key_is_refused_in_one_line_until_rebuilt(spark, settings, monkeypatch):
    """silver/product_holding was keyed by product before accounts were: merging into such a table would store every
    holding twice, so the build stops with one line, and the rebuild makes it right."""
    folder = settings.landing_root / "holdings"
    folder.mkdir(parents=True)
    record = {"event_id": "h1", "event_type": "product_holding_snapshot", "schema_version": 1, "occurred_at": "2026-10-31T12:00:00Z",
              "source_system": "core", "customer_ref": "C1", "snapshot_date": "2026-10-31", "product_code": "CUR",
              "product_family": "deposit", "balance": 10.0, "monthly_fees": 1.0, "interest_margin_rate": 0.01}
    (folder / "a.jsonl").write_text(json.dumps(record) + "\n")
    land_source(spark, settings, "holdings", "r1")
    with monkeypatch.context() as before_accounts:  # the pipeline as it was before holdings had accounts
        keyed_by_product = [dataclasses.replace(f, keys=("customer_key", "snapshot_date", "product_code"),
                                                build=lambda events, tz, build=f.build: build(events, tz).drop("holding_id"))
                            if f.name == "product_holding" else f for f in FACTS]
        before_accounts.setattr(silver_build, "FACTS", tuple(keyed_by_product))
        build_silver(spark, settings, "r1", ("holdings",))
    holdings = fact_table(settings.lake_root, next(f for f in FACTS if f.name == "product_holding"))
    assert "holding_id" not in {f.name for f in DeltaTable(str(holdings)).schema().fields}

    (folder / "b.jsonl").write_text(json.dumps({**record, "event_id": "h2", "snapshot_date": "2026-11-30",
                                                "occurred_at": "2026-11-30T12:00:00Z"}) + "\n")
    land_source(spark, settings, "holdings", "r2")
    with pytest.raises(StoredShapeError, match=r"its key now includes holding_id.*build-silver --full"):
        build_silver(spark, settings, "r2", ("holdings",))
    build_silver(spark, settings, "r3", ("holdings",), full=True)
    rows = DeltaTable(str(holdings)).to_pyarrow_table().to_pylist()
    assert sorted((r["snapshot_date"].isoformat(), r["holding_id"]) for r in rows) == [("2026-10-31", "CUR"), ("2026-11-30", "CUR")]

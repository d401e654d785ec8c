"""Corrections (issue 17 section 6): a re-sent event with the same event_id and different content is a correction.
The highest ``revision`` wins, then the latest delivery; an exact re-send changes nothing; bronze keeps every version;
the facts of the event's old and new keys are recomputed; and the incremental build equals a replay of every copy."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from deltalake import DeltaTable

from jobs.bronze.land import land_source
from jobs.silver.build import build_silver, intents_table, silver_events_table

DAY1 = dt.datetime(2026, 11, 2, 23, 0, tzinfo=dt.timezone.utc)
DAY2 = dt.datetime(2026, 11, 3, 23, 0, tzinfo=dt.timezone.utc)


def event(event_id, event_type, at, call_id, **fields):
    return {"event_id": event_id, "event_type": event_type, "schema_version": 1, "occurred_at": at, "source_system": "acd",
            "customer_ref": "C1", "call_id": call_id, **fields}


FIRST = [
    event("c1-o", "call_offered", "2026-11-02T09:00:00Z", "c1"),
    event("c1-q", "call_queued", "2026-11-02T09:00:10Z", "c1", queue_id="Q1"),
    event("c1-a", "call_answered", "2026-11-02T09:00:30Z", "c1", queue_id="Q1", agent_id="A1"),
    event("c1-e", "call_ended", "2026-11-02T09:02:10Z", "c1", agent_id="A1", talk_seconds=100, hold_seconds=0),
    event("c2-o", "call_offered", "2026-11-02T10:00:00Z", "c2"),
    event("c3-o", "call_offered", "2026-11-02T11:00:00Z", "c3", revision=2),
    event("c4-o", "call_offered", "2026-11-02T12:00:00Z", "c4"),
]
SECOND = [
    event("c1-e", "call_ended", "2026-11-02T09:02:10Z", "c1", agent_id="A1", talk_seconds=150, hold_seconds=0),  # corrected talk time
    event("c2-o", "call_offered", "2026-11-03T10:00:00Z", "c2"),  # corrected to the next day
    event("c1-o", "call_offered", "2026-11-02T09:00:00Z", "c1"),  # an exact re-send
    event("c3-o", "call_offered", "2026-11-02T11:30:00Z", "c3", revision=1),  # an older revision, delivered late: stale
    event("c4-o", "call_offered", "2026-11-02T12:00:00Z", "c5"),  # filed under the wrong call: c4 had no call at all
]


def deliver(settings, name, records):
    folder = settings.landing_root / "callcentre"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def rows(path, key):
    return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=lambda r: tuple(str(r[k]) for k in key))


def test_corrections_replace_their_event_and_recompute_old_and_new_facts(spark, settings):
    deliver(settings, "day1.jsonl", FIRST)
    land_source(spark, settings, "callcentre", "r1", ingested_at=DAY1)
    build_silver(spark, settings, "r1", ("callcentre",))
    deliver(settings, "day2.jsonl", SECOND)
    second = land_source(spark, settings, "callcentre", "r2", ingested_at=DAY2)
    [report] = build_silver(spark, settings, "r2", ("callcentre",))

    bronze = DeltaTable(str(settings.lake_root / "bronze" / "callcentre_events")).to_pyarrow_table().to_pylist()
    assert sorted(r["event_id"] for r in bronze) == sorted(e["event_id"] for e in FIRST + SECOND)  # every version kept
    events = {r["event_id"]: r for r in rows(silver_events_table(settings.lake_root, "callcentre"), ("event_id",))}
    assert len(events) == len(FIRST)
    assert events["c1-e"]["talk_seconds"] == 150 and events["c1-e"]["_batch_id"] == second.batch_id  # the later delivery
    assert events["c2-o"]["event_date"] == dt.date(2026, 11, 3)  # moved day: no copy left on the old one
    assert events["c1-o"]["_batch_id"] != second.batch_id  # an exact re-send keeps the first copy's lineage
    assert events["c3-o"]["revision"] == 2 and events["c3-o"]["occurred_at"].hour == 11 and events["c3-o"]["occurred_at"].minute == 0
    assert events["c4-o"]["call_id"] == "c5"
    assert (report.corrections, report.conflicting_duplicates, report.duplicates_suppressed) == (3, 1, 2)

    calls = {r["call_id"]: r for r in rows(settings.lake_root / "silver" / "call", ("call_id",))}
    assert set(calls) == {"c1", "c2", "c3", "c5"}  # c4 lost its only event to c5
    assert calls["c1"]["talk_seconds"] == 150 and calls["c2"]["call_date"] == dt.date(2026, 11, 3)

    incremental = {name: rows(settings.lake_root / "silver" / name, key)
                   for name, key in (("callcentre_events", ("event_id",)), ("call", ("call_id",)))}
    build_silver(spark, settings, "r3", ("callcentre",), full=True)  # a replay of every copy decides the same
    for name, key in (("callcentre_events", ("event_id",)), ("call", ("call_id",))):
        assert rows(settings.lake_root / "silver" / name, key) == incremental[name], name


def test_a_later_run_that_breaks_and_restores_a_version_moves_its_lineage_as_a_replay_would(spark, settings):
    deliver(settings, "a.jsonl", FIRST[:1])
    land_source(spark, settings, "callcentre", "r1", ingested_at=DAY1)
    build_silver(spark, settings, "r1", ("callcentre",))
    changed = dict(FIRST[0], customer_ref="C2")
    deliver(settings, "b.jsonl", [changed, FIRST[0]])  # another content, then the first one again, in one file
    land_source(spark, settings, "callcentre", "r2", ingested_at=DAY2)
    build_silver(spark, settings, "r2", ("callcentre",))
    table = silver_events_table(settings.lake_root, "callcentre")
    [stored] = rows(table, ("event_id",))
    assert stored["_source_file"].endswith("b.jsonl") and stored["_line_number"] == 2
    build_silver(spark, settings, "r3", ("callcentre",), full=True)
    assert rows(table, ("event_id",)) == [stored]


def test_audit_trace_shows_the_version_kept_and_the_ones_it_replaced(spark, settings):
    from interaction_lake.marts_config import MartsConfig
    from jobs.audit.trace import trace
    from jobs.gold.build import build_gold

    deliver(settings, "day1.jsonl", FIRST)
    land_source(spark, settings, "callcentre", "r1", ingested_at=DAY1)
    deliver(settings, "day2.jsonl", SECOND)
    land_source(spark, settings, "callcentre", "r2", ingested_at=DAY2)
    build_silver(spark, settings, "r2", ("callcentre",))
    build_gold(spark, settings, "g1", config=MartsConfig())
    found = trace(spark, settings.lake_root, "service_quality",
                  {"period": "day", "period_start": "2026-11-02", "channel": "callcentre", "unit_id": "ALL"})
    [calls] = [f for f in found.facts if f.fact == "call"]
    kept = {(r["event_id"], r["_source_file"].rsplit("/", 1)[-1]) for r in calls.bronze}
    assert ("c1-e", "day2.jsonl") in kept and ("c1-o", "day1.jsonl") in kept
    others = {(r["event_id"], r["_source_file"].rsplit("/", 1)[-1], r["version"]) for r in calls.other_versions}
    assert {("c1-e", "day1.jsonl", "superseded"), ("c1-o", "day2.jsonl", "resent"), ("c3-o", "day2.jsonl", "superseded")} <= others


def test_a_corrected_month_end_snapshot_extracted_in_the_next_month_replaces_its_row(spark, settings):
    """A monthly fact is filed under its snapshot's month, its events under the extract's day (the benchmark found a
    re-sent Sept 30 snapshot dated 1 October stored twice): a correction must find and replace the stored row."""
    folder = settings.landing_root / "holdings"
    folder.mkdir(parents=True)
    snapshot = {"event_id": "h1", "event_type": "product_holding_snapshot", "schema_version": 1, "occurred_at": "2026-10-01T02:00:00Z",
                "source_system": "core", "customer_ref": "C1", "snapshot_date": "2026-09-30", "product_code": "CUR",
                "product_family": "deposit", "balance": 100.0, "monthly_fees": 1.0, "interest_margin_rate": 0.01}
    (folder / "a.jsonl").write_text(json.dumps(snapshot) + "\n")
    land_source(spark, settings, "holdings", "r1", ingested_at=DAY1)
    build_silver(spark, settings, "r1", ("holdings",))
    (folder / "b.jsonl").write_text(json.dumps({**snapshot, "balance": 250.5}) + "\n" + json.dumps(snapshot | {"event_id": "h0"}) + "\n")
    land_source(spark, settings, "holdings", "r2", ingested_at=DAY2)
    build_silver(spark, settings, "r2", ("holdings",))
    rows = [(r["snapshot_date"].isoformat(), r["holding_id"], str(r["balance"]))
            for r in DeltaTable(str(settings.lake_root / "silver" / "product_holding")).to_pyarrow_table().to_pylist()]
    assert rows == [("2026-09-30", "CUR", "250.500000")]  # one row, corrected (h1 outranks h0 on the same event time)


@pytest.mark.parametrize("crash_at", ["silver_between_merge_and_insert", "silver_after_events", "silver_between_fact_merge_and_insert"])
def test_killed_after_a_day_s_corrections_then_rerun_equals_a_replay(spark, settings, run_cli, crash_at):
    """Corrections are MERGEd and new events appended, in two commits (jobs.silver.build.merge_events), then the facts of
    the corrected events' old and new keys recomputed (stored keys MERGEd, new ones appended: jobs.silver.build.upsert).
    A SIGKILL between the events' commits, before the facts, or between a fact's two commits, then the retry,
    leaves what a replay of bronze leaves: the retry finds the replaced versions' keys written down
    (jobs.silver.build.remember_versions), not in the table, which holds the new versions by then."""
    deliver(settings, "day1.jsonl", FIRST)
    land_source(spark, settings, "callcentre", "r1", ingested_at=DAY1)
    build_silver(spark, settings, "r1", ("callcentre",))
    deliver(settings, "day2.jsonl", [*SECOND, event("c6-o", "call_offered", "2026-11-03T08:00:00Z", "c6")])
    land_source(spark, settings, "callcentre", "r2", ingested_at=DAY2)
    events = silver_events_table(settings.lake_root, "callcentre")
    before = DeltaTable(str(events)).version()
    killed = run_cli(settings, "build-silver", "--source", "callcentre", "--no-gate", "--run-id", "killed",
                     crash_at=crash_at)
    assert killed.returncode == -9, killed.stderr[-2000:]
    appended = crash_at != "silver_between_merge_and_insert"
    assert DeltaTable(str(events)).version() == before + 1 + appended  # the corrections are in; the new event after them
    stored = {r["event_id"]: r for r in rows(events, ["event_id"])}
    assert ("c6-o" in stored) == appended and stored["c2-o"]["event_date"] == dt.date(2026, 11, 3)

    intents = DeltaTable(str(intents_table(settings.lake_root))).to_pyarrow_table().to_pylist()
    assert intents and {r["run_id"] for r in intents} == {"killed"}
    build_silver(spark, settings, "retry", ("callcentre",))
    # the retry finds the killed run's note and does not write it again
    assert DeltaTable(str(intents_table(settings.lake_root))).to_pyarrow_table().to_pylist() == intents
    kept = ("event_id", "event_date", "occurred_at", "_content_key", "_version_key")
    retried = [{k: r[k] for k in kept} for r in rows(events, ["event_id"])]
    assert "c6-o" in {r["event_id"] for r in retried}
    calls = rows(settings.lake_root / "silver" / "call", ["call_id"])
    build_silver(spark, settings, "replay", ("callcentre",), full=True)
    assert [{k: r[k] for k in kept} for r in rows(events, ["event_id"])] == retried
    assert rows(settings.lake_root / "silver" / "call", ["call_id"]) == calls

"""Row-level quarantine in silver: a fact that breaks a lifecycle rule is held alone, the rest of the table publishes.

The examples of the issue: a call-centre export with clock skew between its systems (a call leaves the queue
before it entered it), and a complaint whose opening event was quarantined at landing while its resolution
landed (an orphan). Neither may stop the table, be counted as complete, or vanish without a trace.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from interaction_lake.config import SilverPolicy
from interaction_lake.generator import SOURCES
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold
from jobs.silver.build import build_silver, fact_quarantine_table, fact_table
from jobs.silver.gate import blocked_tables, gate_silver
from jobs.silver.lifecycles import FACTS

FACT = {fact.name: fact for fact in FACTS}


def rows(path: Path) -> list[dict]:
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist() if (path / "_delta_log").is_dir() else []


def drop(settings, source: str, name: str, records: list[dict]) -> Path:
    path = settings.landing_root / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def event(event_type: str, at: str, n: str, customer: str | None = "C1", **fields) -> dict:
    return {"event_id": f"{event_type}-{n}", "event_type": event_type, "schema_version": 1, "occurred_at": at,
            "source_system": "acd", "customer_ref": customer, **fields}


def a_call(n: str, queued: str = "09:00:40", answered: str = "09:02:10") -> list[dict]:
    """A call offered at 09:00 that queues and is answered at the given clock times (the ACD and the switch disagree)."""
    day = "2026-11-02T"
    return [event("call_offered", f"{day}09:00:00Z", n, call_id=n),
            event("call_queued", f"{day}{queued}Z", n, call_id=n, queue_id="cards", priority=3),
            event("call_answered", f"{day}{answered}Z", n, call_id=n, queue_id="cards", agent_id="AG1"),
            event("call_ended", f"{day}09:06:00Z", n, call_id=n, agent_id="AG1", talk_seconds=200, hold_seconds=0)]


def land_and_build(spark, settings, run_id: str):
    for source in SOURCES:
        land_source(spark, settings, source, run_id)
    return {r.source: r for r in build_silver(spark, settings, run_id)}


def quarantined(settings) -> list[dict]:
    return rows(fact_quarantine_table(settings.lake_root))


def test_a_skewed_call_is_quarantined_alone_and_the_day_publishes(spark, settings):
    calls = [e for n in range(60) for e in a_call(f"ok-{n:02d}")]
    calls += a_call("skewed", queued="09:01:40", answered="09:01:00")   # answered 40 s before it queued
    calls += a_call("jitter", queued="09:01:40", answered="09:01:38")   # 2 s: within the default 5 s tolerance
    path = drop(settings, "callcentre", "calls.jsonl", calls)
    report = land_and_build(spark, settings, "r1")["callcentre"]
    assert report.facts == {"call": 62} and report.facts_quarantined == {"call": 1}

    stored = {r["call_id"]: r for r in rows(fact_table(settings.lake_root, FACT["call"]))}
    assert len(stored) == 61 and "skewed" not in stored
    assert stored["jitter"]["queue_wait_seconds"] == 0.0  # a skew within tolerance counts as no wait, never negative

    [held] = quarantined(settings)
    assert (held["fact"], held["fact_key"], held["rule"]) == ("call", "call_id=skewed", "out_of_order")
    assert "answered_at is 40.000 s before queued_at (tolerance 5 s)" in held["detail"]
    lines = path.read_text().splitlines()
    assert len(held["events"]) == 4
    for e in held["events"]:  # each event traces back to its file and line
        assert e["_source_file"].endswith("calls.jsonl") and json.loads(lines[e["_line_number"] - 1])["event_id"] == e["event_id"]

    outcomes = gate_silver(spark, settings, "r1")
    share = next(o for o in outcomes if o.table == "call_quarantined")
    assert share.passed and share.warnings, share.summary()  # 1 of 62: above the 1% warning rate, below the 25% error rate
    assert blocked_tables(spark, settings.lake_root) == []
    report = build_gold(spark, settings, "g1")  # a call-centre-only lake: its marts publish, gated
    assert set(report.rows) == {"service_quality"} and "customer_value" in report.not_built
    day = [r for r in rows(settings.lake_root / "gold" / "service_quality")
           if r["period"] == "day" and r["channel"] == "callcentre" and r["unit_id"] == "ALL"]
    assert [r["calls_offered"] for r in day] == [61]  # the marts count the 61 whole calls


def test_the_share_of_a_handful_of_facts_gets_no_verdict_until_there_are_enough(spark, settings):
    """Below the suite's meta.min_facts facts (stored + quarantined) a share is noise -- 1 of 5 calls is 20% -- and gets
    no verdict; once the validated partitions hold enough, it does."""
    calls = [e for n in range(4) for e in a_call(f"ok-{n}")] + a_call("skewed", queued="09:01:40", answered="09:01:00")
    drop(settings, "callcentre", "calls.jsonl", calls)
    land_and_build(spark, settings, "r1")
    tables = [o.table for o in gate_silver(spark, settings, "r1")]
    assert "call" in tables and "call_quarantined" not in tables
    drop(settings, "callcentre", "more.jsonl", [e for n in range(60) for e in a_call(f"more-{n:02d}")])
    land_and_build(spark, settings, "r2")
    share = next(o for o in gate_silver(spark, settings, "r2") if o.table == "call_quarantined")
    assert share.passed  # 1 of 65


def test_too_many_broken_facts_fail_the_gate_and_the_tolerance_is_configurable(spark, settings):
    calls = [e for n in range(40) for e in a_call(f"ok-{n}")]
    calls += [e for n in range(15) for e in a_call(f"skew-{n}", queued="09:01:40", answered="09:01:00")]  # 27%: above the 25% line
    drop(settings, "callcentre", "calls.jsonl", calls)
    land_and_build(spark, settings, "r1")
    outcomes = gate_silver(spark, settings, "r1")
    failed = [o for o in outcomes if not o.passed]
    assert [o.table for o in failed] == ["call_quarantined"]  # the stored calls themselves are fine
    assert blocked_tables(spark, settings.lake_root) == ["call_quarantined"]

    # The bank's systems are known to disagree by up to a minute: with that tolerance, the calls are whole.
    tolerant = dataclasses.replace(settings, silver=SilverPolicy(lifecycle_skew_seconds=60))
    build_silver(spark, tolerant, "r2", full=True)
    assert quarantined(tolerant) == [] and len(rows(fact_table(settings.lake_root, FACT["call"]))) == 55
    assert all(o.passed for o in gate_silver(spark, tolerant, "r2"))
    assert blocked_tables(spark, settings.lake_root) == []


def test_an_orphan_is_held_as_incomplete_until_its_opening_event_arrives(spark, settings):
    opened = event("complaint_opened", "2026-11-02T10:00:00Z", "P1", complaint_id="P1", channel="callcentre", category="fees", severity="low")
    resolved = event("complaint_resolved", "2026-11-03T10:00:00Z", "P1", complaint_id="P1", upheld=True)
    ok = [e for n in range(2, 60) for e in (
        event("complaint_opened", "2026-11-02T11:00:00Z", f"P{n}", complaint_id=f"P{n}", channel="counter", category="fees", severity="low"),
        event("complaint_resolved", "2026-11-02T15:00:00Z", f"P{n}", complaint_id=f"P{n}", upheld=False))]
    bad_open = {**opened, "occurred_at": "yesterday"}  # the opening line is refused at landing: only the resolution lands
    drop(settings, "survey", "d1.jsonl", [bad_open, resolved, *ok])
    report = land_and_build(spark, settings, "r1")["survey"]
    assert report.facts_quarantined["complaint"] == 1, [(q["fact_key"], q["rule"], q["detail"]) for q in quarantined(settings)]

    complaints = {r["complaint_id"]: r for r in rows(fact_table(settings.lake_root, FACT["complaint"]))}
    assert "P1" not in complaints and len(complaints) == 58  # never a "resolved" complaint with no open time and no channel
    [held] = quarantined(settings)
    assert (held["fact_key"], held["rule"]) == ("complaint_id=P1", "missing_opening_event")
    assert [e["event_type"] for e in held["events"]] == ["complaint_resolved"]
    share = next(o for o in gate_silver(spark, settings, "r1") if o.table == "complaint_quarantined")
    assert share.passed and share.warnings  # the gate sees it: 1 of 59 held

    # The corrected opening line is delivered: the complaint is whole, and leaves the quarantine.
    drop(settings, "survey", "d2.jsonl", [opened])
    land_and_build(spark, settings, "r2")
    complaints = {r["complaint_id"]: r for r in rows(fact_table(settings.lake_root, FACT["complaint"]))}
    assert complaints["P1"]["status"] == "resolved" and complaints["P1"]["channel"] == "callcentre" and complaints["P1"]["hours_to_resolve"] == 24.0
    assert quarantined(settings) == []
    assert all(o.passed for o in gate_silver(spark, settings, "r2"))


@pytest.mark.parametrize("first_seen", ["complete", "open"])
def test_a_stored_fact_that_later_breaks_a_rule_is_retired(spark, settings, first_seen):
    """A fact stored whole, then a late event that breaks its order: the stored row must go, not linger beside the quarantine row."""
    drop(settings, "callcentre", "d1.jsonl", a_call("K")[:2] if first_seen == "open" else a_call("K"))
    land_and_build(spark, settings, "r1")
    assert [r["call_id"] for r in rows(fact_table(settings.lake_root, FACT["call"]))] == ["K"]
    drop(settings, "callcentre", "d2.jsonl", [event("call_abandoned", "2026-11-02T08:00:00Z", "K-late", call_id="K", queue_id="cards")])
    land_and_build(spark, settings, "r2")
    assert rows(fact_table(settings.lake_root, FACT["call"])) == []
    assert [(q["fact_key"], q["rule"]) for q in quarantined(settings)] == [("call_id=K", "out_of_order")]


@pytest.mark.parametrize("crash_at", [None, "silver_between_fact_quarantine_merge_and_insert"])
def test_the_quarantine_kept_in_step_run_by_run_equals_a_replay(spark, settings, run_cli, crash_at):
    """A run that mends one held fact (a correction), changes another (a late event) and quarantines a new one: the
    held facts are MERGEd, the new one appended (jobs.silver.build.quarantine_facts); killed between the two commits and
    run again, or not, the quarantine and the facts are what a replay of bronze builds."""
    mended_later = a_call("M", queued="09:02:30", answered="09:02:10")
    drop(settings, "callcentre", "d1.jsonl", [*a_call("K", queued="09:02:30", answered="09:02:10")[:3], *mended_later, *a_call("ok")])
    land_and_build(spark, settings, "r1")
    assert sorted(q["fact_key"] for q in quarantined(settings)) == ["call_id=K", "call_id=M"]

    correction = {**mended_later[1], "occurred_at": "2026-11-02T09:00:40Z", "revision": 1}  # M's queue time, corrected
    drop(settings, "callcentre", "d2.jsonl", [correction, a_call("K")[3], *a_call("J", queued="09:02:30", answered="09:02:10")])
    land_source(spark, settings, "callcentre", "r2")
    if crash_at:
        killed = run_cli(settings, "build-silver", "--source", "callcentre", "--no-gate", "--run-id", "killed", crash_at=crash_at)
        assert killed.returncode == -9, killed.stderr[-2000:]
        assert sorted(q["fact_key"] for q in quarantined(settings)) == ["call_id=K"]  # M mended, K's late event in, J not yet
    build_silver(spark, settings, "r2", ("callcentre",))

    def state():
        held = sorted(((q["fact_key"], q["rule"], q["detail"], q["customer_key"], q["fact_date"], len(q["events"]))
                       for q in quarantined(settings)))
        return held, sorted(r["call_id"] for r in rows(fact_table(settings.lake_root, FACT["call"])))

    incremental = state()
    assert [(k, n) for k, *_, n in incremental[0]] == [("call_id=J", 4), ("call_id=K", 4)] and incremental[1] == ["M", "ok"]
    build_silver(spark, settings, "replay", ("callcentre",), full=True)
    assert state() == incremental


def test_the_quarantine_is_compacted_only_when_no_source_s_build_can_be_writing_it(spark, settings, monkeypatch):
    """``compact_fact_quarantine``: due, and every source's silver lock free, it compacts (same rows); with one source's
    build running (its lock held), it leaves the table to that build's MERGE and says so."""
    from interaction_lake import lake, locks
    from jobs.silver.build import compact_fact_quarantine

    monkeypatch.setattr(lake, "COMPACT_EVERY", 2)
    for day in ("d1", "d2", "d3"):  # a fact broken each day: the quarantine takes a commit each run
        drop(settings, "callcentre", f"{day}.jsonl", a_call(f"K{day}", queued="09:02:30", answered="09:02:10"))
        land_and_build(spark, settings, day)
    path = fact_quarantine_table(settings.lake_root)

    def optimized() -> int:
        return sum(h["operation"] == "OPTIMIZE" for h in DeltaTable(str(path)).history())

    before = optimized()
    assert before  # the runs compacted it as they went
    meta = {"job": "test", "run_id": "r"}
    with locks.exclusive(settings.lake_root, "silver_survey"):  # a build of the survey source is running
        drop(settings, "callcentre", "d4.jsonl", a_call("Kd4", queued="09:02:30", answered="09:02:10"))
        land_source(spark, settings, "callcentre", "d4")
        build_silver(spark, settings, "d4", ("callcentre",))  # the call centre's build runs; its end compacts nothing
        assert not compact_fact_quarantine(spark, settings.lake_root, 0, meta)
    held = sorted(q["fact_key"] for q in quarantined(settings))
    assert held == ["call_id=Kd1", "call_id=Kd2", "call_id=Kd3", "call_id=Kd4"] and optimized() == before
    assert compact_fact_quarantine(spark, settings.lake_root, 0, meta) and optimized() == before + 1
    assert sorted(q["fact_key"] for q in quarantined(settings)) == held

"""The silver gate: validates what a run changed; a failure blocks the marts until silver passes again."""

from __future__ import annotations

import json

import pytest
from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.generator import SOURCES
from interaction_lake.quality.gate import GateBlocked, results_table
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold
from jobs.silver.build import build_silver, fact_quarantine_table, fact_table
from jobs.silver.gate import blocked_tables, gate_silver
from jobs.silver.lifecycles import FACTS

CALL = next(f for f in FACTS if f.name == "call")


def test_silver_gate_passes_then_blocks_gold_after_a_bad_write_until_silver_is_rebuilt(spark, settings, small_bank):
    for source in SOURCES:
        land_source(spark, settings, source, "r1")
    build_silver(spark, settings, "r1")
    outcomes = gate_silver(spark, settings, "r1")
    assert all(o.passed for o in outcomes), [o.summary() for o in outcomes if not o.passed]
    # every table, and with each fact of at least min_facts (50) facts, the share held in quarantine/silver_facts
    held = lake.read(spark, fact_quarantine_table(settings.lake_root))
    judged = {f.name for f in FACTS if lake.read(spark, fact_table(settings.lake_root, f)).count()
              + (held.where(held.fact == f.name).count() if held is not None else 0) >= 50}
    assert judged and sorted(o.table for o in outcomes) == sorted([*(f"{s}_events" for s in SOURCES), *(f.name for f in FACTS),
                                                                  *(f"{name}_quarantined" for name in judged)])
    # the stage's results are one commit (quality.gate.StageResults), each validation still its own rows and time
    assert stage_commits(settings, "r1") == 1
    validations = lake.read(spark, results_table(settings.lake_root)).where("run_id = 'r1'").select("table_name", "validated_at").distinct()
    assert validations.count() == len(outcomes)
    assert gate_silver(spark, settings, "again") == []  # nothing changed, nothing to validate
    assert not build_gold(spark, settings, "g1").up_to_date

    # A faulty job writes a duplicate call (say, a MERGE gone wrong): the gate catches it on the changed partition.
    path = fact_table(settings.lake_root, CALL)
    duplicate = lake.read(spark, path).limit(1)
    lake.append(duplicate, path, {"job": "faulty"}, ("call_date",))
    failed, *share = gate_silver(spark, settings, "r2")
    assert all(o.table == "call_quarantined" and o.passed for o in share)  # judged when the partition holds 50 calls
    assert failed.table == "call" and not failed.passed and "expect_column_values_to_be_unique(call_id)" in failed.errors
    assert "1 changed call_date partition" in lake_scope(spark, settings)
    assert blocked_tables(spark, settings.lake_root) == ["call"]
    with pytest.raises(GateBlocked, match="call"):
        build_gold(spark, settings, "g2")

    # The fix: rebuild silver from bronze; the re-created tables validate whole and pass.
    build_silver(spark, settings, "r3", full=True)
    assert all(o.passed for o in gate_silver(spark, settings, "r3"))
    assert blocked_tables(spark, settings.lake_root) == []
    build_gold(spark, settings, "g3")


def stage_commits(settings, run_id: str) -> int:
    history = DeltaTable(str(results_table(settings.lake_root))).history()
    return sum(1 for commit in history if json.loads(commit.get("userMetadata") or "{}").get("run_id") == run_id)


def lake_scope(spark, settings) -> str:
    rows = lake.read(spark, results_table(settings.lake_root)).where("run_id = 'r2'").select("scope").distinct().collect()
    return " ".join(r.scope for r in rows)

"""Write-audit-publish for the marts: an error leaves the published marts untouched; a warning publishes."""

from __future__ import annotations

import json
import shutil

import pytest
from deltalake import DeltaTable

from interaction_lake.generator import SOURCES
from interaction_lake.quality.gate import GateFailed
from interaction_lake.quality.suites import DEFAULT_DIR
from jobs.bronze.land import land_source
from jobs.gold.build import MARTS, build_gold, mart_table, staging_root
from jobs.silver.build import build_silver


def stricter_suites(tmp_path, severity: str):
    """The shipped suites plus one rule the sample data breaks: every contact handled within a second."""
    suites = tmp_path / f"suites-{severity}"
    shutil.copytree(DEFAULT_DIR, suites)
    path = suites / "gold" / "service_quality.json"
    spec = json.loads(path.read_text())
    spec["expectations"].append({"type": "expect_column_values_to_be_between",
                                 "kwargs": {"column": "aht_seconds", "max_value": 1.0}, "meta": {"severity": severity}})
    path.write_text(json.dumps(spec))
    return suites


def versions(settings):
    return {m: DeltaTable(str(mart_table(settings.lake_root, m))).version() for m in MARTS}


def test_a_failed_gold_gate_publishes_nothing_and_a_warning_publishes(spark, settings, small_bank, tmp_path, monkeypatch):
    for source in SOURCES:
        land_source(spark, settings, source, "r1")
    build_silver(spark, settings, "r1")
    first = build_gold(spark, settings, "g1")
    assert all(o.passed for o in first.gates) and len(first.gates) == len(MARTS)
    before = versions(settings)

    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(stricter_suites(tmp_path, "error")))
    # Silver has not changed, so a build would have nothing to do: make it recompute every month (as new data would).
    monkeypatch.setattr("jobs.gold.build._first_changed_date", lambda *args: None)
    with pytest.raises(GateFailed) as failure:
        build_gold(spark, settings, "g2")
    assert [o.table for o in failure.value.outcomes] == ["service_quality"]
    assert versions(settings) == before                                   # nothing published
    assert (staging_root(settings.lake_root, "g2") / "service_quality" / "_delta_log").is_dir()  # kept for inspection

    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(stricter_suites(tmp_path, "warn")))
    warned = build_gold(spark, settings, "g3")
    service = next(o for o in warned.gates if o.table == "service_quality")
    assert service.passed and service.warnings == ["expect_column_values_to_be_between(aht_seconds)"]
    after = versions(settings)
    # published: a new version each -- but an empty at-risk list replaced by an empty one may be no commit at all
    # (Sail writes none when there is nothing to add or remove; the table's rows are the same either way)
    assert all(after[m] == before[m] + 1 for m in MARTS if m != "key_customers_at_risk")
    at_risk = DeltaTable(str(mart_table(settings.lake_root, "key_customers_at_risk")))
    assert after["key_customers_at_risk"] == before["key_customers_at_risk"] + 1 or at_risk.to_pyarrow_table().num_rows == 0
    assert not staging_root(settings.lake_root, "g3").exists()

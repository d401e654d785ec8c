"""The suite files: every one loads into Great Expectations, names its stage and table, and has valid severities."""

from __future__ import annotations

import json

import great_expectations as gx
import pytest

from interaction_lake.sources import known
from interaction_lake.quality.suites import SuiteError, all_suites, load_suite
from jobs.gold.build import MARTS
from jobs.silver.lifecycles import FACTS


def test_there_is_one_suite_per_table_and_stage():
    names = {(s.stage, s.table) for s in all_suites()}
    expected = ({("bronze", f"{s}_events") for s in known()} | {("silver", f"{s}_events") for s in known()}
                | {("silver", f.name) for f in FACTS} | {("silver", "facts_quarantined")} | {("gold", m) for m in MARTS})
    assert names == expected


@pytest.mark.parametrize("suite", all_suites(), ids=lambda s: s.name)
def test_each_suite_is_a_valid_great_expectations_suite(suite):
    built = gx.ExpectationSuite(name=suite.name, expectations=suite.spec["expectations"])
    assert len(built.expectations) == len(suite.spec["expectations"]) > 0
    assert set(suite.severities()) <= {"error", "warn"} and "error" in suite.severities()


def test_a_bad_severity_is_refused(tmp_path, monkeypatch):
    (tmp_path / "silver").mkdir()
    (tmp_path / "silver" / "call.json").write_text(json.dumps({"name": "silver.call", "expectations": [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "call_id"}, "meta": {"severity": "fatal"}}]}))
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(tmp_path))
    with pytest.raises(SuiteError, match="severity 'fatal'"):
        load_suite("silver", "call")
    with pytest.raises(SuiteError, match="no expectation suite"):
        load_suite("silver", "complaint")

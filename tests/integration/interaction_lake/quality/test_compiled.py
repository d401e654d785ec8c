"""The compiled gate evaluator against Great Expectations itself: the same verdicts, counts and observed values.

The fast path (one aggregate query per suite) replaces Great Expectations' validator in every gate, so it must
agree with it on every expectation the suites use -- on passing, failing, empty, all-null and hostile frames, on
random suites (hypothesis) and on every suite file in ``expectations/`` -- and fall back to it for what it does
not compile. The conformance scenario (tests/integration/conformance) compares the two on a whole pipeline too:
its embedded run is validated by Great Expectations, its Spark run by the compiled evaluator.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from pyspark.sql import types as T

from interaction_lake.quality import compiled, gate
from interaction_lake.quality.suites import SuiteError, SuiteFile, all_suites

SCHEMA = T.StructType([T.StructField("i", T.LongType()), T.StructField("d", T.DoubleType()), T.StructField("s", T.StringType()),
                       T.StructField("b", T.BooleanType()), T.StructField("t", T.TimestampType())])
COMPARED = ("observed_value", "element_count", "unexpected_count", "missing_count", "unexpected_percent",
            "unexpected_percent_total", "missing_percent")


def _normal(result) -> dict:
    """What must agree: the verdict, whether it raised, and the figures of the result (floats to 9 digits)."""
    figures = {}
    for key in COMPARED:
        value = result.result.get(key)
        if isinstance(value, float):
            value = None if math.isnan(value) else float(f"{value:.9g}")
        if isinstance(value, dt.datetime):
            value = value.replace(tzinfo=None).isoformat()
        figures[key] = value
    return {"type": result.type, "kwargs": result.kwargs, "success": result.success,
            "raised": result.exception is not None, **({} if result.exception else figures)}


def both(spark, tmp_path, frame, spec: dict) -> tuple[list[dict], list[dict]]:
    # One name per suite: Great Expectations keeps the suites it saw under their names for the process.
    name = spec.get("name") or f"silver.fuzz_{hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]}"
    suite = SuiteFile("silver", name.split(".")[1], {**spec, "name": name})
    try:
        reference, _ = gate._great_expectations(frame, suite, tmp_path / "lake", "differential")
    except Exception as refused:  # noqa: BLE001 - Great Expectations refuses to build the suite: so must the fast path
        with pytest.raises(SuiteError):
            compiled.evaluate(frame, suite.spec)
        return [repr(refused)], [repr(refused)]
    fast = compiled.evaluate(frame, suite.spec)
    order = lambda results: sorted((_normal(r) for r in results), key=lambda r: json.dumps(r, sort_keys=True, default=str))  # noqa: E731
    return order(fast), order(reference)  # Great Expectations returns its results grouped by column


values = {
    "i": st.one_of(st.none(), st.integers(-5, 5)),
    "d": st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.25, 1.0, 7.5, 1e9])),
    "s": st.one_of(st.none(), st.sampled_from(["a", "b", "A1", "ab" * 32, "0" * 64, "", "é"])),
    "b": st.one_of(st.none(), st.booleans()),
    "t": st.one_of(st.none(), st.sampled_from([dt.datetime(2026, 1, 1), dt.datetime(2026, 6, 30, 23, 59)])),
}
rows = st.lists(st.tuples(*values.values()), max_size=12)
column = st.sampled_from(["i", "d", "s", "b", "t", "missing"])
bound = st.one_of(st.none(), st.sampled_from([-2, 0, 0.25, 1, 3, 10]))
mostly = st.one_of(st.none(), st.sampled_from([0.5, 0.9, 1]))


def _with(kwargs: dict, **optional) -> dict:
    return {**kwargs, **{k: v for k, v in optional.items() if v is not None}}


expectation = st.one_of(
    st.builds(lambda lo, hi: ("expect_table_row_count_to_be_between", _with({}, min_value=lo, max_value=hi)),
              *[st.one_of(st.none(), st.integers(-1, 3))] * 2),  # non-integer bounds go to GX: see test_what_it_compiles
    st.builds(lambda c, m: ("expect_column_values_to_not_be_null", _with({"column": c}, mostly=m)), column, mostly),
    st.builds(lambda c, m: ("expect_column_values_to_be_unique", _with({"column": c}, mostly=m)), column, mostly),
    st.builds(lambda c, lo, hi, m, strict: ("expect_column_values_to_be_between",
                                            _with({"column": c}, min_value=lo, max_value=hi, mostly=m, strict_min=strict)),
              st.sampled_from(["i", "d", "missing"]), bound, bound, mostly, st.one_of(st.none(), st.booleans())),
    st.builds(lambda c, vs, m: ("expect_column_values_to_be_in_set", _with({"column": c, "value_set": vs}, mostly=m)),
              st.sampled_from(["i", "s", "b"]), st.sampled_from([[True], [1, 2, 3], ["a", "b"], []]), mostly),
    st.builds(lambda c, rx: ("expect_column_values_to_match_regex", {"column": c, "regex": rx}),
              st.sampled_from(["s", "missing"]), st.sampled_from(["^[0-9a-f]{64}$", "^[A-Z]", "b", "^$"])),
    st.builds(lambda c, lo, hi: ("expect_column_max_to_be_between", _with({"column": c}, min_value=lo, max_value=hi)),
              st.sampled_from(["i", "d", "missing"]), bound, bound),
    st.builds(lambda c, lo, hi: ("expect_column_mean_to_be_between", _with({"column": c}, min_value=lo, max_value=hi)),
              st.sampled_from(["i", "d"]), bound, bound),
)


@hypothesis_settings(max_examples=40, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=rows, chosen=st.lists(expectation, min_size=1, max_size=6))
def test_random_suites_on_random_frames_get_great_expectations_verdicts(spark, tmp_path, data, chosen):
    frame = spark.createDataFrame(data, SCHEMA)
    spec = {"expectations": [{"type": kind, "kwargs": kwargs, "meta": {"severity": "error"}} for kind, kwargs in chosen]}
    fast, reference = both(spark, tmp_path, frame, spec)
    assert fast == reference


@hypothesis_settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(suites=st.lists(st.tuples(rows, st.lists(expectation, min_size=1, max_size=4)), min_size=2, max_size=4))
def test_a_stage_s_suites_fetched_by_one_query_get_each_suite_s_own_results(spark, suites):
    """``evaluate_many`` (a gate stage's suites in one query) is ``evaluate`` suite by suite -- verdicts, figures and
    failing rows -- including when one suite's expectation breaks the joint query (the mean of a text column)."""
    jobs = [(spark.createDataFrame(data, SCHEMA),
             {"expectations": [{"type": kind, "kwargs": kwargs, "meta": {"severity": "error"}} for kind, kwargs in chosen]})
            for data, chosen in suites]
    try:
        alone = [compiled.evaluate(frame, spec) for frame, spec in jobs]
    except SuiteError:  # a suite Great Expectations would refuse: refused together as well
        with pytest.raises(SuiteError):
            compiled.evaluate_many(jobs)
        return
    together = compiled.evaluate_many(jobs)
    shown = lambda results: [(_normal(r), r.sample) for r in results]  # noqa: E731
    assert [shown(r) for r in together] == [shown(r) for r in alone]


def test_a_suite_that_breaks_the_joint_query_leaves_the_others_their_results(spark):
    frame = spark.createDataFrame([("a", 1.0), ("b", -2.0)], "s string, d double")
    good = {"expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "d", "min_value": 0}}]}
    bad = {"expectations": [{"type": "expect_column_mean_to_be_between", "kwargs": {"column": "s", "max_value": 1}}]}
    [first, second] = compiled.evaluate_many([(frame, good), (frame, bad)])
    assert not first[0].success and first[0].result["unexpected_count"] == 1 and first[0].exception is None
    assert second[0].exception is not None


def _frame_for(spark, suite: SuiteFile, seed: int):
    """Rows for the suite's own columns, typed from what it expects of them, about a third of them breaking it."""
    kinds: dict[str, T.DataType] = {}
    for e in suite.spec["expectations"]:
        name, kwargs = e["kwargs"].get("column"), e["kwargs"]
        if name is None:
            continue
        if "value_set" in kwargs:
            sample = kwargs["value_set"][0]
            kinds[name] = T.BooleanType() if isinstance(sample, bool) else T.LongType() if isinstance(sample, int) else T.StringType()
        elif e["type"].endswith(("between", "mean_to_be_between")) and name not in kinds:
            kinds[name] = T.DoubleType()
        else:
            kinds.setdefault(name, T.StringType())
    pool = {name: _values(suite, name, kind) for name, kind in kinds.items()}
    chance = random.Random(seed)
    data = [tuple(chance.choice(pool[name]) for name in kinds) for _ in range(chance.randint(0, 30))]
    return spark.createDataFrame(data, T.StructType([T.StructField(n, k) for n, k in kinds.items()]))


def _values(suite: SuiteFile, name: str, kind: T.DataType) -> list:
    """Values that pass and values that fail each of the column's expectations, and null."""
    found: list = [None]
    for e in suite.spec["expectations"]:
        kwargs = e["kwargs"]
        if kwargs.get("column") != name:
            continue
        if "value_set" in kwargs:
            found += list(kwargs["value_set"]) + ([False] if isinstance(kind, T.BooleanType) else ["not-in-set"])
        if "regex" in kwargs:
            found += ["0" * 64, "f" * 64, "EUR", "not a key", "eur"]
        for key in ("min_value", "max_value"):
            if isinstance(kwargs.get(key), (int, float)):
                found += [kwargs[key] - 1.5, float(kwargs[key]), kwargs[key] + 0.5]
    if isinstance(kind, T.DoubleType):
        return [v if v is None else float(v) for v in found if v is None or isinstance(v, (int, float))] + [0.0]
    if isinstance(kind, T.BooleanType):
        return [v for v in found if v is None or isinstance(v, bool)] + [True]
    if isinstance(kind, T.LongType):
        return [v for v in found if v is None or (isinstance(v, int) and not isinstance(v, bool))] + [-1, 10**6]
    return [v for v in found if v is None or isinstance(v, str)] + ["x", "x", "y"]


@pytest.mark.parametrize("suite", all_suites(), ids=lambda s: s.name)
def test_every_suite_file_gets_great_expectations_verdicts(spark, tmp_path, suite):
    assert compiled.compilable(suite.spec), f"{suite.name} uses an expectation type the compiled evaluator does not know"
    for seed in range(2):
        fast, reference = both(spark, tmp_path, _frame_for(spark, suite, seed), suite.spec)
        assert fast == reference, (suite.name, seed)


def test_a_suite_it_cannot_compile_is_validated_by_great_expectations(spark, settings, tmp_path, monkeypatch):
    suites = tmp_path / "suites"
    (suites / "silver").mkdir(parents=True)
    (suites / "silver" / "call.json").write_text(json.dumps({"name": "silver.call", "expectations": [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "call_id"}},
        {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "call_id", "max_value": 2}}]}))
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    frame = spark.createDataFrame([("c1",), ("c22",), ("c22",)], "call_id string")
    outcome = gate.validate(spark, settings.lake_root, "silver", "call", frame, "run-1")
    assert outcome.errors == ["expect_column_values_to_be_unique(call_id)", "expect_column_value_lengths_to_be_between(call_id)"]
    assert not any(isinstance(i, gate.PendingDocs) for i in outcome.docs_ids)  # Great Expectations ran it


def test_a_column_the_engine_cannot_compare_fails_its_expectation_and_not_the_others(spark, tmp_path):
    frame = spark.createDataFrame([("a", 1.0), ("b", 2.0)], "s string, d double")
    spec = {"expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "s", "min_value": 0}},
                             {"type": "expect_column_values_to_be_between", "kwargs": {"column": "d", "min_value": 0}},
                             {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "s", "max_value": 1}}]}
    fast, reference = both(spark, tmp_path, frame, spec)
    assert fast == reference
    assert sorted((r["type"][7:], r["kwargs"]["column"], r["success"], r["raised"]) for r in fast) == [
        ("column_mean_to_be_between", "s", False, True), ("column_values_to_be_between", "d", True, False),
        ("column_values_to_be_between", "s", False, True)]


def test_what_it_compiles():
    rows = lambda **kwargs: {"expectations": [{"type": "expect_table_row_count_to_be_between", "kwargs": kwargs}]}  # noqa: E731
    assert compiled.compilable(rows(min_value=1)) and compiled.compilable(rows(min_value=0, max_value=None))
    assert not compiled.compilable(rows(min_value=0.25))  # Great Expectations makes it 0
    assert not compiled.compilable({"expectations": [{"type": "expect_column_values_to_not_be_null",
                                                      "kwargs": {"column": "a", "row_condition": "b > 1"}}]})


def test_the_evaluator_is_named_or_refused(monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_GATE_EVALUATOR", "fast")
    with pytest.raises(ValueError, match="use one of compiled, great_expectations"):
        gate.evaluator()

"""Evaluate a Great Expectations suite file as one aggregate query: the gates' fast path.

Great Expectations resolves a suite's metrics with a few Spark jobs per expectation and costs seconds to
import; the suites in ``expectations/`` use eight expectation types whose verdicts are aggregates, so a
suite compiles into one ``select`` of aggregates over the frame (a uniqueness check adds a window) and
its results come back in Great Expectations' result format: ``success`` and ``result`` with
``observed_value`` or ``element_count`` / ``unexpected_count`` / ``missing_count`` and the percentages.

The semantics are Great Expectations 1.x's, type by type (``great_expectations/expectations``):
column-map types count only non-null values and are vacuously true on an empty or all-null column;
``mostly`` compares (non-null − unexpected) / non-null; a column aggregate of nothing fails. The
differential test ``tests/integration/interaction_lake/quality/test_compiled.py`` proves verdicts, counts
and observed values equal to Great Expectations' own, on passing, failing and hostile frames. A suite
that uses any other type, or a row condition, is evaluated by Great Expectations (:func:`compilable`),
so no verdict can drift from the suite file.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake.quality.suites import SuiteError

MAP_TYPES = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_between", "expect_column_values_to_be_in_set",
             "expect_column_values_to_match_regex", "expect_column_values_to_be_unique")
AGGREGATE_TYPES = ("expect_table_row_count_to_be_between", "expect_column_max_to_be_between", "expect_column_mean_to_be_between")
SUPPORTED = MAP_TYPES + AGGREGATE_TYPES
# kwargs that change what is evaluated; any other (row_condition, ignore_row_if, parse_strings_as_datetimes...) sends
# the suite to Great Expectations. result_format / catch_exceptions / meta-like keys change only the report.
KNOWN_KWARGS = {"column", "min_value", "max_value", "strict_min", "strict_max", "mostly", "value_set", "regex",
                "result_format", "catch_exceptions"}


# Columns that say where a row came from, shown with a failing row; a frame with none shows its first columns instead.
LINEAGE = ("_batch_id", "_source_file", "_line_number", "event_id", "source_file", "line_number")
SAMPLE_ROWS = 5


class ExpectationError(ValueError):
    """An expectation that cannot be evaluated on this frame: recorded as a failed result with the reason."""


@dataclass
class Result:
    """One expectation's outcome, in Great Expectations' result format."""

    type: str
    kwargs: dict
    meta: dict
    success: bool
    result: dict = field(default_factory=dict)
    exception: str | None = None
    sample: list[dict] = field(default_factory=list)  # a few failing rows with their lineage (compiled map types only)


def compilable(spec: dict) -> bool:
    """True when every expectation of the suite is one this module evaluates exactly as Great Expectations does."""
    return all(_compilable(e.get("type"), e.get("kwargs", {})) for e in spec["expectations"])


def _compilable(kind: str, kwargs: dict) -> bool:
    if kind not in SUPPORTED or not set(kwargs) <= KNOWN_KWARGS:
        return False
    if kind == "expect_table_row_count_to_be_between":  # GX coerces its bounds to integers (0.25 becomes 0)
        return all(b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in (kwargs.get("min_value"), kwargs.get("max_value")))
    return True


def check(spec: dict) -> None:
    """Refuse a suite Great Expectations would refuse to build (it raises before validating anything)."""
    for number, e in enumerate(spec["expectations"], 1):
        kwargs = e.get("kwargs", {})
        low, high, mostly = kwargs.get("min_value"), kwargs.get("max_value"), kwargs.get("mostly", 1)
        if (e["type"] == "expect_table_row_count_to_be_between" and low is not None and high is not None
                and not isinstance(low, str) and not isinstance(high, str) and low > high):
            raise SuiteError(f"{spec.get('name')}: expectation {number} ({e['type']}) has min_value {low} above max_value {high}")
        if e["type"] == "expect_column_values_to_be_between" and low is None and high is None:
            raise SuiteError(f"{spec.get('name')}: expectation {number} ({e['type']}) needs min_value or max_value")
        if not isinstance(mostly, (int, float)) or not 0 <= mostly <= 1:
            raise SuiteError(f"{spec.get('name')}: expectation {number} ({e['type']}) has mostly {mostly!r}; it must be within [0, 1]")


def evaluate(frame: DataFrame, spec: dict) -> list[Result]:
    """Every expectation of ``spec`` on ``frame``, from one aggregate query (per-expectation queries if it fails)."""
    check(spec)
    plans = _plans(frame, spec)
    good = [p for p in plans if not isinstance(p, Result)]
    values: dict[str, object] = {}
    if good:
        try:
            values = _collect(frame, good)
        except Exception:  # noqa: BLE001 - one expectation the engine cannot evaluate must not hide the others' results
            for plan in good:
                try:
                    values.update(_collect(frame, [plan]))
                except Exception as error:  # noqa: BLE001 - recorded as that expectation's failure, as GX does
                    plan.error = _one_line(error)
    return _results(frame, plans, values)


def evaluate_many(suites: list[tuple[DataFrame, dict]]) -> list[list[Result]]:
    """``evaluate`` of several suites, each on its frame, with every suite's aggregates fetched by one query -- a cross
    join of the suites' one-row aggregates -- instead of a query each: a gate stage validates a dozen small frames, and
    the engine's fixed cost per query was most of their time. If that query fails (an expectation the engine cannot
    evaluate), or a suite is malformed, each suite is evaluated alone by ``evaluate``: the results are ``evaluate``'s,
    suite by suite (the differential test in ``tests/integration/interaction_lake/quality/test_compiled.py``)."""
    if len(suites) < 2:
        return [evaluate(frame, spec) for frame, spec in suites]
    try:
        for _, spec in suites:
            check(spec)
        planned = [_plans(frame, spec) for frame, spec in suites]
        rows = [_aggregates(frame, good, f"_s{index}_") for index, ((frame, _), plans) in enumerate(zip(suites, planned))
                if (good := [p for p in plans if not isinstance(p, Result)])]
        values = functools.reduce(DataFrame.crossJoin, rows).collect()[0].asDict() if rows else {}
    except Exception:  # noqa: BLE001 - evaluated one by one: as evaluate does, or raises, for each suite
        return [evaluate(frame, spec) for frame, spec in suites]
    return [_results(frame, plans, {name[len(f"_s{index}_"):]: value for name, value in values.items() if name.startswith(f"_s{index}_")})
            for index, ((frame, _), plans) in enumerate(zip(suites, planned))]


def _results(frame: DataFrame, plans: list, values: dict) -> list[Result]:
    """The plans' results from the aggregates' values; a failing map expectation's sample rows fetched (a query each)."""
    results = [p if isinstance(p, Result) else p.result(values) for p in plans]
    for plan, result in zip(plans, results):
        if isinstance(plan, _Plan) and plan.unexpected is not None and not result.success and result.result.get("unexpected_count"):
            result.sample = _sample(frame, plan)
            result.result["partial_unexpected_list"] = [row[plan.kwargs["column"]] for row in result.sample]
    return results


def sample(frame: DataFrame, expectation: dict) -> list[dict]:
    """Failing rows of one column-map expectation, for a result Great Expectations computed (it keeps no lineage)."""
    plan = _plan(frame.schema, 0, expectation)
    return _sample(frame, plan) if isinstance(plan, _Plan) and plan.unexpected is not None else []


def _sample(frame: DataFrame, plan: "_Plan") -> list[dict]:
    """Up to SAMPLE_ROWS failing rows: the checked column and where each row came from (a second query, run only on failure)."""
    column = plan.kwargs["column"]
    shown = [c for c in LINEAGE if c in frame.columns] or [c for c in frame.columns if not c.startswith("_")][:3]
    shown = [column] + [c for c in shown if c != column]
    source = frame.select("*", *[c.alias(n) for n, c in plan.windows.items()]) if plan.windows else frame
    try:
        picked = source.where(plan.unexpected).select(*[F.col(f"`{c}`") for c in shown])
        rows = picked.orderBy(*[F.col(f"`{c}`").asc_nulls_first() for c in shown]).limit(SAMPLE_ROWS).collect()  # the same rows on any engine
    except Exception:  # noqa: BLE001 - the verdict stands without its illustration
        return []
    return [{c: (v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v) for c, v in row.asDict().items()} for row in rows]


@dataclass
class _Plan:
    number: int
    expectation: dict
    aggregates: dict[str, Column]
    windows: dict[str, Column] = field(default_factory=dict)
    unexpected: Column | None = None  # a map type's failing-row condition, for the sample
    error: str | None = None

    @property
    def type(self) -> str:
        return self.expectation["type"]

    @property
    def kwargs(self) -> dict:
        return self.expectation.get("kwargs", {})

    def name(self, what: str) -> str:
        return f"_e{self.number}_{what}"

    def result(self, values: dict) -> Result:
        outcome = Result(self.type, dict(self.kwargs), dict(self.expectation.get("meta") or {}), False)
        if self.error:
            outcome.exception, outcome.result = self.error, {}
            return outcome
        get = {what: values[self.name(what)] for what in self.aggregates}
        if self.type in MAP_TYPES:
            outcome.success, outcome.result = _map_result(self.type, get, self.kwargs.get("mostly", 1))
        else:
            outcome.success, outcome.result = _between(get["observed"], self.kwargs)
        return outcome


def _collect(frame: DataFrame, plans: list[_Plan]) -> dict:
    return _aggregates(frame, plans).collect()[0].asDict()


def _aggregates(frame: DataFrame, plans: list[_Plan], prefix: str = "") -> DataFrame:
    """The plans' aggregates over ``frame`` as one row, each column named ``prefix`` + the plan's name for it."""
    windows = {name: column for p in plans for name, column in p.windows.items()}
    source = frame.select("*", *[column.alias(name) for name, column in windows.items()]) if windows else frame
    return source.agg(*[column.alias(prefix + p.name(what)) for p in plans for what, column in p.aggregates.items()])


def _plans(frame: DataFrame, spec: dict) -> list[_Plan | Result]:
    """Each expectation's plan over ``frame``, whose schema is asked for once (an analysis by the engine), not once each."""
    schema = frame.schema
    return [_plan(schema, number, e) for number, e in enumerate(spec["expectations"])]


def _plan(schema: T.StructType, number: int, expectation: dict) -> _Plan | Result:
    kind, kwargs = expectation["type"], expectation.get("kwargs", {})
    plan = _Plan(number, expectation, {})
    try:
        if kind == "expect_table_row_count_to_be_between":
            plan.aggregates = {"observed": F.count(F.lit(1))}
            return plan
        column = _column(schema, kwargs.get("column"))
        if kind == "expect_column_max_to_be_between":
            plan.aggregates = {"observed": F.max(column)}
        elif kind == "expect_column_mean_to_be_between":
            plan.aggregates = {"observed": F.avg(column)}
        elif kind == "expect_column_values_to_not_be_null":
            plan.unexpected = column.isNull()
            plan.aggregates = {"rows": F.count(F.lit(1)), "unexpected": F.sum(F.when(plan.unexpected, 1).otherwise(0))}
        else:
            if kind == "expect_column_values_to_be_unique":
                # GX: count(*) over (partition by column) <= 1, on the non-null rows; nulls share one partition of their own.
                plan.windows = {plan.name("seen"): F.count(F.lit(1)).over(Window.partitionBy(column))}
                expected = F.col(plan.name("seen")) <= 1
            else:
                expected = _condition(kind, column, kwargs, schema[kwargs["column"]].dataType)
            unexpected = plan.unexpected = column.isNotNull() & ~expected
            plan.aggregates = {"rows": F.count(F.lit(1)), "nonnull": F.count(column),
                               # GX counts a window's unexpected rows (0 of none) but sums the others' (None of none)
                               "unexpected": F.count(F.when(unexpected, 1)) if plan.windows else F.sum(F.when(unexpected, 1).otherwise(0))}
    except ExpectationError as error:
        return Result(kind, dict(kwargs), dict(expectation.get("meta") or {}), False, {}, str(error))
    return plan


def _column(schema: T.StructType, name: str | None) -> Column:
    if name not in schema.names:
        raise ExpectationError(f"column {name!r} is not in the validated data (columns: {', '.join(schema.names)})")
    return F.col(f"`{name}`")


def _condition(kind: str, column: Column, kwargs: dict, data_type: T.DataType) -> Column:
    if kind == "expect_column_values_to_be_in_set":
        value_set = kwargs.get("value_set")
        return F.lit(True) if value_set is None else column.isin(list(value_set))
    if kind == "expect_column_values_to_match_regex":
        return column.rlike(kwargs["regex"])
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None and low > high:
        raise ExpectationError("min_value cannot be greater than max_value")
    bounds = [b for b in (low, high) if b is not None]
    if isinstance(data_type, T.StringType) and not all(isinstance(b, str) for b in bounds):
        # GX on Spark 4 rejects a string column against numeric bounds (ANSI mode would fail the query).
        raise ExpectationError(f"column type {data_type.simpleString()} cannot be compared with {bounds}")
    checks = []
    if low is not None:
        checks.append(column > F.lit(low) if kwargs.get("strict_min") else column >= F.lit(low))
    if high is not None:
        checks.append(column < F.lit(high) if kwargs.get("strict_max") else column <= F.lit(high))
    return checks[0] if len(checks) == 1 else checks[0] & checks[1]


def _map_result(kind: str, values: dict, mostly: float) -> tuple[bool, dict]:
    """GX's ColumnMapExpectation._validate and _format_map_output; not-null counts every row as considered.
    The unexpected count of no rows is None (a SUM over nothing), as Great Expectations reports it."""
    rows, unexpected = int(values["rows"] or 0), values["unexpected"]
    unexpected = None if unexpected is None else int(unexpected)
    if kind == "expect_column_values_to_not_be_null":
        success = rows == 0 or (rows - unexpected) / rows >= mostly
        share = unexpected / rows * 100 if rows and unexpected is not None else None
        return success, {"element_count": rows, "unexpected_count": unexpected, "unexpected_percent": share,
                         "partial_unexpected_list": []}
    nonnull = int(values["nonnull"] or 0)
    success = unexpected is None or rows == 0 or nonnull == 0 or (float(nonnull) - float(unexpected)) / float(nonnull) >= mostly
    missing = rows - nonnull
    counted = unexpected is not None and rows > 0
    nonmissing_share = unexpected / nonnull * 100 if counted and nonnull else None
    return success, {"element_count": rows, "unexpected_count": unexpected, "unexpected_percent": nonmissing_share,
                     "partial_unexpected_list": [], "missing_count": missing,
                     "missing_percent": missing / rows * 100 if counted else None,
                     "unexpected_percent_total": unexpected / rows * 100 if counted else None,
                     "unexpected_percent_nonmissing": nonmissing_share}


def _between(observed, kwargs: dict) -> tuple[bool, dict]:
    """GX's _validate_metric_value_between: nothing observed fails; date-time bounds given as text are parsed."""
    if observed is None or (isinstance(observed, float) and math.isnan(observed)):
        return False, {"observed_value": None}
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if isinstance(observed, dt.datetime):
        low, high = (_datetime(b) if isinstance(b, str) else b for b in (low, high))
    above = low is None or (observed > low if kwargs.get("strict_min") else observed >= low)
    below = high is None or (observed < high if kwargs.get("strict_max") else observed <= high)
    return bool(above and below), {"observed_value": observed}


def _datetime(text: str) -> dt.datetime:
    from dateutil.parser import parse

    return parse(text)


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]

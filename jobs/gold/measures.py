"""Small column builders every mart shares: safe ratios, counts of a condition, months, score bands.

Keeping them in one place keeps one definition of, say, a rate whose denominator is zero (null, not
0 and not an error) across all marts.
"""

from __future__ import annotations

import datetime as dt
import functools

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def count_if(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0))


def ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator as a double; null when the denominator is zero or null."""
    return F.when(denominator > 0, numerator.cast("double") / denominator)


def month_of(date: Column) -> Column:
    return F.trunc(date, "month")


def with_day_and_month(rows: DataFrame, date_column: str) -> DataFrame:
    """Each row twice, as a ``day`` row and a ``month`` row: ``period``, ``period_start`` (the day, or its month's first
    day) and ``month`` (the partition). A mart grouping by them must never add the two kinds of rows together.

    One pass over ``rows`` (an ``explode``), not a union of two: a union evaluates its input once per side, and the
    input may be a join (service quality's calls with their first-contact resolution: 4x the work, measured)."""
    date = F.col(date_column)
    return (rows.withColumn("_period", F.explode(F.array(F.struct(F.lit("day").alias("period"), date.alias("period_start")),
                                                          F.struct(F.lit("month").alias("period"), month_of(date).alias("period_start")))))
            .withColumn("period", F.col("_period.period")).withColumn("period_start", F.col("_period.period_start"))
            .drop("_period").withColumn("month", month_of(date)))


def each_and_all(rows: DataFrame, column: str, every: str) -> DataFrame:
    """Each row twice: once as it is, once with ``column`` set to ``every`` (a mart's rows for the whole channel
    beside its rows per unit); a row whose ``column`` is null only once, as ``every``."""
    return rows.withColumn(column, F.explode(F.array(F.col(column), F.lit(every)))).where(F.col(column).isNotNull())


def month_end(month: Column) -> Column:
    return F.last_day(month)


def score_1_to_5(rank: Column) -> Column:
    """A percent rank in [0, 1] as a score 1..5 (quintiles; equal values get equal scores)."""
    return F.least(F.lit(5), F.floor(rank * 5).cast("int") + 1)


def joined_key(*columns: str | Column) -> Column:
    """One string column for a multi-column join (the embedded engine mis-joins on several columns in self-joins)."""
    return F.concat_ws("\u0001", *[(F.col(c) if isinstance(c, str) else c).cast("string") for c in columns])


def months_between_inclusive(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def union_all(*frames: DataFrame) -> DataFrame:
    """Union by name, filling columns a frame lacks with typed nulls.

    Not ``unionByName(allowMissingColumns=True)``: the embedded engine (Sail 0.7.2) types a column the
    first frame lacks as void, which Delta cannot store.
    """
    types: dict[str, T.DataType] = {}
    for frame in frames:
        for f in frame.schema.fields:
            types.setdefault(f.name, f.dataType)
    aligned = [frame.select(*[F.col(n) if n in frame.columns else F.lit(None).cast(t).alias(n) for n, t in types.items()])
               for frame in frames]
    return functools.reduce(lambda a, b: a.unionByName(b), aligned)


EXACT = "decimal(38,9)"
# Money in the marts: exact decimals, rounded half-up to 4 places (a hundredth of a cent) once, where a figure is
# published; sums, differences, ranks and the tier lines are taken on these exact values (docs/metrics.md, "Money").
MONEY = "decimal(20,4)"


def money(column: Column | str) -> Column:
    """An amount as published money: ``decimal(20,4)``, rounded half-up."""
    return F.round((F.col(column) if isinstance(column, str) else column).cast(EXACT), 4).cast(MONEY)


def money_sum(column: Column | str) -> Column:
    """The exact sum of amounts, as published money."""
    return money(F.sum((F.col(column) if isinstance(column, str) else column).cast(EXACT)))


def decimal_literal(value: float | int | str) -> Column:
    """A configured number as an exact decimal: 0.92 is 0.92, not the double nearest to it."""
    return F.lit(str(value)).cast(EXACT)


MEAN_UNITS = 10 ** 6  # a mean is exact to the millionth: of a second, an hour or a score point


def exact_mean(column: Column | str) -> Column:
    """Mean of numbers, the same bits on every engine and in every order: each value is taken in millionths as an
    integer, the integer sum is divided by the count in integer arithmetic and rounded half up, and the result (an
    integer below 2**52 divided by 10**6) is formed as a double the way IEEE arithmetic does everywhere.

    Not ``avg`` of a decimal: the engines' decimal averages differ in the last digit (Sail truncates the quotient
    where Spark rounds it), so the marts of the two engines differed in the last bit of every mean that does not
    terminate (found running the DAGs on both: tests/integration/dags/test_scheduler.py)."""
    value = F.col(column) if isinstance(column, str) else column
    units = F.round(value.cast("double") * MEAN_UNITS).cast("long")
    total, count = F.sum(units), F.count(units)
    divisor = F.greatest(count, F.lit(1))  # no division by zero (ANSI mode) where there is nothing to average
    guess = F.floor(total / divisor).cast("long")  # a double quotient: at most one off, corrected next
    quotient = guess - F.when(total - guess * divisor < 0, 1).otherwise(0) + F.when(total - guess * divisor >= divisor, 1).otherwise(0)
    rounded = quotient + F.when(2 * (total - quotient * divisor) >= divisor, 1).otherwise(0)
    return F.when(count > 0, rounded.cast("double") / MEAN_UNITS)

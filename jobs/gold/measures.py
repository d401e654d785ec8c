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
    day) and ``month`` (the partition). A mart grouping by them must never add the two kinds of rows together."""
    date = F.col(date_column)
    day = rows.withColumn("period", F.lit("day")).withColumn("period_start", date)
    month = rows.withColumn("period", F.lit("month")).withColumn("period_start", month_of(date))
    return day.unionByName(month).withColumn("month", month_of(date))


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


def exact_sum(column: Column | str) -> Column:
    """Sum of doubles in exact decimal arithmetic (to 1e-9), returned as a double.

    A plain double sum depends on the order the engine adds the partial sums in, so two runs over the
    same rows could differ in the last bits; rebuilt marts must equal incremental ones exactly.
    """
    return F.sum((F.col(column) if isinstance(column, str) else column).cast(EXACT)).cast("double")


def exact_mean(column: Column | str) -> Column:
    """Mean of doubles, order-independent like :func:`exact_sum`."""
    return F.avg((F.col(column) if isinstance(column, str) else column).cast(EXACT)).cast("double")

"""``distinct_rows``: each row once, in first-occurrence order, nulls alike -- against a plain-Python reference, over
generated tables with copies where the bug put them (whole rows) and rows that differ in one column only."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.maintenance.duplicates import distinct_rows

SCHEMA = pa.schema([("path", pa.string()), ("size", pa.int64()), ("at", pa.timestamp("us", tz="UTC")), ("day", pa.date32())])
ROWS = st.tuples(st.sampled_from(["a", "b", "", None]), st.one_of(st.none(), st.integers(-2, 2)),
                 st.one_of(st.none(), st.sampled_from([dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc),
                                                       dt.datetime(2026, 11, 2, 9, 0, 0, 1, tzinfo=dt.timezone.utc)])),
                 st.one_of(st.none(), st.sampled_from([dt.date(2026, 11, 2), dt.date(2026, 11, 3)])))


def table(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r)) for r in rows], SCHEMA)


@settings(max_examples=200, deadline=None)
@given(st.lists(ROWS, max_size=12), st.lists(st.integers(0, 3), max_size=12), st.randoms(use_true_random=False))
def test_each_row_once_in_first_occurrence_order(rows, copies, random):
    with_copies = [r for i, r in enumerate(rows) for _ in range(1 + (copies[i] if i < len(copies) else 0))]
    random.shuffle(with_copies)  # a compaction's copy lands anywhere in the table
    expected = list(dict.fromkeys(with_copies))  # first occurrences, None equal to None
    got = distinct_rows(table(with_copies))
    assert got.schema == SCHEMA
    assert [tuple(r.values()) for r in got.to_pylist()] == expected
    assert distinct_rows(got).equals(got)  # a second repair changes nothing


def test_an_empty_table_stays_empty_with_its_schema():
    assert distinct_rows(table([])).equals(table([]))

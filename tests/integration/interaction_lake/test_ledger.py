"""The landing ledger on a real Delta table: each file's fate is its latest entry, whether one source is read or several
at once (the bronze gate and silver read every source's in one query)."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from interaction_lake import ledger

T0 = dt.datetime(2026, 11, 2, 6, tzinfo=dt.timezone.utc)
STATUSES = [ledger.PENDING, ledger.COMMITTED, ledger.EMPTY, ledger.IGNORED, ledger.ABANDONED]
RANK = {ledger.PENDING: 0, ledger.COMMITTED: 2}  # the rest rank 1: a file's fate at the same instant is its most final
_lakes = itertools.count()

rows = st.lists(st.tuples(st.sampled_from(["counter", "survey", "holdings"]), st.sampled_from(["a.jsonl", "b.jsonl"]),
                          st.sampled_from(["c1", "c2"]), st.sampled_from(STATUSES), st.integers(0, 3)), max_size=25)


def _entry(source, path, checksum, status, minutes, n) -> ledger.Entry:
    at = T0 + dt.timedelta(minutes=minutes)  # few instants: ties between a batch's pending and committed rows happen
    return ledger.Entry(source, f"/landing/{source}/{path}", checksum, 10, status, f"batch-{n}", n, 0, 0, at, f"run-{n}", at)


def _fate(e: ledger.Entry) -> tuple:
    return e.recorded_at, RANK.get(e.status, 1)


@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, asked=st.sets(st.sampled_from(["counter", "survey", "holdings", "branch"]), min_size=1))
def test_reading_several_sources_at_once_gives_each_its_latest_entries(spark, tmp_path, rows, asked):
    root = tmp_path / f"lake{next(_lakes)}"
    entries = [_entry(*row, n) for n, row in enumerate(rows)]
    ledger.record(spark, root, entries, {"job": "test", "run_id": "r"})

    expected: dict[str, dict] = {}
    for e in entries:  # the reference: per file and checksum, the entry of the latest time, ties to the most final status
        fates, key = expected.setdefault(e.source, {}), (e.file_path, e.file_checksum)
        fates[key] = max(fates.get(key, _fate(e)), _fate(e))
    found = ledger.latest_entries_by_source(spark, root, sorted(asked))
    assert set(found) == {source for source in asked if source in expected}  # a source without entries is absent
    for source, latest in found.items():
        assert {key: _fate(e) for key, e in latest.items()} == expected[source]
        assert latest == ledger.latest_entries(spark, root, source)  # one source's read agrees with the stage's
    every = ledger.latest_entries_by_source(spark, root)  # no sources named: every one
    assert {source: {key: _fate(e) for key, e in latest.items()} for source, latest in every.items()} == expected

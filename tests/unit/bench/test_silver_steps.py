"""bench/silver_steps.py: the steps it times are silver's own (a renamed step or argument fails here, not in a bench run
hours later), and its growth table compares the ordinary days' first and last halves."""

from __future__ import annotations

import inspect

import pytest

from tests.conftest import bench_script


@pytest.fixture(scope="module")
def silver_steps():
    return bench_script("silver_steps")


def test_every_timed_step_is_a_function_of_silver_and_each_label_reads_the_argument_it_names(silver_steps):
    import jobs.silver.build as build
    from interaction_lake import lake

    assert all(inspect.isfunction(getattr(build, step)) for step in silver_steps.STEPS)
    assert list(inspect.signature(build.upsert).parameters)[3] == "fact"
    assert list(inspect.signature(build.quarantine_facts).parameters)[1] == "fact"
    assert list(inspect.signature(lake.sql_write).parameters)[2] == "path"
    assert all(list(inspect.signature(f).parameters)[1] == "path" for f in (lake.append, lake.compact_if_due))


def test_growth_compares_the_first_and_last_ordinary_days_and_leaves_out_the_initial_load(silver_steps):
    days = [{"merge_events": 100.0}, *({"merge_events": float(n), "upsert:call": 1.0} for n in range(1, 13))]
    rows = {step: (early, late) for step, early, late in silver_steps.growth(days)}
    assert rows["merge_events"] == (3.0, 10.0)  # days 2-6 hold 1..5, the last five 8..12; day 1's 100 in neither
    assert rows["upsert:call"] == (1.0, 1.0)
    short = silver_steps.growth([{"a": 9.0}, {"a": 1.0}, {"a": 3.0}])
    assert short == [("a", 1.0, 3.0)]

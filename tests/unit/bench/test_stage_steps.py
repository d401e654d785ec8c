"""bench/stage_steps.py: the steps it times are silver's and gold's own (a renamed step or argument fails here, not in a
bench run hours later), and its growth table compares the ordinary days' first and last halves."""

from __future__ import annotations

import inspect
import json

import pytest

from tests.conftest import bench_script


@pytest.fixture(scope="module")
def stage_steps():
    return bench_script("stage_steps")


def test_every_timed_step_is_a_function_of_silver_and_each_label_reads_the_argument_it_names(stage_steps):
    import jobs.silver.build as build
    from interaction_lake import lake

    assert all(inspect.isfunction(getattr(build, step)) for step in stage_steps.SILVER_STEPS)
    assert list(inspect.signature(build.upsert).parameters)[3] == "fact"
    assert list(inspect.signature(build.quarantine_facts).parameters)[1] == "fact"
    assert list(inspect.signature(lake.sql_write).parameters)[2] == "path"
    assert all(list(inspect.signature(f).parameters)[1] == "path" for f in (lake.append, lake.compact_if_due))


def test_every_timed_step_is_a_function_of_gold_and_each_label_reads_the_argument_it_names(stage_steps):
    import jobs.gold.build as build
    from interaction_lake import lake, lineage

    assert all(inspect.isfunction(getattr(build, step)) for step in stage_steps.GOLD_STEPS)
    assert list(inspect.signature(lake.stage).parameters)[1] == "path"
    assert list(inspect.signature(build._publish).parameters)[1] == "path"
    assert inspect.isfunction(lineage.JobRun.emit)


def test_instrumenting_gold_times_a_day_per_build(stage_steps, tmp_path, monkeypatch):
    """Instrumenting a stage wraps its build: each call is one day's entry, with its wall seconds, written to ``out``."""
    import jobs.gold.build as gold
    from interaction_lake import lake, lineage

    # what instrumenting gold replaces for the process, restored after the test
    for owner, names in ((gold, (*stage_steps.GOLD_STEPS, "_publish")), (lake, ("stage",)), (lineage.JobRun, ("emit",))):
        for name in names:
            monkeypatch.setattr(owner, name, getattr(owner, name))

    def build_gold(*args, **kwargs):  # a build whose one step (rendering no gate's Data Docs: nothing) is called as gold's are
        gold.render_stage_data_docs(tmp_path, [])
        return "built"

    monkeypatch.setattr(gold, "build_gold", build_gold)
    days = stage_steps.instrument("gold", tmp_path / "gold.json")
    assert gold.build_gold() == "built" and gold.build_gold() == "built"
    assert len(days) == 2 and all(set(day) == {"_wall", "render_stage_data_docs"} for day in days)
    assert all(0 <= day["render_stage_data_docs"] <= day["_wall"] for day in days)
    assert json.loads((tmp_path / "gold.json").read_text()) == days


def test_growth_compares_the_first_and_last_ordinary_days_and_leaves_out_the_initial_load(stage_steps):
    days = [{"merge_events": 100.0}, *({"merge_events": float(n), "upsert:call": 1.0} for n in range(1, 13))]
    rows = {step: (early, late) for step, early, late in stage_steps.growth(days)}
    assert rows["merge_events"] == (3.0, 10.0)  # days 2-6 hold 1..5, the last five 8..12; day 1's 100 in neither
    assert rows["upsert:call"] == (1.0, 1.0)
    short = stage_steps.growth([{"a": 9.0}, {"a": 1.0}, {"a": 3.0}])
    assert short == [("a", 1.0, 3.0)]
    sampled = [{"a": 1.0, "_server_mb": {"_build": mb}} for mb in (900.0, 400.0, 500.0)]  # memory: a table of its own
    assert stage_steps.growth(sampled) == [("a", 1.0, 1.0)]
    assert stage_steps.memory_growth(sampled) == [("_build", 400.0, 500.0)]
    gaps = [{"_server_mb": {"_build": 900.0}}, {"_server_mb": {"_build": 400.0, "quick": 300.0}}, {"_server_mb": {"_build": 500.0}}]
    assert dict((step, (early, late)) for step, early, late in stage_steps.memory_growth(gaps))["quick"] == (300.0, 0.0)


def test_the_memory_sampler_gives_each_step_the_most_the_process_held_while_it_ran(stage_steps):
    """A step that holds 200 MB for a moment peaks ~200 MB above what the process held at the start; a step that ran
    before it, holding nothing, does not; the build's peak is the highest of all."""
    import collections
    import os
    import threading
    import time
    import types

    lock, running, totals = threading.Lock(), collections.Counter(), collections.defaultdict(float)

    def light():
        time.sleep(0.2)

    def heavy():
        held = bytearray(200 * 1024 * 1024)  # zero-filled: resident once written
        held[:: 4096] = b"x" * len(held[:: 4096])
        time.sleep(0.2)
        return len(held)

    steps = types.SimpleNamespace(light=light, heavy=heavy)
    for name in ("light", "heavy"):
        stage_steps._timed(totals, lock, steps, name, running=running)
    sampler = stage_steps.ServerSampler(lock, running, every_s=0.01)
    sampler.start(os.getpid())
    steps.light()
    assert steps.heavy() == 200 * 1024 * 1024
    peaks = sampler.stop()
    assert peaks["heavy"] - peaks["_start"] > 150
    assert peaks["light"] - peaks["_start"] < 50
    assert peaks["_build"] == max(peaks.values())
    assert set(totals) == {"light", "heavy"} and not +running  # every call counted out again

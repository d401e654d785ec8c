"""The benchmark's summary arithmetic: the flatness ratios, raw and at one host speed (no engine, no lake)."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_lake.benchmark import STAGES, summarise


def _day(n: int, events: int, seconds: float, probe: float | None) -> dict:
    stages = {stage: seconds / len(STAGES) for stage in STAGES}
    day = {"day": f"2026-10-{n:02d}", "events_landed": events, **stages, "total_s": seconds, "cpu_s": seconds,
           "peak_memory_mb": 100.0}
    if probe is not None:
        day["host_probe_s"] = {"python_s": probe / 2, "engine_s": probe / 2, "total_s": probe}
    return day


@given(day2=st.floats(1, 100), growth=st.floats(0.5, 3), busier=st.floats(0.25, 4), events=st.integers(1, 10**6))
def test_a_day_made_slower_only_by_a_busier_host_reads_flat_at_one_host_speed(day2, growth, busier, events):
    """Day 30 costs ``growth`` times day 2's work and meets a host ``busier`` times slower: the raw ratio shows both, the
    host-adjusted one only the work's growth, whatever the probe's own speed."""
    days = [_day(n, events, day2 * (growth * busier if n == 30 else 1), 0.5 * (busier if n == 30 else 1)) for n in range(1, 31)]
    summary = summarise(days)
    assert summary["last_over_day2_per_event"] == pytest.approx(growth * busier)
    assert summary["host_probe_last_over_day2"] == pytest.approx(busier)
    assert summary["last_over_day2_per_event_host_adjusted"] == pytest.approx(growth)
    assert summary["day40_over_day10_per_event_host_adjusted"] is None  # 30 days: no day 40


def test_days_without_a_probe_have_no_host_adjusted_ratio():
    """A run from before the probe (or an engine that gives none) reports the raw ratios only, never a made-up one."""
    days = [_day(n, 1000, 10.0 + n, None) for n in range(1, 41)]
    summary = summarise(days)
    assert summary["last_over_day2_per_event"] == pytest.approx(50 / 12)
    assert summary["last_over_day2_per_event_host_adjusted"] is None and summary["host_probe_last_over_day2"] is None
    assert summary["flatness"]["40"]["host_probe_s"] is None


def test_day40_over_day10_at_one_host_speed():
    """Two months: day 40 against day 10, each over its own probe."""
    days = [_day(n, 2000, {10: 8.0, 40: 12.0}.get(n, 9.0), {10: 0.4, 40: 0.6}.get(n, 0.5)) for n in range(1, 61)]
    summary = summarise(days)
    assert summary["day40_over_day10_per_event"] == pytest.approx(1.5)
    assert summary["day40_over_day10_per_event_host_adjusted"] == pytest.approx(1.0)


@given(early=st.lists(st.floats(1, 50), min_size=7, max_size=7), late=st.lists(st.floats(1, 50), min_size=7, max_size=7),
       middle=st.integers(1, 20), busier=st.floats(0.25, 4))
def test_the_last_week_over_the_first_reads_medians_of_days_2_to_8_and_of_the_last_seven(early, late, middle, busier):
    """A one-off slow day moves one day's ratio, not a median: the weekly figures are the medians' ratio, computed from
    the days themselves; a host ``busier`` on the last week (its probe slower by as much) leaves the adjusted one at
    the work's own."""
    seconds = [100.0, *early, *([5.0] * middle), *late]
    probes = [0.5] * (1 + 7 + middle) + [0.5 * busier] * 7
    days = [_day(n + 1, 1000, s * (busier if n >= 8 + middle else 1), p) for n, (s, p) in enumerate(zip(seconds, probes))]
    for n, d in enumerate(days):
        d["peak_memory_mb"] = 10.0 * seconds[n]
    weeks = summarise(days)["last_week_over_first_week"]
    work = statistics.median(late) / statistics.median(early)
    assert weeks["per_event"] == pytest.approx(work * busier)
    assert weeks["per_event_host_adjusted"] == pytest.approx(work)
    assert weeks["peak_memory"] == pytest.approx(work)


def test_runs_too_short_for_two_weeks_have_no_weekly_figures():
    weeks = summarise([_day(n, 1000, 10.0, 0.5) for n in range(1, 15)])["last_week_over_first_week"]
    assert weeks == {"per_event": None, "per_event_host_adjusted": None, "peak_memory": None}
    assert summarise([_day(n, 1000, 10.0, 0.5) for n in range(1, 16)])["last_week_over_first_week"]["per_event"] == 1.0

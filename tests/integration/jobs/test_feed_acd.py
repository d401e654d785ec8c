"""The shipped ACD call-detail mapping (issue 17 section 1): its committed sample lands without code, and every
call-centre KPI of ``service_quality`` equals an independent computation from the native TSV with pandas, on the
bank's local days (Europe/Madrid, across the spring DST change), per queue and for the whole centre.

The independent side reads the bank's file as an analyst would: the call's day is the native ``date`` column,
clock times that go backwards are on the next day, local times become UTC through pandas' own time-zone
database handling, and a record is refused when a clock time does not parse or the priority is not one the
ACD documents.
"""

from __future__ import annotations

import dataclasses
import shutil
from decimal import Decimal

import pandas as pd
import pytest
from deltalake import DeltaTable

from interaction_lake import feeds
from interaction_lake.generator.feeds import SAMPLES
from interaction_lake.marts_config import MartsConfig
from jobs.audit.trace import trace
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold, mart_table
from jobs.silver.build import build_silver

TZ = "Europe/Madrid"
TIMES = ["vru_entry", "vru_exit", "q_start", "q_exit", "ser_start", "ser_exit"]
NONE = "00:00:00"


def _seconds(text: str) -> float | None:
    try:
        h, m, s = (int(x) for x in text.split(":"))
    except ValueError:
        return None
    return h * 3600 + m * 60 + s if h < 24 and m < 60 and s < 60 else None


def expected_calls(paths) -> pd.DataFrame:
    """One row per call the ACD says happened, with the KPIs' ingredients, computed from the native files alone."""
    native = pd.concat([pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in paths], ignore_index=True)
    native = native[native["outcome"] != "PHANTOM"]
    parsed = native[TIMES].map(_seconds)
    good = parsed.notna().all(axis=1) & native["priority"].isin(["0", "1", "2"])
    calls, parsed = native[good].copy(), parsed[good]
    day = pd.to_datetime(calls["date"], format="%y%m%d")
    previous = None
    for column in TIMES:  # a clock time earlier than the step before it is on the next day
        seconds = parsed[column].where(calls[column] != NONE)
        if previous is not None:
            seconds = seconds.where(~(seconds < previous), seconds + 86400)
        local = day + pd.to_timedelta(seconds, unit="s")
        calls[column + "_utc"] = local.dt.tz_localize(TZ, ambiguous=False, nonexistent="shift_forward").dt.tz_convert("UTC")
        previous = seconds.fillna(previous) if previous is not None else seconds
    calls["day"] = day.dt.date
    calls["queued"] = calls["q_start"] != NONE
    calls["answered"] = calls["outcome"] == "AGENT"
    calls["abandoned"] = (calls["outcome"] == "HANG") & calls["queued"]
    calls["ivr_abandoned"] = (calls["outcome"] == "HANG") & ~calls["queued"]
    end_of_wait = calls["ser_start_utc"].where(calls["answered"], calls["q_exit_utc"])
    calls["wait"] = (end_of_wait - calls["q_start_utc"]).dt.total_seconds()
    calls["talk"] = (calls["ser_exit_utc"] - calls["ser_start_utc"]).dt.total_seconds()
    return calls


def to_millionth(values: pd.Series) -> float | None:
    """A mean as docs/metrics.md defines it: exact, rounded half up to the millionth (each value taken in millionths)."""
    units = [int(Decimal(repr(float(v))) * 10**6 + Decimal("0.5")) for v in values]  # values here are >= 0
    if not units:
        return None
    whole, rest = divmod(sum(units), len(units))
    return (whole + (1 if 2 * rest >= len(units) else 0)) / 10**6


def kpis(group: pd.DataFrame, config: MartsConfig) -> dict:
    short = group["abandoned"] & (group["wait"] < config.short_abandon_seconds)
    outcomes = group["answered"].sum() + group["abandoned"].sum() - short.sum()
    within = group["answered"] & (group["wait"] <= config.service_level_seconds)
    answered = group[group["answered"]]
    return {
        "calls_offered": len(group), "ivr_abandoned": int(group["ivr_abandoned"].sum()),
        "offered_to_queue": int(group["queued"].sum()), "answered": int(group["answered"].sum()),
        "abandoned": int(group["abandoned"].sum()), "short_abandons": int(short.sum()), "queue_outcomes": int(outcomes),
        "abandonment_rate": (group["abandoned"].sum() - short.sum()) / outcomes if outcomes else None,
        "asa_seconds": to_millionth(answered["wait"]),
        "service_level": within.sum() / outcomes if outcomes else None,
        "aht_seconds": to_millionth(answered["talk"]),
    }


@pytest.fixture
def madrid(settings, monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_BUSINESS_TIMEZONE", TZ)
    return dataclasses.replace(settings, business_timezone=TZ)


def test_acd_sample_kpis_equal_an_independent_computation_on_local_days(spark, madrid):
    mapping = next(m for m in feeds.all_mappings() if m.feed == "acd_call_detail")
    folder = madrid.landing_root / mapping.folder
    shutil.copytree(SAMPLES / "acd", folder)
    report = land_source(spark, madrid, "callcentre", "r1")
    assert report.records_excluded == 2 and dict(report.quarantine_reasons) == {"excluded": 2, "wrong_type": 1, "invalid_value": 1}
    build_silver(spark, madrid, "r1", ("callcentre",))
    config = MartsConfig.load()
    build_gold(spark, madrid, "g1", config=config)

    calls = expected_calls(sorted(folder.glob("*.tsv")))
    assert calls["day"].nunique() == 5 and (calls["q_start_utc"].dt.date < calls["day"]).any()  # local days differ from UTC days
    rows = DeltaTable(str(mart_table(madrid.lake_root, "service_quality"))).to_pyarrow_table().to_pylist()
    marts = {(r["period_start"], r["unit_id"]): r for r in rows if r["channel"] == "callcentre" and r["period"] == "day"}
    expected = {(day, "ALL"): kpis(group, config) for day, group in calls.groupby("day")}
    expected |= {(day, queue): kpis(group, config) for (day, queue), group in calls[calls["queued"]].groupby(["day", "type"])}
    assert set(marts) == set(expected)
    for key, figures in expected.items():
        for name, value in figures.items():
            assert marts[key][name] == pytest.approx(value, rel=1e-12, abs=1e-12), (key, name)


def test_acd_events_trace_to_the_banks_file_and_line_and_redelivery_lands_nothing(spark, madrid):
    folder = madrid.landing_root / "acd"
    shutil.copytree(SAMPLES / "acd", folder)
    land_source(spark, madrid, "callcentre", "r1")
    first = sorted(folder.glob("*.tsv"))[0]
    shutil.copy(first, folder / "resent_under_another_name.tsv")  # the same bytes again: nothing new
    renamed = land_source(spark, madrid, "callcentre", "r2")
    assert renamed.files_duplicate == 1 and renamed.records_landed == 0

    # the same calls re-exported in another file (a new header order, CRLF line ends): same event ids, no new facts
    native = pd.read_csv(first, sep="\t", dtype=str, keep_default_na=False)
    native[list(reversed(native.columns))].to_csv(folder / "reexport.tsv", sep="\t", index=False, lineterminator="\r\n")
    land_source(spark, madrid, "callcentre", "r3")
    build_silver(spark, madrid, "r3", ("callcentre",))
    bronze = DeltaTable(str(madrid.lake_root / "bronze" / "callcentre_events")).to_pyarrow_table().to_pylist()
    by_file = {}
    for row in bronze:
        by_file.setdefault(row["_source_file"], set()).add(row["event_id"])
    assert by_file[str(folder / "reexport.tsv")] == by_file[str(first)]
    silver = DeltaTable(str(madrid.lake_root / "silver" / "callcentre_events")).to_pyarrow_table(columns=["event_id"]).column(0).to_pylist()
    assert len(silver) == len(set(silver)) == len({r["event_id"] for r in bronze})

    for row in bronze:  # every event keeps the bank's own line, not an intermediate one
        assert row["raw_line"] == open(row["_source_file"], newline="").read().splitlines()[row["_line_number"] - 1]

    build_gold(spark, madrid, "g1", config=MartsConfig.load())
    found = trace(spark, madrid.lake_root, "service_quality", {"period": "day", "period_start": "2026-03-29", "channel": "callcentre",
                                                               "unit_id": "ALL"})
    assert found.files and {f["file_path"] for f in found.files} <= {str(p) for p in folder.glob("*.tsv")}
    assert sum(f["records"] for f in found.files) == len(found.facts[0].bronze) > 0

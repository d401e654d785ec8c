"""The bank's calendar (issue 17, section 2): days, months and hours of the marts are local to the bank, DST included;
event times stay UTC. Expected figures are computed independently from the UTC times with Python's zoneinfo."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from collections import Counter

import pytest
from deltalake import DeltaTable

from interaction_lake.config import ConfigError
from interaction_lake.marts_config import MartsConfig
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold, mart_table
from jobs.silver.build import build_silver, silver_events_table

# Around local midnight, across Madrid's switch from summer time (25 Oct 2026, 01:00 UTC) and a month's end.
CALLS_AT = ["2026-10-24T21:59:00Z", "2026-10-24T22:30:00Z", "2026-10-25T22:30:00Z", "2026-10-25T23:30:00Z",
            "2026-10-31T22:59:00Z", "2026-10-31T23:30:00Z", "2026-11-02T15:30:00Z", "2026-11-02T16:30:00Z"]
TICKETS_AT = ["2026-10-25T00:15:00Z", "2026-10-26T00:15:00Z", "2026-11-02T01:00:00Z"]


def write(settings) -> None:
    calls = [{"event_id": f"c{n}", "event_type": "call_offered", "schema_version": 1, "occurred_at": at, "source_system": "acd",
              "customer_ref": "C1", "call_id": f"call-{n}"} for n, at in enumerate(CALLS_AT)]
    tickets = [{"event_id": f"t{n}", "event_type": "ticket_issued", "schema_version": 1, "occurred_at": at, "source_system": "q",
                "customer_ref": "C1", "ticket_id": f"T{n}", "branch_id": "BR001", "service_type": "cash"} for n, at in enumerate(TICKETS_AT)]
    for source, records in (("callcentre", calls), ("counter", tickets)):
        folder = settings.landing_root / source / "d"
        folder.mkdir(parents=True)
        (folder / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def local(at: str, tz: str) -> dt.datetime:
    return dt.datetime.fromisoformat(at).astimezone(zoneinfo.ZoneInfo(tz))


@pytest.mark.parametrize("tz", ["Europe/Madrid", "Asia/Shanghai", "UTC"])
def test_days_months_and_hours_are_the_banks(spark, settings, tz, monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_BUSINESS_TIMEZONE", tz)
    bank = dataclasses.replace(settings, business_timezone=tz)
    write(bank)
    for source in ("callcentre", "counter"):
        land_source(spark, bank, source, "r1")
    build_silver(spark, bank, "r1", ("callcentre", "counter"))
    build_gold(spark, bank, "g1", config=MartsConfig.load())

    events = DeltaTable(str(silver_events_table(bank.lake_root, "callcentre"))).to_pyarrow_table().to_pylist()
    assert {e["event_id"]: e["event_date"] for e in events} == {f"c{n}": local(at, tz).date() for n, at in enumerate(CALLS_AT)}
    assert {e["event_id"]: e["occurred_at"].astimezone(dt.timezone.utc) for e in events} == {  # event times stay UTC
        f"c{n}": dt.datetime.fromisoformat(at) for n, at in enumerate(CALLS_AT)}
    assert all(e["occurred_at"].utcoffset() == dt.timedelta(0) for e in events)

    service = DeltaTable(str(mart_table(bank.lake_root, "service_quality"))).to_pyarrow_table().to_pylist()
    calls = {(r["period"], r["period_start"]): r["calls_offered"] for r in service if r["channel"] == "callcentre" and r["unit_id"] == "ALL"}
    days = Counter(local(at, tz).date() for at in CALLS_AT)
    months = Counter(local(at, tz).date().replace(day=1) for at in CALLS_AT)
    assert calls == {**{("day", d): n for d, n in days.items()}, **{("month", m): n for m, n in months.items()}}

    waits = DeltaTable(str(mart_table(bank.lake_root, "branch_wait_by_hour"))).to_pyarrow_table().to_pylist()
    hours = Counter((local(at, tz).date().replace(day=1), local(at, tz).hour) for at in TICKETS_AT)
    assert {(r["month"], r["hour_of_day"]): r["tickets"] for r in waits if r["branch_id"] == "ALL"} == dict(hours)


def test_a_lake_keeps_its_calendar_until_rebuilt(spark, settings, monkeypatch):
    madrid = dataclasses.replace(settings, business_timezone="Europe/Madrid")
    write(madrid)
    land_source(spark, madrid, "callcentre", "r1")
    build_silver(spark, madrid, "r1", ("callcentre",))
    with pytest.raises(ConfigError, match="count days in Europe/Madrid.*build-silver --full"):
        build_silver(spark, settings, "r2", ("callcentre",))  # UTC now: dates of two calendars would mix
    with pytest.raises(ConfigError, match="count days in Europe/Madrid"):
        build_gold(spark, settings, "g2")
    build_silver(spark, settings, "r3", full=True)  # the rebuild moves the lake to the new calendar
    events = DeltaTable(str(silver_events_table(settings.lake_root, "callcentre"))).to_pyarrow_table().to_pylist()
    assert {e["event_id"]: e["event_date"] for e in events} == {f"c{n}": local(at, "UTC").date() for n, at in enumerate(CALLS_AT)}


def test_a_time_zone_that_does_not_exist_is_one_line(monkeypatch):
    from interaction_lake.config import Settings

    monkeypatch.setenv("INTERACTION_LAKE_BUSINESS_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        Settings.from_env()


def test_a_branch_on_its_own_clock_dates_its_visits_and_hours_by_its_zone(spark, settings, tmp_path, monkeypatch):
    (tmp_path / "marts.toml").write_text('[calendar]\nbusiness_timezone = "Europe/Madrid"\n'
                                         '[calendar.branch_timezones]\nBR002 = "Atlantic/Canary"\n')
    monkeypatch.setenv("INTERACTION_LAKE_MARTS_CONFIG", str(tmp_path / "marts.toml"))
    config = MartsConfig.load()
    bank = dataclasses.replace(settings, business_timezone=config.business_timezone, branch_timezones=config.branch_timezones)
    at = "2026-10-20T22:30:00Z"  # 00:30 on the 21st in Madrid (CEST), 23:30 on the 20th in the Canaries (WEST)
    tickets = [{"event_id": f"t{b}", "event_type": "ticket_issued", "schema_version": 1, "occurred_at": at, "source_system": "q",
                "customer_ref": "C1", "ticket_id": "T1", "branch_id": b, "service_type": "cash"} for b in ("BR001", "BR002")]
    folder = bank.landing_root / "counter" / "d"
    folder.mkdir(parents=True)
    (folder / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tickets))
    land_source(spark, bank, "counter", "r1")
    build_silver(spark, bank, "r1", ("counter",))
    build_gold(spark, bank, "g1", config=config)
    events = DeltaTable(str(silver_events_table(bank.lake_root, "counter"))).to_pyarrow_table().to_pylist()
    assert {e["event_id"]: e["event_date"] for e in events} == {"tBR001": dt.date(2026, 10, 21), "tBR002": dt.date(2026, 10, 20)}
    visits = DeltaTable(str(bank.lake_root / "silver" / "counter_visit")).to_pyarrow_table().to_pylist()
    assert {v["branch_id"]: v["visit_date"] for v in visits} == {"BR001": dt.date(2026, 10, 21), "BR002": dt.date(2026, 10, 20)}
    waits = DeltaTable(str(mart_table(bank.lake_root, "branch_wait_by_hour"))).to_pyarrow_table().to_pylist()
    assert {(r["branch_id"], r["hour_of_day"]) for r in waits if r["branch_id"] != "ALL"} == {("BR001", 0), ("BR002", 23)}
    with pytest.raises(ConfigError, match="count days in Europe/Madrid;BR002=Atlantic/Canary"):  # the calendar is the lake's
        build_silver(spark, dataclasses.replace(bank, branch_timezones={}), "r2", ("counter",))

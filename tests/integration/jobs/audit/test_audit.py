"""Audit on the real engine: a mart row traced to the exact facts, events, bronze records and files; marts read and rebuilt as of a version."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable

from interaction_lake.cli import main
from interaction_lake.config import Settings
from interaction_lake.generator import SOURCES, generate
from interaction_lake.generator.deliveries import days_of, deliver
from jobs.audit.trace import trace
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold, mart_table
from jobs.silver.build import build_silver


def rows(path: Path) -> list[dict]:
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


@pytest.fixture(scope="module")
def lake_two_days(spark, tmp_path_factory):
    """Day 1 landed and built to gold (mart version 1, after the definition); then day 2 (version 2)."""
    base = tmp_path_factory.mktemp("audit")
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    sent = base / "sent"
    generate(sent, customers=200, days=2, seed=17, start=dt.date(2026, 11, 9), fault_rate=0.02)
    stamps = []
    for day in days_of(sent):
        deliver(sent, settings.landing_root, day)
        for source in SOURCES:
            land_source(spark, settings, source, f"run-{day}")
        build_silver(spark, settings, f"run-{day}")
        build_gold(spark, settings, f"run-{day}", gate=False)  # a one-day-old sample can leave a mart empty; gates are tested elsewhere
        stamps.append(dt.datetime.now(dt.timezone.utc))
        time.sleep(1.1)  # distinct commit timestamps for --timestamp
    return settings, stamps


def test_a_customer_value_row_traces_to_exactly_its_facts_events_and_files(spark, lake_two_days):
    settings, _ = lake_two_days
    root = settings.lake_root
    value = max(rows(mart_table(root, "customer_value")), key=lambda r: (r["interactions"], r["product_count"], r["customer_key"]))
    assert value["interactions"] >= 1 and value["product_count"] >= 2
    result = trace(spark, root, "customer_value", {"customer_key": value["customer_key"], "month": str(value["month"])})
    facts = {f.fact: f for f in result.facts}

    month = value["month"]
    end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    expected_calls = {c["call_id"] for c in rows(root / "silver" / "call")
                      if c["customer_key"] == value["customer_key"] and month <= c["call_date"] < end}
    assert {c["call_id"] for c in facts["call"].rows} == expected_calls
    assert len(facts["counter_visit"].rows) == value["counter_visits"]
    assert sum(1 for c in facts["call"].rows if c["agent_id"]) == value["agent_calls"]
    holdings = facts["product_holding"].rows
    assert len(holdings) == value["product_count"]
    assert sum(Decimal(str(h["balance"])) for h in holdings) == value["total_balance"]  # money is exact

    events = {e["event_id"] for f in result.facts for e in f.events}
    bronze = [b for f in result.facts for b in f.bronze]
    assert {b["event_id"] for b in bronze} == events and len(bronze) == len(events)  # the copy silver kept, once
    assert {e["call_id"] for e in facts["call"].events} == expected_calls
    for file in result.files:  # the checksum the ledger recorded is the file's content, and every record is accounted for
        assert hashlib.sha256(Path(file["file_path"]).read_bytes()).hexdigest() == file["file_checksum"]
        assert file["batch_id"] and file["run_id"].startswith("run-")
    assert sum(f["records"] for f in result.files) == len(bronze)
    for b in bronze:
        line = Path(b["_source_file"]).read_text().splitlines()[b["_line_number"] - 1]
        assert b["event_id"] in line  # the file and line number point at the record itself


def test_a_customer_row_lists_the_refused_records_left_out_of_it(spark, lake_two_days, capsys):
    """What landing refused for the customer and the row would have read: exactly what quarantined_inputs counts,
    each with its file and line, and never its raw text."""
    settings, _ = lake_two_days
    root = settings.lake_root
    short = [r for r in rows(mart_table(root, "customer_value")) if r["quarantined_inputs"]]
    assert short, "the sample's faults should leave some customer-months short of a refused record"
    for value in short[:3]:
        key = {"customer_key": value["customer_key"], "month": str(value["month"])}
        refused = trace(spark, root, "customer_value", key).quarantined
        assert len(refused) == value["quarantined_inputs"]
        assert all(r["_source_file"] and r["_line_number"] and r["reason"] for r in refused)
        assert not {"raw_line", "customer_ref", "raw_base64", "detail"} & set().union(*refused)
    complete = next(r for r in rows(mart_table(root, "customer_value")) if not r["quarantined_inputs"])
    assert trace(spark, root, "customer_value", {"customer_key": complete["customer_key"], "month": str(complete["month"])}).quarantined == []
    value = short[0]
    assert main(["audit", "trace", "customer_value", "--key", f"customer_key={value['customer_key']}", "--key", f"month={value['month']}",
                 "--lake", str(root)]) == 0
    assert f"{value['quarantined_inputs']} record(s) of this customer refused at landing" in capsys.readouterr().out


def test_a_service_quality_row_traces_to_the_visits_it_counts(spark, lake_two_days):
    settings, _ = lake_two_days
    row = next(r for r in rows(mart_table(settings.lake_root, "service_quality"))
               if r["channel"] == "counter" and r["period"] == "day" and r["unit_id"] != "ALL" and r["tickets"])
    result = trace(spark, settings.lake_root, "service_quality", {"period": "day", "period_start": str(row["period_start"]),
                                                                  "channel": "counter", "unit_id": row["unit_id"]})
    [visits] = result.facts
    assert len(visits.rows) == row["tickets"]
    assert {v["branch_id"] for v in visits.rows} == {row["unit_id"]}
    assert sum(1 for v in visits.rows if v["status"] == "abandoned") == row["tickets_abandoned"]


@pytest.mark.parametrize("branch", ["one", "ALL"])
def test_a_branch_wait_row_traces_to_the_tickets_of_its_local_hour(spark, lake_two_days, branch):
    settings, _ = lake_two_days
    row = max((r for r in rows(mart_table(settings.lake_root, "branch_wait_by_hour")) if (r["branch_id"] == "ALL") == (branch == "ALL")),
              key=lambda r: (r["tickets"], r["branch_id"], r["hour_of_day"]))
    key = {"month": str(row["month"]), "branch_id": row["branch_id"], "hour_of_day": str(row["hour_of_day"])}
    [visits] = trace(spark, settings.lake_root, "branch_wait_by_hour", key).facts
    assert len(visits.rows) == row["tickets"] >= 1
    assert sum(1 for v in visits.rows if v["status"] == "abandoned") == row["tickets_abandoned"]
    assert len(visits.bronze) >= len(visits.rows)  # every ticket back to its bronze records (issued, called, ...)


def test_a_tier_migration_row_traces_to_the_customer_rows_it_counts(spark, lake_two_days, capsys):
    settings, _ = lake_two_days
    row = max(rows(mart_table(settings.lake_root, "value_tier_migration")), key=lambda r: (r["customers"], r["from_tier"], r["to_tier"]))
    key = {"month": str(row["month"]), "from_tier": row["from_tier"], "to_tier": row["to_tier"]}
    result = trace(spark, settings.lake_root, "value_tier_migration", key)
    assert len(result.members) == row["customers"] >= 1
    assert {(m["previous_value_tier"] or "new", m["value_tier"], m["month"]) for m in result.members} == \
        {(row["from_tier"], row["to_tier"], row["month"])}
    for member in result.members[:2]:  # each one traces on as a customer_value row
        assert trace(spark, settings.lake_root, "customer_value", {"customer_key": member["customer_key"],
                                                                   "month": str(member["month"])}).row["value_tier"] == row["to_tier"]
    assert main(["audit", "trace", "value_tier_migration", *[a for k, v in key.items() for a in ("--key", f"{k}={v}")],
                 "--lake", str(settings.lake_root)]) == 0
    out = capsys.readouterr().out
    assert f"the {row['customers']} customer row(s) counted" in out and result.members[0]["customer_key"] in out


def test_a_satisfaction_row_traces_through_the_customer_dimension_to_its_surveys_and_complaints(spark, settings, capsys):
    generate(settings.landing_root, customers=1500, days=3, seed=5, start=dt.date(2026, 11, 9), fault_rate=0.0)
    for source in SOURCES:
        land_source(spark, settings, source, "r1")
    build_silver(spark, settings, "r1")
    build_gold(spark, settings, "r1")
    marts = rows(mart_table(settings.lake_root, "satisfaction"))
    for period in ("day", "month"):
        row = max((r for r in marts if r["period"] == period),
                  key=lambda r: (r["responses"] + r["complaints_opened"], r["period_start"], r["segment"], r["branch_id"], r["channel"]))
        key = {k: str(row[k]) for k in ("period", "period_start", "channel", "branch_id", "segment")}
        result = trace(spark, settings.lake_root, "satisfaction", key)
        facts = {f.fact: f for f in result.facts}
        surveys, complaints = facts["survey_response"].rows, facts["complaint"].rows
        assert len(surveys) == row["surveys_sent"] and len(complaints) == row["complaints_opened"], period
        assert sum(1 for r in surveys if r["responded_at"] is not None) == row["responses"]
        assert sum(1 for r in surveys if r["csat"] is not None and r["csat"] >= 4) == row["csat_satisfied"]
        if period == "day":
            assert {r["survey_date"] for r in surveys} | {r["opened_date"] for r in complaints} == {row["period_start"]}
        customers = {r["customer_key"] for r in surveys + complaints if r["customer_key"]}
        assert customers and {d["customer_key"] for d in result.dimension} <= customers
        if row["segment"] != "unknown":  # each customer's version valid on the day carries the row's segment
            assert {d["segment"] for d in result.dimension} >= {row["segment"]}
    assert main(["audit", "trace", "satisfaction", *[a for k, v in key.items() for a in ("--key", f"{k}={v}")],
                 "--lake", str(settings.lake_root)]) == 0
    assert "silver/customer_dim:" in capsys.readouterr().out


def test_trace_command_prints_the_chain_and_rejects_bad_keys(spark, lake_two_days, capsys):
    settings, _ = lake_two_days
    row = rows(mart_table(settings.lake_root, "am_effectiveness"))[0]
    lake = ["--lake", str(settings.lake_root)]
    assert main(["audit", "trace", "am_effectiveness", "--key", f"am_id={row['am_id']}", "--key", f"month={row['month']}", "--json", *lake]) == 0
    out = json.loads(capsys.readouterr().out)
    [contacts] = out["facts"]
    assert contacts["fact"] == "am_contact" and len(contacts["rows"]) == row["contacts_planned"]
    assert all(f["file_checksum"] for f in out["files"])

    assert main(["audit", "trace", "no_such_mart", "--key", "month=2026-11-01", *lake]) == 2  # every mart is traceable
    assert "traceable marts are" in capsys.readouterr().err
    assert main(["audit", "trace", "customer_value", "--key", "month=2026-11-01", *lake]) == 2
    assert "missing: customer_key" in capsys.readouterr().err
    assert main(["audit", "trace", "customer_value", "--key", "customer_key=nobody", "--key", "month=2026-11-01", *lake]) == 2
    error = capsys.readouterr().err
    assert "no customer_value row" in error and "rows look like: --key customer_key=" in error


def test_as_of_reads_past_versions_by_number_and_time_and_rebuilds_them(spark, lake_two_days, capsys, tmp_path, monkeypatch):
    settings, stamps = lake_two_days
    lake = ["--lake", str(settings.lake_root)]
    path = mart_table(settings.lake_root, "service_quality")
    # version 0 defines the table from the glossary (no rows); each day's build is a version after it
    at_v1 = DeltaTable(str(path), version=1).to_pyarrow_table().num_rows
    assert DeltaTable(str(path)).version() == 2 and DeltaTable(str(path)).to_pyarrow_table().num_rows != at_v1

    assert main(["audit", "as-of", "service_quality", "--timestamp", stamps[0].isoformat(), *lake]) == 0
    out = capsys.readouterr().out
    assert "version 1," in out and f"{at_v1} row(s)" in out and "run run-" in out

    for version in (1, 2):
        assert main(["audit", "as-of", "service_quality", "--version", str(version), "--rebuild", *lake]) == 0
        assert "identical" in capsys.readouterr().out
    assert main(["audit", "as-of", "service_quality", "--version", "0", "--rebuild", *lake]) == 2
    assert "is its definition" in capsys.readouterr().err

    changed = tmp_path / "marts.toml"
    changed.write_text("[service_quality]\nservice_level_target = 0.123\n")
    monkeypatch.setenv("INTERACTION_LAKE_MARTS_CONFIG", str(changed))
    assert main(["audit", "as-of", "service_quality", "--version", "2", "--rebuild", *lake]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "metric configuration changed" in out
    # the differing rows are shown, each side's: the same period and channel, with the level measured against another target
    shown = out.split("only in the mart:")[1].split("only in the rebuild:")
    stored, rebuilt = ([json.loads(line) for line in side.splitlines() if line.startswith("    {")] for side in shown)
    assert stored and rebuilt and {r["service_level_target"] for r in rebuilt} == {0.123} != {r["service_level_target"] for r in stored}

    assert main(["audit", "as-of", "service_quality", "--timestamp", "2020-01-01T00:00:00Z", *lake]) == 2
    assert "did not exist" in capsys.readouterr().err
    assert main(["audit", "as-of", "service_quality", "--version", "9", *lake]) == 2
    assert "no version 9" in capsys.readouterr().err

"""Bronze-to-silver parity (issue 16, section 3): every contract field present in bronze is present and equal in
silver, or the event is in quarantine/silver with a reason; bronze events = silver events + silver quarantine +
suppressed duplicates."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from interaction_lake import contracts, lake
from interaction_lake.config import Settings
from jobs.bronze.land import bronze_schema, land_source
from jobs.silver.build import build_silver, silver_events_table
from jobs.silver.conform import PARITY_GAPS, conform

BASE = {"event_type": "call_ended", "schema_version": 1, "source_system": "acd", "customer_ref": "C1", "call_id": "c1",
        "agent_id": "A1", "talk_seconds": 1.0, "hold_seconds": 0.0}
_ids = itertools.count()
numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=0), st.integers(0, 2 ** 70),
                    st.sampled_from([0.0, 5e-324, 1.7976931348623157e308, 4.0, 1e15 + 0.5]))
extras = st.one_of(st.none(), st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "[" * 150 + "]" * 150, '"Zo\\ud83d"', '{"a": {"b": 1}}']))


def line(talk, hold, priority, extra, occurred) -> str:
    record = {**BASE, "event_id": f"evt-{next(_ids)}", "occurred_at": occurred, "priority": 3}
    text = json.dumps(record).replace('"talk_seconds": 1.0', f'"talk_seconds": {talk!r}' if not isinstance(talk, float) else f'"talk_seconds": {json.dumps(talk)}')
    text = text.replace('"hold_seconds": 0.0', f'"hold_seconds": {json.dumps(hold)}').replace('"priority": 3', f'"priority": {priority}')
    return text[:-1] + (f', "x": {extra}' if extra else "") + "}"


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(numbers, numbers, st.sampled_from(["1", "2.0", "5"]), extras,
                               st.sampled_from(["2026-11-02T09:00:00Z", "2026-11-02T10:00:00.123456789+01:00", "2016-12-31T23:59:60Z"])),
                     min_size=1, max_size=8), repeat=st.booleans())
def test_what_bronze_holds_silver_holds_or_quarantines(spark, tmp_path, rows, repeat):
    base = tmp_path / f"case-{next(_ids)}"
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    folder = settings.landing_root / "callcentre" / "d"
    folder.mkdir(parents=True)
    lines = [line(*row) for row in rows]
    (folder / "a.jsonl").write_text("\n".join(lines + lines[:1] * repeat) + "\n")
    land_source(spark, settings, "callcentre", "r1")
    bronze_path = lake.bronze_table(settings.lake_root, "callcentre")
    if not lake.exists(bronze_path):
        return
    bronze = DeltaTable(str(bronze_path)).to_pyarrow_table(columns=["event_id", "record_json"]).to_pylist()
    [report] = build_silver(spark, settings, "r1", ("callcentre",))
    silver = {r["event_id"]: r for r in DeltaTable(str(silver_events_table(settings.lake_root, "callcentre"))).to_pyarrow_table().to_pylist()}
    quarantine = lake.silver_quarantine_table(settings.lake_root)
    held = DeltaTable(str(quarantine)).to_pyarrow_table().num_rows if lake.exists(quarantine) else 0
    assert report.events_in == len(bronze) == report.events_inserted + report.quarantined + report.duplicates_suppressed
    assert len(silver) == report.events_inserted and held == report.quarantined
    payload = [f for f in contracts.latest("callcentre").properties if f not in contracts.ENVELOPE_FIELDS and f != "caller_phone"]
    for row in bronze:
        if row["event_id"] not in silver:
            continue
        record, event = json.loads(row["record_json"]), silver[row["event_id"]]
        for name in payload:
            if record.get(name) is not None:
                assert event[name] == record[name] or (isinstance(record[name], float) and math.isclose(event[name], record[name], rel_tol=0, abs_tol=0)), name
    shutil.rmtree(base)


def test_a_field_the_engine_cannot_read_is_a_parity_gap_with_its_name(spark):
    """The check itself, on a record no landing of this release writes (a value of the wrong type for its column)."""
    good = {**BASE, "event_id": "e1", "occurred_at": "2026-11-02T09:00:00.000000Z", "priority": 2}
    bad = {**good, "event_id": "e2", "talk_seconds": "a lot", "priority": "high"}
    rows = [(r["event_id"], r["event_type"], 1, None, "acd", "C1", "raw", json.dumps(r), "f", "x", 1, "b", "run", None, None) for r in (good, bad)]
    import datetime as dt

    now = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)
    rows = [(*r[:3], now, *r[4:13], now, now.date()) for r in rows]
    frame = spark.createDataFrame(rows, bronze_schema("callcentre"))
    gaps = {r.event_id: r[PARITY_GAPS] for r in conform(frame, "callcentre", b"k", with_parity=True).collect()}
    assert gaps == {"e1": "", "e2": "priority,talk_seconds"}


SNAPSHOT = {"event_type": "product_holding_snapshot", "schema_version": 1, "source_system": "core", "customer_ref": "C1",
            "occurred_at": "2026-11-02T02:00:00Z", "snapshot_date": "2026-11-01", "product_code": "SAV", "product_family": "deposit",
            "balance": 0, "monthly_fees": 0, "interest_margin_rate": 0.02}
amounts = st.one_of(st.decimals(min_value=Decimal("-9999999999999999.999999"), max_value=Decimal("9999999999999999.999999"), places=6),
                    st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2),
                    st.sampled_from([Decimal("99999999999999.99"), Decimal("9999999999.999999"), Decimal("1234567890123.45"),
                                     Decimal("9999999999999999.999999"), Decimal("9999999999999998.999999"), Decimal("9999999999999991.999999"),
                                     Decimal("-9999999999999992.5"),
                                     Decimal("0.000001"), Decimal("1E+15"), Decimal("5365.020000"), Decimal("1234.5600000000002"),
                                     Decimal("0.9999999999999999999"), Decimal("2.0000005"), Decimal("-2.0000005")]))


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(amounts, st.sampled_from(["f", "e", "plain"])), min_size=1, max_size=12))
def test_silver_holds_the_amount_the_sender_wrote(spark, tmp_path, rows):
    """Money, as the sender wrote it (fixed point, exponent form, trailing zeros), is in silver as that exact decimal (to
    silver's six places, rounded half up) -- never a nearby amount (found: 16 significant digits came back changed by
    a double), and never refused for the digits a double cannot carry."""
    base = tmp_path / f"case-{next(_ids)}"
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    folder = settings.landing_root / "holdings" / "d"
    folder.mkdir(parents=True)
    sent = {}
    for amount, spelling in rows:
        event_id = f"evt-{next(_ids)}"
        text = format(amount, "f") if spelling == "f" else format(amount, "e") if spelling == "e" else str(amount)
        text = text if any(c in text for c in ".eE") else text + ".0"  # a float's text, as an amount usually is
        sent[event_id] = (Decimal(text), text)
        record = json.dumps({**SNAPSHOT, "event_id": event_id})
        (folder / f"{event_id}.jsonl").write_text(record.replace('"balance": 0', f'"balance": {text}') + "\n")
    land_source(spark, settings, "holdings", "r1")
    build_silver(spark, settings, "r1", ("holdings",))
    table = silver_events_table(settings.lake_root, "holdings")
    silver = {r["event_id"]: r["balance"] for r in DeltaTable(str(table)).to_pyarrow_table(columns=["event_id", "balance"]).to_pylist()} \
        if lake.exists(table) else {}
    quarantine = lake.landing_quarantine_table(settings.lake_root)
    refused = {Path(r["_source_file"]).stem: r["reason"] for r in DeltaTable(str(quarantine)).to_pyarrow_table().to_pylist()} \
        if lake.exists(quarantine) else {}  # one file per record, named by its event id
    for event_id, (amount, text) in sent.items():
        if abs(float(text)) >= 1e16 - 8:  # within a few doubles of 10^16: no amount of money (docs/metrics.md)
            assert refused.get(event_id) == contracts.OUT_OF_RANGE, text
            continue
        assert event_id in silver, (text, refused.get(event_id))
        assert silver[event_id] == amount.quantize(Decimal("0.000001"), ROUND_HALF_UP), (event_id, amount, silver[event_id])
    shutil.rmtree(base)

"""A hostile feed, end to end (issue 16): generated call-centre files mixing whole, skewed and orphaned call
lifecycles with every kind of broken line, in several encodings, landed and built into silver. Whatever the
feed, nothing crashes and everything is accounted for at each layer:

- bronze, per file: lines in = records landed + records quarantined + blank lines (duplicates are landed;
  silver suppresses them);
- silver events: bronze events = silver events + silver quarantine + suppressed duplicates;
- silver facts: every call in silver's events is in the ``call`` table or in ``quarantine/silver_facts``,
  exactly once, and each quarantined call really breaks the rule it is held for.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import itertools
import json
import shutil
from pathlib import Path

from deltalake import DeltaTable
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st

from interaction_lake import lake, ledger
from interaction_lake.config import Settings
from jobs.bronze.land import land_source
from jobs.silver.build import build_silver, fact_quarantine_table, fact_table, silver_events_table
from jobs.silver.lifecycles import FACTS

CALL = next(f for f in FACTS if f.name == "call")
START = dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc)
_cases = itertools.count()


def stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(call: str, event_type: str, at: dt.datetime, n: int, **fields) -> dict:
    return {"event_id": f"{call}-{n}", "event_type": event_type, "schema_version": 1, "occurred_at": stamp(at),
            "source_system": "acd", "customer_ref": "C1", "call_id": call, **fields}


@st.composite
def lifecycles(draw) -> list[dict]:
    """One call: offered, queued, answered, ended -- a step may be missing, or early by up to ten minutes (clock skew)."""
    call = f"call-{draw(st.integers(0, 10**9))}"
    offered = START + dt.timedelta(seconds=draw(st.integers(0, 3600)))
    queued = offered + dt.timedelta(seconds=draw(st.integers(-600, 120)))
    answered = queued + dt.timedelta(seconds=draw(st.integers(-600, 600)))
    steps = [event(call, "call_offered", offered, 0),
             event(call, "call_queued", queued, 1, queue_id="cards", priority=3),
             event(call, "call_answered", answered, 2, queue_id="cards", agent_id="AG1"),
             event(call, "call_ended", answered + dt.timedelta(seconds=60), 3, agent_id="AG1", talk_seconds=60, hold_seconds=0)]
    dropped = draw(st.sets(st.integers(0, 3), max_size=2))
    return [json.dumps(s) for i, s in enumerate(steps) if i not in dropped]


hostile_lines = st.sampled_from([
    "{not json", "[]", "null", '{"event_id": "x"}', "", "   ",
    json.dumps({"event_id": "bad-ts", "event_type": "call_offered", "schema_version": 1, "occurred_at": "9999-12-31T23:59:59-01:00",
                "source_system": "acd", "customer_ref": "C1", "call_id": "z"}),
    json.dumps({"event_id": "old-ts", "event_type": "call_offered", "schema_version": 1, "occurred_at": "0001-01-01T00:00:00+01:00",
                "source_system": "acd", "customer_ref": "C1", "call_id": "z"}),
    '{"event_id": "sur", "event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z", '
    '"source_system": "acd", "customer_ref": "Zo\\ud83d", "call_id": "s"}',
    '{"event_id": "nan", "event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z", '
    '"source_system": "acd", "customer_ref": "C1", "call_id": "n", "x": NaN, "y": 1e400}',
    '{"event_id": "deep", "event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z", '
    '"source_system": "acd", "customer_ref": "C1", "call_id": "d", "x": ' + "[" * 200 + "]" * 200 + "}",
    "\x00\x01binary\x0b\x0c\x1c\u2028",
])
ENCODINGS = ("utf-8", "utf-8-sig", "gzip", "latin-1-line")


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(st.lists(st.one_of(lifecycles(), hostile_lines.map(lambda line: [line])), min_size=1, max_size=12),
                                st.sampled_from(ENCODINGS), st.booleans()), min_size=1, max_size=3))
@example(files=[([["\x00\x01binary\x0b\x0c\x1c\u2028"]], "latin-1-line", False)])  # found by the explore profile: refused whole
def test_a_hostile_feed_is_accounted_for_at_every_layer(spark, tmp_path, files):
    base = tmp_path / f"case-{next(_cases)}"
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    folder = settings.landing_root / "callcentre" / "d"
    folder.mkdir(parents=True)
    lines_in: dict[str, int] = {}
    for n, (groups, encoding, resend) in enumerate(files):
        lines = [line for group in groups for line in group]
        lines += lines[: len(lines) // 2] if resend else []  # a producer re-sends part of the file: duplicate events
        text = "\n".join(lines) + "\n"
        if encoding == "gzip":
            name, data = f"f{n}.jsonl.gz", gzip.compress(text.encode())
        elif encoding == "latin-1-line":  # one line in another encoding: that line alone is refused
            name, data = f"f{n}.jsonl", text.encode() + "{\"caf\u00e9\": 1}\n".encode("latin-1")
            lines.append("latin-1")
        else:
            name, data = f"f{n}.jsonl", text.encode(encoding)
        (folder / name).write_bytes(data)
        lines_in[str(folder / name)] = len(lines)

    land_source(spark, settings, "callcentre", "r1")  # never raises, whatever the lines
    entries = {e.file_path: e for e in ledger.latest_entries(spark, settings.lake_root, "callcentre").values()}
    refused = lake.landing_quarantine_table(settings.lake_root)
    whole = {r["_source_file"]: r for r in (DeltaTable(str(refused)).to_pyarrow_table().to_pylist() if lake.exists(refused) else [])
             if r["_line_number"] is None}
    for path, count in lines_in.items():
        e = entries[path]
        assert e.status in (ledger.COMMITTED, ledger.DUPLICATE_FILE), (path, e.status, e.detail)
        if path in whole:  # refused whole (mostly not text): one quarantine row holding the file's exact bytes
            assert (e.records_landed, e.records_quarantined) == (0, 1)
            assert base64.b64decode(whole[path]["raw_base64"]) == (folder / Path(path).name).read_bytes()
        elif e.status == ledger.COMMITTED:
            assert e.records_landed + e.records_quarantined + e.blank_lines == count, (path, e)

    bronze_path = lake.bronze_table(settings.lake_root, "callcentre")
    if not lake.exists(bronze_path):
        return
    [report] = build_silver(spark, settings, "r1", ("callcentre",))
    bronze = DeltaTable(str(bronze_path)).to_pyarrow_table(columns=["event_id"]).num_rows
    silver = DeltaTable(str(silver_events_table(settings.lake_root, "callcentre"))).to_pyarrow_table().to_pylist() \
        if lake.exists(silver_events_table(settings.lake_root, "callcentre")) else []
    parity = lake.silver_quarantine_table(settings.lake_root)
    held = DeltaTable(str(parity)).to_pyarrow_table().num_rows if lake.exists(parity) else 0
    assert bronze == report.events_in == len(silver) + held + report.duplicates_suppressed

    calls = {r["call_id"] for r in silver if r["call_id"]}
    stored = DeltaTable(str(fact_table(settings.lake_root, CALL))).to_pyarrow_table().to_pylist() \
        if lake.exists(fact_table(settings.lake_root, CALL)) else []
    quarantine = fact_quarantine_table(settings.lake_root)
    facts = DeltaTable(str(quarantine)).to_pyarrow_table().to_pylist() if lake.exists(quarantine) else []
    kept = [r["call_id"] for r in stored]
    held_calls = [q["fact_key"].removeprefix("call_id=") for q in facts if q["fact"] == "call"]
    assert sorted(kept + held_calls) == sorted(calls)  # every call once: stored or held, never both, never lost
    by_call: dict[str, dict[str, dt.datetime]] = {}
    for r in silver:
        by_call.setdefault(r["call_id"], {})[r["event_type"]] = r["occurred_at"]
    for q in facts:
        steps = by_call[q["fact_key"].removeprefix("call_id=")]
        if q["rule"] == "missing_opening_event":
            assert "call_offered" not in steps
        else:
            assert q["rule"] == "out_of_order", q
            order = [steps[s] for s in ("call_offered", "call_queued", "call_answered", "call_ended") if s in steps]
            assert any((b - a).total_seconds() < -5 for i, a in enumerate(order) for b in order[i + 1:]), (q, steps)
    for r in stored:  # and every stored call keeps its order within the tolerance, with no negative wait
        assert r["offered_at"] is not None and (r["queue_wait_seconds"] is None or r["queue_wait_seconds"] >= 0)
    shutil.rmtree(base)


CSV_HEADER = ("event_id,event_type,schema_version,occurred_at,source_system,customer_ref,snapshot_date,product_code,product_family,"
              "balance,monthly_fees,interest_margin_rate")
csv_cells = st.sampled_from(["CUR-STD", '"CUR\nSTD"', '"a,b"', '"say ""hi"""', "\x0b", "\x1c\x1d\x1e", "\u2028", "\x85", "café", ""])
csv_numbers = st.one_of(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False).map(str),
                        st.sampled_from(["NaN", "inf", "-Infinity", "1e400", "n/a", "4.0", "", "1" * 30]))


@st.composite
def csv_rows(draw) -> str:
    n = draw(st.integers(0, 10**9))
    cells = [f"evt-{n}", "product_holding_snapshot", draw(st.sampled_from(["1", "1.0", "x"])),
             draw(st.sampled_from(["2026-11-02T02:00:00Z", "2026-11-02", "9999-12-31T23:59:59-01:00"])), "core-banking",
             draw(st.sampled_from(["C1", "C2", "", "Zo\udcff"])), "2026-11-01", draw(csv_cells), "deposit",
             draw(csv_numbers), draw(csv_numbers), draw(st.sampled_from(["0.02", "", "NaN"]))]
    cells += draw(st.sampled_from([[], ["extra"]]))
    return ",".join(cells)


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(csv_rows(), st.just("")), min_size=1, max_size=15), bom=st.booleans())
def test_a_hostile_csv_feed_is_accounted_for_at_bronze_and_silver(spark, tmp_path, rows, bom):
    base = tmp_path / f"case-{next(_cases)}"
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    folder = settings.landing_root / "holdings" / "d"
    folder.mkdir(parents=True)
    text = "\n".join([CSV_HEADER, *rows]) + "\n"
    (folder / "products.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogateescape"))
    land_source(spark, settings, "holdings", "r1")
    [entry] = ledger.latest_entries(spark, settings.lake_root, "holdings").values()
    assert entry.status == ledger.COMMITTED, entry
    # Every physical line of the file is the header, blank, or part of exactly one landed or quarantined record
    # (a record keeps every line a quoted newline spans; a stray quote's line is refused alone).
    def spanned(table, text_column="raw_line"):
        if not lake.exists(table):
            return 0
        rows_ = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
        return sum((r[text_column] if r.get(text_column) is not None else base64.b64decode(r["raw_base64"]).decode("utf-8", "replace"))
                   .count("\n") + 1 for r in rows_)
    bronze_path = lake.bronze_table(settings.lake_root, "holdings")
    physical = text.count("\n")
    assert 1 + entry.blank_lines + spanned(bronze_path) + spanned(lake.landing_quarantine_table(settings.lake_root)) == physical
    if not lake.exists(bronze_path):
        return
    [report] = build_silver(spark, settings, "r1", ("holdings",))
    silver = DeltaTable(str(silver_events_table(settings.lake_root, "holdings"))).to_pyarrow_table().num_rows \
        if lake.exists(silver_events_table(settings.lake_root, "holdings")) else 0
    parity = lake.silver_quarantine_table(settings.lake_root)
    held = DeltaTable(str(parity)).to_pyarrow_table().num_rows if lake.exists(parity) else 0
    bronze = DeltaTable(str(bronze_path)).to_pyarrow_table(columns=["event_id"]).num_rows
    assert bronze == entry.records_landed == report.events_in == silver + held + report.duplicates_suppressed
    shutil.rmtree(base)

"""Splitting landing files into records: every line is accepted, refused with a reason, or counted blank."""

from __future__ import annotations

import json
from pathlib import Path

from interaction_lake import contracts
from interaction_lake.landing_files import cell_kinds, coerce_csv_row, discover, parse_file

RECORD = {"event_id": "evt-1", "event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z",
          "source_system": "genesys-acd", "customer_ref": "C1", "call_id": "call-1", "caller_phone": "+44 20 1234567"}


def lines(*items: object) -> bytes:
    return "\n".join(i if isinstance(i, str) else json.dumps(i) for i in items).encode()


def test_each_line_keeps_its_number_and_fate():
    data = lines(RECORD, "", '{"event_id": "evt-2", "event_type": "call_off', {**RECORD, "event_id": 7}, [1, 2], {**RECORD, "event_type": "call_parked"})
    parsed = parse_file("callcentre", "calls.jsonl", data)
    assert parsed.blank_lines == 1
    assert [(line.line_number, line.rejection.reason if line.rejection else "ok") for line in parsed.lines] == [
        (1, "ok"), (3, contracts.MALFORMED_JSON), (4, contracts.WRONG_TYPE), (5, contracts.NOT_AN_OBJECT), (6, contracts.UNKNOWN_EVENT_TYPE),
    ]
    assert parsed.rejected[0].raw_line == '{"event_id": "evt-2", "event_type": "call_off'


def test_invalid_utf8_is_an_encoding_error_not_a_crash():
    data = json.dumps(RECORD).encode() + b"\n" + b'{"event_id": "caf\xe9"}\n'
    parsed = parse_file("callcentre", "calls.jsonl", data)
    assert len(parsed.accepted) == 1
    assert parsed.rejected[0].rejection.reason == contracts.ENCODING_ERROR
    assert "\\xe9" in parsed.rejected[0].raw_line


BINARY = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4  # a spreadsheet (zip) under a text name


def test_binary_file_is_refused_whole():
    parsed = parse_file("callcentre", "calls.jsonl", BINARY)
    assert [line.rejection.reason for line in parsed.lines] == [contracts.UNREADABLE_FILE]
    assert [line.rejection.reason for line in parse_file("holdings", "h.csv", BINARY).lines] == [contracts.UNREADABLE_FILE]


def test_empty_file_has_no_records():
    parsed = parse_file("callcentre", "calls.jsonl", b"")
    assert parsed.lines == [] and parsed.blank_lines == 0


def test_crlf_and_missing_final_newline_are_fine():
    data = (json.dumps(RECORD) + "\r\n" + json.dumps({**RECORD, "event_id": "evt-2"})).encode()
    assert len(parse_file("callcentre", "calls.jsonl", data).accepted) == 2


CSV_HEADER = "event_id,event_type,schema_version,occurred_at,source_system,customer_ref,snapshot_date,product_code,product_family,balance,monthly_fees,interest_margin_rate"


def test_csv_rows_are_typed_by_the_contract():
    data = "\n".join([
        CSV_HEADER,
        "e1,product_holding_snapshot,1,2026-11-02T02:00:00Z,core,C1,2026-11-01,CUR-STD,deposit,1200.5,3.0,0.02",
        "e2,product_holding_snapshot,1,2026-11-02T02:00:00Z,core,C1,2026-11-01,CUR-STD,deposit,n/a,3.0,0.02",
        "e3,product_holding_snapshot,1,2026-11-02T02:00:00Z,core,C1,2026-11-01,CUR-STD,deposit,1.0,3.0,0.02,extra",
        "e4,product_holding_snapshot,1,2026-11-02T02:00:00Z,core,C1,2026-11-01,CUR-STD,,1.0,3.0,0.02",
    ]).encode()
    parsed = parse_file("holdings", "products.csv", data)
    assert parsed.accepted[0].record["balance"] == 1200.5
    assert parsed.accepted[0].record["schema_version"] == 1
    assert [(line.line_number, line.rejection.reason) for line in parsed.rejected] == [
        (3, contracts.WRONG_TYPE), (4, contracts.MALFORMED_CSV), (5, contracts.MISSING_FIELD)]
    assert parsed.rejected[0].raw_line.startswith("e2,")


def test_csv_empty_cell_is_null_where_the_contract_allows_it():
    properties = contracts.latest("holdings").properties
    assert coerce_csv_row({"am_id": "", "birth_year": "1980", "balance": "12"}, cell_kinds(properties)) == {"am_id": None, "birth_year": 1980, "balance": 12.0}


def test_discover_skips_in_progress_and_foreign_files(tmp_path: Path):
    for name in ("a.jsonl", "b.csv", ".c.jsonl", "_d.jsonl", "e.jsonl.tmp", "f.parquet", "sub/g.ndjson"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)] == ["a.jsonl", "b.csv", "sub/g.ndjson"]
    assert discover(tmp_path / "missing") == []


def test_a_csv_integer_with_control_whitespace_is_read_not_a_crash():
    """Found by fuzzing: '0\\x1f' passed the integer pattern after strip() but int() refused it unstripped."""
    assert coerce_csv_row({"schema_version": "1\x1f"}, cell_kinds({"schema_version": {"type": "integer"}})) == {"schema_version": 1}


def test_a_file_cut_off_mid_record_is_quarantined_whole_line_by_line():
    good = lines(RECORD, {**RECORD, "event_id": "evt-2"}) + b"\n\n"  # line 3 is blank
    cut = good + json.dumps({**RECORD, "event_id": "evt-3"}).encode()[:40]  # the transfer stopped mid-line
    parsed = parse_file("callcentre", "calls.jsonl", cut)
    assert parsed.accepted == []
    assert [(line.line_number, line.rejection.reason) for line in parsed.lines] == [(1, contracts.TRUNCATED_FILE), (2, contracts.TRUNCATED_FILE),
                                                                                     (4, contracts.TRUNCATED_FILE)]
    assert parsed.blank_lines == 1
    assert parsed.lines[0].raw_line == json.dumps(RECORD)  # nothing lost: the complete lines are kept, raw
    assert "no newline after line 4" in parsed.lines[0].rejection.detail


def test_a_bad_last_line_with_its_newline_or_a_good_last_line_without_one_is_not_truncation():
    bad_last = lines(RECORD, '{"event_id": "evt-2", "event_t') + b"\n"
    assert [line.rejection.reason if line.rejection else "ok" for line in parse_file("callcentre", "c.jsonl", bad_last).lines] == [
        "ok", contracts.MALFORMED_JSON]
    no_newline = lines(RECORD, {**RECORD, "event_id": "evt-2"})
    assert len(parse_file("callcentre", "c.jsonl", no_newline).accepted) == 2


def test_a_csv_cut_off_mid_row_is_quarantined_whole_but_a_complete_last_row_without_newline_lands():
    header = ("event_id,event_type,schema_version,occurred_at,source_system,customer_ref,snapshot_date,product_code,product_family,"
              "balance,monthly_fees,interest_margin_rate")
    row = "evt-h{n},product_holding_snapshot,1,2026-11-02T02:00:00.000Z,core-banking,C{n},2026-11-01,CUR-STD,deposit,76965.6,3.0,0.02"
    complete = "\n".join([header, row.format(n=1), row.format(n=2)]).encode()
    parsed = parse_file("holdings", "holdings.csv", complete)
    assert len(parsed.accepted) == 2, [line.rejection for line in parsed.rejected]
    cut = parse_file("holdings", "holdings.csv", complete[:-30])
    assert {line.rejection.reason for line in cut.lines} == {contracts.TRUNCATED_FILE} and len(cut.lines) == 2

"""Hostile and real input at the parser (issue 16, sections 1-3 and 5): each example found by hand, as a regression.
The classes they stand for are fuzzed in test_landing_fuzz.py."""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import decimal
import gzip
import json

import pytest

from interaction_lake import contracts
from interaction_lake.landing_files import FileLines, Taken, TimeWindow, parse_file

RECORD = {"event_id": "evt-1", "event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z",
          "source_system": "genesys-acd", "customer_ref": "C1", "call_id": "call-1"}
HEADER = "event_id,event_type,schema_version,occurred_at,source_system,customer_ref,snapshot_date,product_code,product_family,balance,monthly_fees,interest_margin_rate"
ROW = "e{n},product_holding_snapshot,1,2026-11-02T02:00:00Z,core,C{n},2026-11-01,{product},deposit,{balance},3.0,0.02"
WINDOW = TimeWindow(dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))


def jsonl(*records: dict | str) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n").encode()


def fates(parsed) -> list[tuple[int | None, str]]:
    return [(line.line_number, line.rejection.reason if line.rejection else "ok") for line in parsed.lines]


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_time_outside_the_utc_datetime_range_is_refused_not_a_crash(occurred_at):
    parsed = parse_file("callcentre", "c.jsonl", jsonl(RECORD, {**RECORD, "event_id": "evt-2", "occurred_at": occurred_at}))
    assert fates(parsed) == [(1, "ok"), (2, contracts.INVALID_VALUE)]
    assert "date-time" in parsed.lines[1].rejection.detail


@pytest.mark.parametrize("occurred_at,reason", [("2099-01-01T00:00:00Z", contracts.IMPLAUSIBLE_TIMESTAMP),
                                                ("1900-01-01T00:00:00Z", contracts.IMPLAUSIBLE_TIMESTAMP),
                                                ("0001-01-01T00:00:00Z", contracts.IMPLAUSIBLE_TIMESTAMP)])
def test_times_outside_the_plausibility_window_have_their_own_reason(occurred_at, reason):
    parsed = parse_file("callcentre", "c.jsonl", jsonl({**RECORD, "occurred_at": occurred_at}), WINDOW)
    assert fates(parsed) == [(1, reason)]


def test_a_lone_surrogate_in_a_contract_field_is_refused_and_in_an_extra_field_is_left_in_raw_line():
    half_emoji = '{"event_id": "evt-2", "event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z", ' \
                 '"source_system": "genesys-acd", "customer_ref": "Zo\\ud83d", "call_id": "call-2"}'
    extra = json.dumps({**RECORD, "event_id": "evt-3", "note": "x"}).replace('"x"', '"Zo\\ud83d"')
    parsed = parse_file("callcentre", "c.jsonl", jsonl(RECORD, half_emoji, extra))
    assert fates(parsed) == [(1, "ok"), (2, contracts.ENCODING_ERROR), (3, "ok")]
    assert "surrogate" in parsed.lines[1].rejection.detail
    assert "note" not in parsed.lines[2].record and parsed.lines[2].raw_line == extra
    parsed.lines[2].record_json.encode("utf-8")


@pytest.mark.parametrize("text,expected", [
    ("2026-11-02T08:00:00+01:00", "2026-11-02T07:00:00.000000Z"),
    ("2026-11-02t08:00:00.5z", "2026-11-02T08:00:00.500000Z"),
    ("2026-11-02T08:00:00.123456789Z", "2026-11-02T08:00:00.123456Z"),  # truncated to Delta's microsecond; raw_line keeps all
    ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"),  # a real leap second
    ("2017-01-01T00:59:60+01:00", "2016-12-31T23:59:59.999999Z"),
])
def test_rfc3339_times_are_read_as_documented(text, expected):
    assert contracts.format_timestamp(contracts.parse_timestamp(text)) == expected


@pytest.mark.parametrize("text", ["20261102T080000Z", "2026-W45-1T08:00:00Z", "2026-11-02T08:00Z", "2026-11-02T08:00:00",
                                  "2026-11-02 08:00:00Z", "2026-11-02T12:00:60Z", "2026-11-02T08:00:00+24:00", "2026-02-30T08:00:00Z"])
def test_what_is_not_rfc3339_is_refused(text):
    with pytest.raises(ValueError):
        contracts.parse_timestamp(text)
    assert contracts.validate("callcentre", {**RECORD, "occurred_at": text}).reason == contracts.INVALID_VALUE


@pytest.mark.parametrize("cell", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_csv_cells_with_characters_other_splitters_break_lines_on_keep_every_raw_line_in_place(cell):
    rows = [ROW.format(n=1, product=f"CUR{cell}STD", balance=1), ROW.format(n=2, product="CUR", balance=2), ROW.format(n=3, product="SAV", balance=3)]
    parsed = parse_file("holdings", "h.csv", ("\n".join([HEADER, *rows]) + "\n").encode())
    assert [line.raw_line for line in parsed.lines] == rows  # each row's own line, the last one included
    assert [line.record["customer_ref"] for line in parsed.lines] == ["C1", "C2", "C3"]


def test_a_quoted_newline_keeps_both_physical_lines_in_one_record_and_the_next_rows_in_place():
    first = ROW.format(n=1, product='"CUR\nSTD"', balance=1)
    rows = [first, ROW.format(n=2, product="SAV", balance=2)]
    parsed = parse_file("holdings", "h.csv", ("\n".join([HEADER, *rows]) + "\n").encode())
    assert [(line.line_number, line.lines_spanned, line.raw_line) for line in parsed.lines] == [(2, 2, first), (4, 1, rows[1])]
    assert parsed.lines[0].record["product_code"] == "CUR\nSTD"


def test_a_stray_quote_refuses_its_own_line_not_the_rest_of_the_file():
    rows = [ROW.format(n=1, product='"CUR', balance=1), *(ROW.format(n=n, product="SAV", balance=n) for n in range(2, 6))]
    parsed = parse_file("holdings", "h.csv", ("\n".join([HEADER, *rows]) + "\n").encode())
    assert fates(parsed) == [(2, contracts.MALFORMED_CSV), (3, "ok"), (4, "ok"), (5, "ok"), (6, "ok")]


def test_a_csv_without_a_header_row_is_refused_row_by_row_and_no_row_is_taken_for_the_header():
    rows = [ROW.format(n=n, product="SAV", balance=n) for n in (1, 2, 3)]
    parsed = parse_file("holdings", "h.csv", ("\n".join(rows) + "\n").encode())
    assert fates(parsed) == [(1, contracts.MALFORMED_CSV), (2, contracts.MALFORMED_CSV), (3, contracts.MALFORMED_CSV)]
    assert [line.raw_line for line in parsed.lines] == rows and "no header row" in parsed.lines[0].rejection.detail


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column():
    data = codecs.BOM_UTF8 + ("\n".join([HEADER, ROW.format(n=1, product="SAV", balance=1)]) + "\n").encode()
    assert fates(parse_file("holdings", "h.csv", data)) == [(2, "ok")]
    assert fates(parse_file("callcentre", "c.jsonl", codecs.BOM_UTF8 + jsonl(RECORD))) == [(1, "ok")]


def test_one_invalid_byte_in_a_csv_refuses_that_row_alone_with_its_bytes():
    bad = ROW.format(n=2, product="SAV", balance=2).encode().replace(b"SAV", b"S\xe9V")
    data = b"\n".join([HEADER.encode(), ROW.format(n=1, product="SAV", balance=1).encode(), bad, ROW.format(n=3, product="SAV", balance=3).encode()]) + b"\n"
    parsed = parse_file("holdings", "h.csv", data)
    assert fates(parsed) == [(2, "ok"), (3, contracts.ENCODING_ERROR), (4, "ok")]
    assert base64.b64decode(parsed.lines[1].raw_base64) == bad and "\\xe9" in parsed.lines[1].raw_line


def test_one_nul_in_a_thousand_json_lines_refuses_one_line():
    records = [json.dumps({**RECORD, "event_id": f"evt-{i}"}) for i in range(1000)]
    records[500] = records[500].replace("genesys", "gen\x00esys")
    parsed = parse_file("callcentre", "c.jsonl", ("\n".join(records) + "\n").encode())
    assert len(parsed.accepted) == 999 and fates(parsed)[500] == (501, contracts.ENCODING_ERROR)
    assert base64.b64decode(parsed.lines[500].raw_base64) == records[500].encode()


@pytest.mark.parametrize("codec,bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-16-le", b"")])
def test_utf16_files_land(codec, bom):
    text = "\r\n".join([HEADER, ROW.format(n=1, product="SAV", balance=1), ROW.format(n=2, product="CUR", balance=2)]) + "\r\n"
    parsed = parse_file("holdings", "h.csv", bom + text.encode(codec))
    assert fates(parsed) == [(2, "ok"), (3, "ok")] and parsed.lines[0].raw_line == ROW.format(n=1, product="SAV", balance=1)


def test_gzip_files_land_and_a_cut_archive_waits_for_the_complete_one():
    data = jsonl(RECORD, {**RECORD, "event_id": "evt-2"})
    assert fates(parse_file("callcentre", "c.jsonl.gz", gzip.compress(data))) == [(1, "ok"), (2, "ok")]
    assert fates(parse_file("callcentre", "c.jsonl.gz", gzip.compress(data)[:-12])) == [(None, contracts.TRUNCATED_FILE)]


@pytest.mark.parametrize("extra", ['"x": NaN', '"x": Infinity', '"x": 1e400', '"x": ' + "[" * 200 + "]" * 200])
def test_an_extra_field_no_engine_can_read_leaves_the_payload_whole(extra):
    line = json.dumps(RECORD)[:-1] + ", " + extra + "}"
    [accepted] = parse_file("callcentre", "c.jsonl", (line + "\n").encode()).lines
    assert accepted.rejection is None and "x" not in accepted.record and accepted.raw_line == line
    assert json.loads(accepted.record_json) == {**RECORD, "occurred_at": "2026-11-02T09:00:00.000000Z"}


TICKET = {**RECORD, "event_type": "ticket_issued", "source_system": "qmatic-branch", "ticket_id": "BR001-1", "branch_id": "BR001",
          "service_type": "cash"}
del TICKET["call_id"]


@pytest.mark.parametrize("source,base,field,value,reason,kept", [
    ("callcentre", RECORD, "priority", 4.0, None, 4),  # JSON Schema counts 4.0 as an integer: silver reads 4
    ("counter", TICKET, "queue_position", 2 ** 63, contracts.OUT_OF_RANGE, None),
    ("counter", TICKET, "queue_position", 2 ** 63 - 1, None, 2 ** 63 - 1),
    ("callcentre", RECORD, "talk_seconds", "1e400", contracts.OUT_OF_RANGE, None),
    ("callcentre", RECORD, "talk_seconds", "NaN", contracts.OUT_OF_RANGE, None),
    # a double rounds 2^53+1 (found by tests/integration/jobs/silver/test_parity.py): refused, not silently changed
    ("callcentre", RECORD, "talk_seconds", 2 ** 53 + 1, contracts.OUT_OF_RANGE, None),
    ("callcentre", RECORD, "talk_seconds", 2 ** 53 + 2, None, 2 ** 53 + 2),  # a double holds it exactly
])
def test_contract_numbers_are_kept_exactly_or_refused_as_out_of_range(source, base, field, value, reason, kept):
    line = json.dumps({**base, field: 0})[:-1].replace(f'"{field}": 0', f'"{field}": {value}') + "}"
    [parsed] = parse_file(source, "c.jsonl", (line + "\n").encode()).lines
    assert (parsed.rejection.reason if parsed.rejection else None) == reason
    if kept is not None:
        assert parsed.record[field] == kept and isinstance(parsed.record[field], int)


@pytest.mark.parametrize("columnar", [False, True])
@pytest.mark.parametrize("kind", ["jsonl", "csv"])
@pytest.mark.parametrize("amount,kept", [
    ("9999999999.999999", "9999999999.999999"),  # 16 significant digits: a double would make it 9999999999.999998
    ("99999999999999.99", "99999999999999.99"),  # a double would make it 99999999999999.98
    ("1234567890123456.7", "1234567890123456.7"),  # 17: a double would make it 1234567890123456.8
    ("12345678901234.5678915", "12345678901234.567892"),  # beyond six places: rounded half up there, as any amount
    ("0.9999999999999999999", "1.000000"),  # a double makes it 1.0: the same amount to six places, rounded half up
    ("1234.5600000000002", "1234.56"),  # a double's own text (as systems printing doubles write): the same amount
    ("12345678901.2345", "12345678901.2345"),  # 15: carried exactly
    ("1.500000000000000000", "1.5"),  # trailing zeros: the same amount
])
def test_an_amount_of_money_is_kept_exactly(columnar, kind, amount, kept):
    """Silver casts the canonical record's text to six places: an amount a double carries is written as the double's
    shortest text; one a double would change (more than 15 significant digits) as its own amount, on the reference
    and the compiled path alike -- never refused, never changed."""
    if kind == "csv":
        data = ("\n".join([HEADER, ROW.format(n=1, product="SAV", balance=amount)]) + "\n").encode()
    else:
        record = dict(zip(HEADER.split(","), ROW.format(n=1, product="SAV", balance=0).split(",")))
        record.update(schema_version=1, balance=0, monthly_fees=3.0, interest_margin_rate=0.02)
        data = (json.dumps(record).replace('"balance": 0', f'"balance": {amount}') + "\n").encode()
    [part] = FileLines("holdings", f"h.{kind}", data, columnar=columnar)
    if isinstance(part, Taken):  # the compiled path took it
        [record_json] = part.columns[-2]
        rejection = None
    else:
        record_json, rejection = part.record_json if part.rejection is None else None, part.rejection
    held = json.loads(record_json, parse_float=decimal.Decimal)["balance"]
    assert rejection is None and held.quantize(decimal.Decimal("0.000001"), decimal.ROUND_HALF_UP) == decimal.Decimal(kept)


@pytest.mark.parametrize("cell", ["NaN", "inf", "-Infinity", "1e400"])
def test_csv_number_cells_no_column_can_hold_are_refused(cell):
    data = ("\n".join([HEADER, ROW.format(n=1, product="SAV", balance=cell)]) + "\n").encode()
    assert fates(parse_file("holdings", "h.csv", data)) == [(2, contracts.OUT_OF_RANGE)]

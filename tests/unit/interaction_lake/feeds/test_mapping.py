"""One native record -> contract events: clock times in the feed's zone (DST, midnight), sentinels, maps, exclusions,
deterministic ids; and a native file through ``landing_files`` keeps every line's fate."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from hypothesis import given, strategies as st

from interaction_lake import contracts, feeds
from interaction_lake.feeds.mapping import EXCLUDED, map_record
from interaction_lake.generator.feeds import ACD_COLUMNS, SAMPLES
from interaction_lake.landing_files import parse_file

ACD = feeds.load(feeds.DEFAULT_DIR / "acd_call_detail.yaml")
CALL = dict(vru_line="AA0001", call_id="1", customer_id="42", priority="2", type="PS", date="261024", vru_entry="23:59:50",
            vru_exit="23:59:58", vru_time="8", q_start="23:59:59", q_exit="00:00:20", q_time="21", outcome="AGENT",
            ser_start="00:00:20", ser_exit="00:03:03", ser_time="163", server="MICHAL")


def events(cells=CALL, tz="Europe/Madrid"):
    mapped = map_record(ACD, cells, "\t".join(cells.values()), tz)
    assert mapped.refusal is None and mapped.excluded is None, mapped
    return {e["event_type"]: e for e in mapped.events}


def test_an_answered_call_crossing_midnight_in_summer_time():
    found = events()
    assert list(found) == ["call_offered", "ivr_exited", "call_queued", "call_answered", "call_ended"]
    assert found["call_offered"]["occurred_at"] == "2026-10-24T21:59:50.000000Z"  # CEST, UTC+2
    assert found["call_answered"]["occurred_at"] == "2026-10-24T22:00:20.000000Z"  # the next local day
    assert found["call_ended"]["talk_seconds"] == 163.0 and found["call_queued"]["priority"] == 1
    assert found["call_offered"]["customer_ref"] == "42"


def test_a_call_across_the_autumn_change_measures_real_seconds():
    # 25 Oct 2026 in Madrid: 03:00 CEST becomes 02:00 CET. A call from 01:59:00 to 02:01:00 (first pass) lasts 2 min.
    cells = {**CALL, "date": "261025", "vru_entry": "01:58:00", "vru_exit": "01:58:10", "q_start": "01:58:11", "q_exit": "01:59:00",
             "ser_start": "01:59:00", "ser_exit": "02:01:00"}
    assert events(cells)["call_ended"]["talk_seconds"] == 120.0


def test_a_spring_jump_is_an_hour_shorter_on_the_clock():
    cells = {**CALL, "date": "260329", "vru_entry": "01:59:00", "vru_exit": "01:59:10", "q_start": "01:59:11", "q_exit": "01:59:30",
             "ser_start": "01:59:30", "ser_exit": "03:00:30"}
    assert events(cells)["call_ended"]["talk_seconds"] == 60.0  # 02:00 CET is 03:00 CEST


def test_sentinels_read_as_null_and_shape_the_events():
    hung_up = {**CALL, "customer_id": "0", "q_start": "00:00:00", "q_exit": "00:00:00", "outcome": "HANG", "ser_start": "00:00:00",
               "ser_exit": "00:00:00", "server": "NO_SERVER"}
    found = events(hung_up)
    assert list(found) == ["call_offered", "ivr_exited"] and found["ivr_exited"]["ivr_outcome"] == "hung_up"
    assert found["call_offered"]["customer_ref"] is None  # "0": not identified, and the envelope allows null


def test_exclusions_refusals_and_unmapped_values_name_their_reason():
    assert map_record(ACD, {**CALL, "outcome": "PHANTOM"}, "", "UTC").excluded.startswith("phantom call")
    bad_time = map_record(ACD, {**CALL, "vru_entry": "24:61:00"}, "", "UTC").refusal
    assert bad_time.reason == "wrong_type" and "vru_entry" in bad_time.detail
    unmapped = map_record(ACD, {**CALL, "priority": "7"}, "", "UTC").refusal
    assert unmapped.reason == "invalid_value" and "'7' is not in the mapping's map for priority" in unmapped.detail
    no_time = map_record(ACD, {**CALL, "ser_start": "00:00:00"}, "", "UTC").refusal
    assert no_time.reason == "missing_field" and "service_start_at" in no_time.detail


@given(st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Madrid", "America/New_York"]), st.text(min_size=1, max_size=8))
def test_event_ids_depend_on_the_key_columns_only(tz, noise):
    first = {e["event_type"]: e["event_id"] for e in map_record(ACD, CALL, "a", tz).events}
    # the same call re-sent: another line text, another zone, other non-key cells -- the same ids
    again = {e["event_type"]: e["event_id"] for e in map_record(ACD, {**CALL, "server": noise.strip() or "X", "q_time": "99"}, noise, "UTC").events}
    assert first == again and len(set(first.values())) == len(first)
    other = {e["event_type"]: e["event_id"] for e in map_record(ACD, {**CALL, "call_id": "2"}, "a", tz).events}
    assert not set(first.values()) & set(other.values())


def test_every_line_of_the_native_sample_has_one_fate():
    for path in sorted((SAMPLES / "acd").glob("*.tsv")):
        data = path.read_bytes()
        parsed = parse_file("callcentre", path.name, data, feed=ACD, timezone="Europe/Madrid")
        lines = data.decode().splitlines()
        assert sum(line.lines_spanned for line in parsed.lines) + parsed.header_lines + parsed.blank_lines == len(lines)
        assert parsed.header_lines == 1 and lines[0].split("\t") == list(ACD_COLUMNS)
        for line in parsed.lines:
            assert line.raw_line == lines[line.line_number - 1]  # the bank's own line, for every event of it
        reasons = {line.rejection.reason for line in parsed.rejected}
        assert reasons <= {EXCLUDED, "wrong_type", "invalid_value"}
        assert all(json.loads(line.record_json)["source_system"] == "acd" for line in parsed.accepted)


def test_a_header_without_the_mappings_columns_refuses_every_row_with_the_reason():
    data = b"vru_line\tcall\n" + b"AA\t1\n"
    parsed = parse_file("callcentre", "x.tsv", data, feed=ACD)
    assert [line.rejection.reason for line in parsed.lines] == ["malformed_csv"]
    assert "the header lacks the mapping's column(s) call_id" in parsed.lines[0].rejection.detail


def test_a_legacy_encoding_is_read_as_declared(tmp_path):
    text = (feeds.DEFAULT_DIR / "monthly_accounts.yaml").read_text().replace("encoding: utf-8", "encoding: cp1252")
    (tmp_path / "m.yaml").write_text(text)
    mapping = feeds.load(tmp_path / "m.yaml")
    row = "2026-01-31;ES1;1234567;CAFÉ-PLUS;SAVINGS;EUR;10,00;10,00;0,01;0,00;OPEN\n"
    parsed = parse_file("holdings", "accounts_x.csv", (";".join(["month_end", "account_no", "customer_no", "product", "product_type",
                        "currency", "balance_eom", "balance_avg", "interest_booked", "fees_booked", "status"]) + "\n" + row).encode("cp1252"),
                        feed=mapping)
    assert [json.loads(line.record_json)["product_code"] for line in parsed.accepted] == ["CAFÉ-PLUS"]
    assert dt.date.fromisoformat(json.loads(parsed.accepted[0].record_json)["snapshot_date"]) == dt.date(2026, 1, 31)


ACCOUNTS_HEADER = "month_end;account_no;customer_no;product;product_type;currency;balance_eom;balance_avg;interest_booked;fees_booked;status"


def test_a_feed_s_amount_is_kept_exactly():
    """A decimal column is read exactly, and its amount reaches the canonical record exactly: as a double's text where a
    double carries it, as its own text where a double would change it; one beyond 16 digits before the point is
    refused."""
    mapping = feeds.load(feeds.DEFAULT_DIR / "monthly_accounts.yaml")
    rows = ["2026-01-31;ES1;1;CUR;CURRENT;EUR;1234567890123,45;10,00;0,01;0,00;OPEN",  # 15 significant digits
            "2026-01-31;ES2;2;CUR;CURRENT;EUR;99999999999999,99;10,00;0,01;0,00;OPEN",  # 16: a double would make it ...,98
            "2026-01-31;ES3;3;CUR;CURRENT;EUR;9999999999999999,9999999;10,00;0,01;0,00;OPEN"]  # 10^16 at six places
    parsed = parse_file("holdings", "accounts_x.csv", "\n".join([ACCOUNTS_HEADER, *rows, ""]).encode(), feed=mapping)
    assert [json.loads(line.record_json, parse_float=Decimal)["balance"] for line in parsed.accepted] == \
        [Decimal("1234567890123.45"), Decimal("99999999999999.99")]
    [refused] = [line for line in parsed.lines if line.rejection is not None]
    assert refused.rejection.reason == contracts.OUT_OF_RANGE and "9999999999999999.9999999" in refused.rejection.detail


FIXED = """
feed: branch_tickets
source: counter
landing: {folder: qsys, pattern: "*.dat"}
format: {kind: fixed_width, encoding: latin-1}
timezone: Asia/Shanghai
columns:
  branch: {start: 1, width: 5}
  ticket: {start: 6, width: 5}
  day: {start: 11, width: 8, type: date, format: "%Y%m%d"}
  issued: {start: 19, width: 4, type: time, format: "%H%M"}
  service: {start: 23, width: 4}
  customer: {start: 27, width: 8, null_values: ["--------"]}
times:
  issued_at: {date: day, time: issued}
event_id: {key: [branch, ticket, day]}
common:
  source_system: {value: qsys}
  customer_ref: {column: customer}
events:
  - event_type: ticket_issued
    at: issued_at
    fields:
      branch_id: {column: branch}
      ticket_id: {column: ticket}
      service_type: {column: service, map: {CASH: cash, LOAN: loans}, default: other}
"""


def test_fixed_width_and_json_lines_exports(tmp_path):
    (tmp_path / "fixed.yaml").write_text(FIXED)
    fixed = feeds.load(tmp_path / "fixed.yaml")
    data = "BR001T0001202611020930CASH12345678\nBR002T0002202611020001LOAN--------\nBR003\n".encode("latin-1")
    parsed = parse_file("counter", "q.dat", data, feed=fixed)
    records = [json.loads(line.record_json) for line in parsed.accepted]
    assert [(r["branch_id"], r["occurred_at"], r["service_type"], r["customer_ref"]) for r in records] == [
        ("BR001", "2026-11-02T01:30:00.000000Z", "cash", "12345678"),  # 09:30 in Shanghai (UTC+8)
        ("BR002", "2026-11-01T16:01:00.000000Z", "loans", None)]       # 00:01 local: the previous day in UTC
    assert [line.rejection.reason for line in parsed.rejected] == ["missing_field"]  # a line too short for its date

    jsonl = FIXED.replace("format: {kind: fixed_width, encoding: latin-1}", "format: {kind: json_lines}")
    for column in ("branch", "ticket", "day", "issued", "service", "customer"):
        jsonl = jsonl.replace(f"  {column}: {{start:", f"  {column}: {{name: {column.upper()}, start:")
    (tmp_path / "jsonl.yaml").write_text(jsonl)
    lines = feeds.load(tmp_path / "jsonl.yaml")
    record = {"BRANCH": "BR001", "TICKET": "T0001", "DAY": "20261102", "ISSUED": "0930", "SERVICE": "CASH", "CUSTOMER": 12345678}
    parsed = parse_file("counter", "q.jsonl", (json.dumps(record) + "\n[1]\n").encode(), feed=lines)
    assert json.loads(parsed.accepted[0].record_json)["customer_ref"] == "12345678"
    assert [line.rejection.reason for line in parsed.rejected] == ["not_an_object"]

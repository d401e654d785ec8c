"""Fuzzing the landing parsers and contract validation: no input crashes them, every line has one fate
(accepted, refused with a known reason, or blank), and the counts reconcile with the file."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from interaction_lake import contracts
from interaction_lake.landing_files import parse_file

REASONS = {contracts.MISSING_FIELD, contracts.WRONG_TYPE, contracts.INVALID_VALUE, contracts.UNKNOWN_EVENT_TYPE,
           contracts.UNSUPPORTED_SCHEMA_VERSION, contracts.MALFORMED_JSON, contracts.MALFORMED_CSV, contracts.NOT_AN_OBJECT,
           contracts.ENCODING_ERROR, contracts.UNREADABLE_FILE, contracts.TRUNCATED_FILE}
VALID = {"event_id": "evt-1", "event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z",
         "source_system": "genesys-acd", "customer_ref": "C1", "call_id": "call-1"}

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)
# Records near the contract: a valid event with fields dropped, retyped or replaced, so validation is exercised deeply.
mutated_records = st.builds(
    lambda drop, changes: {**{k: v for k, v in VALID.items() if k not in drop}, **changes},
    st.sets(st.sampled_from(sorted(VALID)), max_size=3),
    st.dictionaries(st.sampled_from([*VALID, "talk_seconds", "queue_id", "extra"]), json_values, max_size=3))
json_lines = st.one_of(
    mutated_records.map(json.dumps).map(str.encode),
    json_values.map(json.dumps).map(str.encode),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),  # lone surrogates: invalid UTF-8
    st.binary(max_size=40).filter(lambda b: b"\x00" not in b),
    st.just(b"[" * 5000),  # deep nesting
    st.just(b"   "),
)


def line_count(data: bytes) -> int:
    return len(data.splitlines())


def check(parsed, source: str) -> None:
    for line in parsed.lines:
        assert (line.record is None) == (line.rejection is not None)
        if line.rejection is None:
            assert contracts.validate(source, line.record) is None
        else:
            assert line.rejection.reason in REASONS and line.rejection.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_lines, max_size=25), st.sampled_from([b"\n", b"\r\n"]))
def test_json_lines_files_never_crash_and_every_line_has_one_fate(items, newline):
    data = newline.join(items)
    parsed = parse_file("callcentre", "calls.jsonl", data)
    check(parsed, "callcentre")
    if b"\x00" in data:  # binary or corrupt: the whole file is refused, nothing of it lands
        assert [line.rejection.reason for line in parsed.lines] == [contracts.UNREADABLE_FILE]
        return
    assert len(parsed.lines) + parsed.blank_lines == line_count(data)  # in = accepted + refused + blank
    numbers = [line.line_number for line in parsed.lines]
    assert numbers == sorted(set(numbers))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_either_parser(data):
    for name, source in (("calls.jsonl", "callcentre"), ("holdings.csv", "holdings")):
        parsed = parse_file(source, name, data)
        check(parsed, source)
        if b"\x00" in data:
            assert [line.rejection.reason for line in parsed.lines] == [contracts.UNREADABLE_FILE]


csv_cells = st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
                      st.sampled_from(["", "1", "-3", "2.5", "true", "2026-11-02", "2026-11-02T02:00:00Z", '"', '""', "a,b", "\n"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(csv_cells, max_size=12), max_size=15))
def test_csv_files_never_crash_and_refusals_have_reasons(rows):
    header = ",".join(contracts.latest("holdings").properties)
    body = "\n".join(",".join(row) for row in rows)
    data = (header + "\n" + body).encode()
    parsed = parse_file("holdings", "holdings.csv", data)
    check(parsed, "holdings")
    # quoted cells may span lines, so rows <= physical lines after the header
    assert len(parsed.lines) + parsed.blank_lines <= max(line_count(data) - 1, 1)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["counter", "callcentre", "survey", "account_manager", "holdings"]), st.one_of(json_values, mutated_records))
def test_contract_validation_answers_every_value_with_none_or_a_known_reason(source, record):
    rejection = contracts.validate(source, record)
    assert rejection is None or (rejection.reason in REASONS and rejection.detail)

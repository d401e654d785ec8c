"""Fuzzing the landing parsers and contract validation: no input crashes them, every line has one fate
(accepted, refused with a known reason, or blank), and the counts reconcile with the file."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from interaction_lake import contracts
from interaction_lake import landing_bytes, landing_files
from interaction_lake.landing_files import parse_file

REASONS = {contracts.MISSING_FIELD, contracts.WRONG_TYPE, contracts.INVALID_VALUE, contracts.UNKNOWN_EVENT_TYPE,
           contracts.UNSUPPORTED_SCHEMA_VERSION, contracts.MALFORMED_JSON, contracts.MALFORMED_CSV, contracts.NOT_AN_OBJECT,
           contracts.ENCODING_ERROR, contracts.UNREADABLE_FILE, contracts.TRUNCATED_FILE, contracts.OUT_OF_RANGE}
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
    st.binary(max_size=40),
    st.just(b"[" * 5000),  # deep nesting
    st.just(b"   "),
)


def physical(data: bytes) -> list[tuple[int, int]]:
    """The oracle: (start, end) byte offsets of each physical line's content (LF ends a line; a CR before it is
    part of the terminator), written independently of the parser."""
    offsets, start = [], 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while start < len(data):
        stop = data.find(b"\n", start)
        if stop < 0:
            offsets.append((start, len(data)))
            break
        offsets.append((start, stop - 1 if stop > start and data[stop - 1:stop] == b"\r" else stop))
        start = stop + 1
    return offsets


def check(parsed, source: str, data: bytes | None = None) -> None:
    """Every line has one fate with a known reason; with ``data``, the lines account for the file byte for byte."""
    for line in parsed.lines:
        assert (line.record is None) == (line.rejection is not None)
        if line.rejection is None:
            assert contracts.validate(source, line.record) is None
            assert line.record_json.encode("utf-8")  # what bronze stores is always text
        else:
            assert line.rejection.reason in REASONS and line.rejection.detail
    if data is None or data.startswith(b"\x1f\x8b") or landing_bytes.encoding(data)[0] != "utf-8":
        return
    if any(line.line_number is None for line in parsed.lines):  # refused whole: nothing of it lands
        assert len(parsed.lines) == 1 and parsed.lines[0].rejection.reason in (contracts.UNREADABLE_FILE, contracts.ENCODING_ERROR)
        return
    lines = physical(data)
    assert sum(line.lines_spanned for line in parsed.lines) + parsed.blank_lines + parsed.header_lines == len(lines)
    numbers = [line.line_number for line in parsed.lines]
    assert numbers == sorted(set(numbers))
    for line in parsed.lines:
        raw = data[lines[line.line_number - 1][0]:lines[line.line_number + line.lines_spanned - 2][1]]
        if line.raw_base64 is not None:
            assert landing_files.decode_base64(line.raw_base64) == raw
        else:
            assert line.raw_line == raw.decode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_lines, max_size=25), st.sampled_from([b"\n", b"\r\n"]))
def test_json_lines_files_never_crash_and_every_line_has_one_fate(items, newline):
    data = newline.join(items)
    check(parse_file("callcentre", "calls.jsonl", data), "callcentre", data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_either_parser(data):
    for name, source in (("calls.jsonl", "callcentre"), ("holdings.csv", "holdings")):
        check(parse_file(source, name, data), source, data)


# Cells with what real exports hold: separators, quotes and quoted newlines, control characters that other
# line splitters treat as line ends (\x0b, \x1c-\x1e, \x85, U+2028), NUL, and numbers no column can hold.
csv_cells = st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                      st.sampled_from(["", "1", "-3", "2.5", "true", "2026-11-02", "2026-11-02T02:00:00Z", '"', '""', "a,b", "\n",
                                       '"a\nb"', '"x\r\ny"', "\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\u2028", "\x00", "NaN", "inf", "1e400",
                                       "\ufeff"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(csv_cells, max_size=12), max_size=15))
def test_csv_files_never_crash_and_refusals_have_reasons(rows):
    header = ",".join(contracts.latest("holdings").properties)
    body = "\n".join(",".join(row) for row in rows)
    data = (header + "\n" + body).encode()
    parsed = parse_file("holdings", "holdings.csv", data)
    check(parsed, "holdings", data)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["counter", "callcentre", "survey", "account_manager", "holdings"]), st.one_of(json_values, mutated_records))
def test_contract_validation_answers_every_value_with_none_or_a_known_reason(source, record):
    rejection = contracts.validate(source, record)
    assert rejection is None or (rejection.reason in REASONS and rejection.detail)

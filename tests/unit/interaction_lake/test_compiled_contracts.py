"""The compiled contracts (landing's fast path) against the reference path, line by line.

The compiled path may only take a line the reference accepts, and must then land exactly what the reference lands:
the same envelope values, raw line, canonical JSON (byte for byte) and line number. Every line it declines goes
through the reference itself, so refusals are compared too: same lines, same reasons, same details. The inputs are
generated records of every event type made hostile field by field and byte by byte (retyped values, numbers in
every JSON spelling, odd times, escapes, duplicate keys, NaN, CRLF, NUL, bad UTF-8) and whole generated banks with
every kind of fault the generator writes.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from interaction_lake import compiled_contracts, contracts
from interaction_lake.generator import SOURCES
from interaction_lake.landing_files import FileLines, Taken, TimeWindow
from interaction_lake.lake import Same
from jobs.bronze.land import Lineage, bronze_columns, bronze_row

LINEAGE = Lineage("landing/f.jsonl", "0" * 64, "batch-1", "run-1", dt.datetime(2026, 11, 9, 6, tzinfo=dt.timezone.utc))
WINDOW = TimeWindow(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc))


def outcomes(source: str, data: bytes, window: TimeWindow | None, columnar: bool, name: str = "f.jsonl") -> tuple[list, list, int, int]:
    """(bronze rows, refused lines, blank lines, header lines) of one file, by one path."""
    lines = FileLines(source, name, data, window, columnar=columnar)
    landed, refused = [], []
    for item in lines:
        if isinstance(item, Taken):
            columns = [[c.value] * len(item) if isinstance(c, Same) else c for c in bronze_columns(item, LINEAGE)]
            columns[3] = [dt.datetime.fromisoformat(text) for text in columns[3]]  # Arrow reads them alike: see below
            landed.extend(tuple(v.decode() if isinstance(v, bytes) else v for v in row) for row in zip(*columns))
        elif item.rejection is None:
            landed.append(bronze_row(item, LINEAGE))
        else:
            refused.append((item.line_number, item.rejection, item.raw_line, item.raw_base64, item.lines_spanned,
                            item.occurred_at, item.customer_ref))
    number = len(contracts.ENVELOPE_FIELDS) + 2 + 2  # a bronze row's line number, after the envelope, raw, JSON, file, checksum
    return sorted(landed, key=lambda row: row[number]), refused, lines.blank_lines, lines.header_lines


def assert_same_fates(source: str, data: bytes, window: TimeWindow | None = WINDOW, name: str = "f.jsonl") -> tuple[int, int]:
    """Both paths agree on every line of ``data``; returns (lines the compiled path took, lines landed)."""
    reference = outcomes(source, data, window, False, name)
    compiled = outcomes(source, data, window, True, name)
    assert compiled == reference
    taken = sum(len(item) for item in FileLines(source, name, data, window, columnar=True) if isinstance(item, Taken))
    return taken, len(reference[0])


def test_every_contract_version_compiles():
    """A contract change that the compiler cannot translate would silently send every record down the slow path."""
    for source in contracts.sources():
        assert sorted(d.version for d in compiled_contracts.decoders(source)) == sorted(contracts.contracts(source)), source


@pytest.mark.parametrize("spec", [
    {"type": "string", "format": "email"}, {"type": "string", "not": {"const": "x"}}, {"anyOf": [{"type": "string"}]},
    {"type": "object", "additionalProperties": {"type": "string"}}, {"type": "number", "multipleOf": 2},
    {"type": ["string", "integer"]}, {"enum": [1, 2]}, {"type": "array"},
])
def test_what_the_compiler_does_not_know_gets_no_decoder(spec):
    with pytest.raises(compiled_contracts.Unsupported):
        compiled_contracts._value_type("p", spec)


def test_required_fields_are_checked_as_the_contract_states_them():
    """``Decoder.has_required`` (attribute getters, a tuple searched for UNSET) against the plain reading of
    ``required_by_type`` -- every required field present, and all the fields of one any-of alternative -- for every
    event type of every contract version and every subset of the fields its conditions name (the generated records
    meet every condition, so the fuzz above never misses a field of an any-of alternative)."""
    import itertools

    checked = 0
    for source in contracts.sources():
        for decoder in compiled_contracts.decoders(source):
            struct = decoder.decoder.type
            always = {field.name: "x" for field in msgspec.structs.fields(struct) if field.required}  # the envelope's
            for event_type, (required, alternatives) in decoder.required_by_type.items():
                named = sorted({*required, *(name for names in alternatives for name in names)} - set(always))
                for size in range(len(named) + 1):
                    for present in itertools.combinations(named, size):
                        record = struct(**{**always, "event_type": event_type, **{name: "x" for name in present}})
                        has = lambda name: name in always or name in present  # noqa: E731
                        expected = all(map(has, required)) and (not alternatives or any(all(map(has, names)) for names in alternatives))
                        assert decoder.has_required(record) == expected, (source, decoder.version, event_type, present)
                        checked += 1
    assert checked > 100


def test_the_generated_records_are_taken_and_land_as_the_reference_lands_them(generated_events):
    for source, records in generated_events.items():
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        assert assert_same_fates(source, data, None) == (len(records), len(records)), source


NUMBERS = ["0", "-0", "-0.0", "4", "4.0", "4.5", "1E2", "1e-7", "1.5e+300", "1e16", "12345678901234567", "9007199254740993",
           "9223372036854775808", "-9223372036854775809", "1e400", "NaN", "-Infinity", "0.1", "100.000", "1e15", "0.0001",
           "0.00001", "9999999999999999.5", "-1", "true", "null", '"5"',
           # more significant digits than a double carries (an amount of money keeps its text), or only trailing zeros more
           "9999999999.999999", "0.1000000000000000055511", "1.500000000000000000", "123456789012345.0", "12345678901.2345"]
TIMES = ["2026-11-02T09:00:00Z", "2026-11-02T09:00:00.123Z", "2026-11-02T09:00:00.123456Z", "2026-11-02T09:00:00.1234567Z",
         "2026-11-02T09:00:00.12Z", "2026-11-02T09:00:00+01:00", "2026-11-02T09:00:00.5-23:59", "2026-11-02t09:00:00z",
         "2026-11-02T09:00:00", "2026-11-02 09:00:00Z", "2026-02-29T09:00:00.000Z", "2024-02-29T09:00:00.000Z",
         "2026-11-02T24:00:00.000Z", "2026-11-02T23:59:60.000Z", "2016-12-31T23:59:60Z", "0000-01-01T00:00:00.000Z",
         "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59.999999Z", "2025-12-31T23:59:59.999Z", "2026-11-30T00:00:00.001Z",
         "20261102T090000Z", "２０２６-11-02T09:00:00Z", "2026-11-02",
         # the quick form's days: 29, 30 and 31 by month, and digits of other scripts in every part
         "2026-04-31T09:00:00.000Z", "2026-04-30T09:00:00.000Z", "2026-01-31T09:00:00.000Z", "2026-12-31T09:00:00.000Z",
         "2026-02-28T09:00:00.000Z", "2026-02-30T09:00:00.000Z", "2026-11-0٢T09:00:00.000Z", "2026-11-02T09:00:00.١٢٣Z"]
STRINGS = ['""', '" "', '"a"', '"\\u00e9"', '"é"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\u0000"', '"\\b\\f\\n\\r\\t\\u001f\\u007f"',
           '"\\u2028"', '"USD"', '"usd"', '"USD\\n"', '"C00000001"', '"x\\"y"', '"\\/"', '"' + "x" * 129 + '"']
OTHER = ["[]", "[1,2]", "{}", '{"a":1}', "false", "true"]


def _token(data: st.DataObject) -> str:
    kind = data.draw(st.sampled_from(["number", "time", "string", "other"]))
    pool = {"number": NUMBERS, "time": [json.dumps(t) for t in TIMES], "string": STRINGS, "other": OTHER}[kind]
    return data.draw(st.sampled_from(pool))


def _hostile_line(data: st.DataObject, record: dict, contract: contracts.Contract) -> bytes:
    """A record's JSON with some values replaced by raw tokens (so every JSON spelling is reachable), fields dropped or
    repeated, and maybe its bytes broken."""
    names = sorted({*contract.properties, *record, "unknown_field"})
    parts = {name: json.dumps(value, ensure_ascii=data.draw(st.booleans())) for name, value in record.items()}
    for name in data.draw(st.sets(st.sampled_from(names), max_size=2)):
        parts.pop(name, None)
    for name in data.draw(st.sets(st.sampled_from(names), max_size=3)):
        parts[name] = _token(data)
    items = [f'"{name}":{value}' for name, value in parts.items()]
    if items and data.draw(st.booleans()):
        items = data.draw(st.permutations(items))
    if items and data.draw(st.integers(0, 9)) == 0:
        items.append(data.draw(st.sampled_from(items)))  # a duplicate key: the last one counts
    sep = data.draw(st.sampled_from([",", ", ", " ,\t"]))
    line = ("{" + sep.join(items) + "}").encode()
    breakage = data.draw(st.integers(0, 12))
    if breakage == 1:
        line = line[:data.draw(st.integers(0, len(line)))]
    elif breakage == 2:
        at = data.draw(st.integers(0, len(line)))
        line = line[:at] + data.draw(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\r", b" ", b"\n", b"}", b"\xe2\x80\xa8"])) + line[at:]
    elif breakage == 3:
        line = b"  " + line + b"  "
    elif breakage == 4:
        line = line + b"\r"  # a CRLF line
    return line


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_the_compiled_path_lands_exactly_what_the_reference_lands_on_hostile_lines(generated_events, data):
    source = data.draw(st.sampled_from(SOURCES))
    lines = []
    for _ in range(data.draw(st.integers(1, 6))):
        record = copy.deepcopy(data.draw(st.sampled_from(generated_events[source])))
        lines.append(_hostile_line(data, record, contracts.for_record(source, record)))
    if data.draw(st.booleans()):
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.sampled_from([b"", b"   ", b"[1]", b"\xef\xbb\xbf"])))
    taken, landed = assert_same_fates(source, b"\n".join(lines) + b"\n", data.draw(st.sampled_from([WINDOW, None])))
    event(f"taken {'all' if taken == landed else 'some' if taken else 'none'} of what landed")
    event(f"landed {'all' if landed == len(lines) else 'some' if landed else 'none'}")


def test_the_compiled_path_lands_exactly_what_the_reference_lands_on_generated_banks_with_faults(tmp_path):
    """Whole files as the generator writes them, with every kind of fault it knows, at a high rate."""
    from interaction_lake.generator import generate

    generate(tmp_path, customers=800, days=3, seed=17, fault_rate=0.1)
    taken = landed = 0
    for source in SOURCES:
        for path in sorted([*(tmp_path / source).rglob("*.jsonl"), *(tmp_path / source).rglob("*.csv")]):
            found = assert_same_fates(source, path.read_bytes(), WINDOW, path.name)
            taken, landed = taken + found[0], landed + found[1]
    assert landed > 1000
    assert taken == landed  # and every record the generator writes validly is one the compiled path takes (bench/)


CELLS = ["", " ", "5", "-5", "+5", " 5", "5 ", "05", "5.0", "5.", ".5", "1e5", "1E-7", "1_000", "٣", "nan", "NaN", "inf",
         "-Infinity", "null", "true", "True", "TRUE ", "false", "1", "0", "-0", "9223372036854775808", "1e400", "0.1",
         "12345678901234567", "C00000001", "x" * 129, "é", "\x1f", "\x0b", "\u2028", "USD", "deposit", "2026-11-01",
         "2026-02-30", "2026-11-01T02:00:00.000Z", "2026-11-01T02:00:00+01:00", "2026-11-01T02:00:00",
         # what a JSON reader reads otherwise than the CSV reference (landing_files._NEEDS_CARE), or not at all
         "\\u0041", "a\\nb", "\\", "-0e1", "-0.0", " -0", "-0 ", "\t5", " null", "null ", "1}", "[1]", "{}", "1E+2", "-1.5e-3",
         "1234567890.12345", "1234567890.123456", "1234567890123456", "99999999999999.99", "1234567890123.4567",
         "0.10000000000000001", "1%s", "%d"]


def _csv_file(data: st.DataObject, source: str, records: list[dict]) -> bytes:
    """A CSV export of some records (the contract's columns, maybe shuffled, maybe one unknown), cells made hostile."""
    names = list(contracts.latest(source).properties)
    if data.draw(st.booleans()):
        names = data.draw(st.permutations(names))
    if data.draw(st.booleans()):
        names.append("unknown_column")
    rows = []
    for record in records:
        cells = ["" if record.get(name) is None else str(record[name]).replace("True", "true").replace("False", "false")
                 for name in names]
        for at in data.draw(st.sets(st.integers(0, len(cells) - 1), max_size=3)):
            cells[at] = data.draw(st.sampled_from(CELLS))
        if data.draw(st.integers(0, 9)) == 0:
            cells = cells[:data.draw(st.integers(0, len(cells)))] if data.draw(st.booleans()) else [*cells, "extra"]
        rows.append(",".join(cells))
    if data.draw(st.booleans()):
        rows.insert(data.draw(st.integers(0, len(rows))), data.draw(st.sampled_from(["", ",,,", " ", "\x00", '"a"'])))
    body = ("\n".join([",".join(names), *rows]) + "\n").encode()
    if data.draw(st.integers(0, 9)) == 0:
        at = data.draw(st.integers(0, len(body) - 1))
        body = body[:at] + data.draw(st.sampled_from([b"\xff", b"\r", b'"', b"\x00"])) + body[at:]
    return body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_the_compiled_path_lands_exactly_what_the_reference_lands_on_hostile_csv(generated_events, data):
    source = data.draw(st.sampled_from(SOURCES))
    records = [data.draw(st.sampled_from(generated_events[source])) for _ in range(data.draw(st.integers(1, 6)))]
    taken, landed = assert_same_fates(source, _csv_file(data, source, records), data.draw(st.sampled_from([WINDOW, None])), "f.csv")
    event(f"taken {'all' if taken == landed else 'some' if taken else 'none'} of what landed")
    event(f"landed {'some' if landed else 'none'}")


@pytest.mark.parametrize("cell", CELLS)
def test_every_hostile_cell_in_every_column_lands_as_the_reference_lands_it(generated_events, cell):
    """Exhaustive where the fuzz above samples: for a record of every event type of every source, a file of the columns
    it fills (as an export of one kind of record has) with a row per column holding ``cell`` there -- so a cell the
    compiled path's JSON document reads otherwise than the reference (a ``-0``, a ``null``, an escape) is met in a
    number, integer, boolean and text column of every contract, beside rows that do not hold it."""
    for source in SOURCES:
        for record in {r["event_type"]: r for r in generated_events[source]}.values():
            version = contracts.for_record(source, record).properties
            own = [name for name in version if record.get(name) is not None]
            # and in the latest version's export: with its columns that the record's own version lacks, filled
            latest = contracts.latest(source).properties
            for names in (own, [*own, *(name for name in latest if name not in version)]):
                cells = [_cell(record[name]) if name in version else FILLED[contracts.base_type(latest[name])] for name in names]
                rows = [",".join(cells), *(",".join([*cells[:at], cell, *cells[at + 1:]]) for at in range(len(cells)))]
                assert_same_fates(source, ("\n".join([",".join(names), *rows]) + "\n").encode(), WINDOW, "f.csv")


FILLED = {"integer": "1", "number": "1.5", "boolean": "true", "string": "x", "object": "{}", "array": "[]"}


def _cell(value) -> str:
    return str(value).replace("True", "true").replace("False", "false")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TIMES) | st.datetimes(timezones=st.just(dt.timezone.utc)).map(
    lambda t: t.isoformat(timespec=["milliseconds", "microseconds", "seconds"][t.microsecond % 3]).replace("+00:00", "Z")))
def test_the_quick_canonical_time_is_the_reference_s(text):
    try:
        expected = contracts.canonical_time(text)
    except ValueError:
        expected = None
    try:
        quick = compiled_contracts._canonical_time(text)
    except ValueError:
        quick = None
    assert quick == expected


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2 ** 60), 2 ** 60).map(float))
def test_a_float_is_written_as_python_writes_it_or_declined(number):
    """msgspec and json.dumps write the same shortest digits; where Python would use an exponent the check declines."""
    checks = compiled_contracts._Checks((), ("x",), ())

    class Holder:
        x = number
    if checks.passes(Holder()):
        assert compiled_contracts.canonical_json([number]) == [json.dumps(number).encode()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.datetimes(timezones=st.just(dt.timezone.utc)), min_size=1, max_size=20))
def test_arrow_reads_canonical_times_as_python_does(times):
    """The compiled path hands bronze its event times as canonical text; the staged column parses them."""
    import pyarrow as pa

    from interaction_lake.lake import _arrow_column

    texts = [contracts.format_timestamp(t) for t in times]
    parsed = _arrow_column(texts, pa.timestamp("us", tz="UTC"), len(texts)).to_pylist()
    assert parsed == [dt.datetime.fromisoformat(t) for t in texts]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.text("0123456789.", max_size=2 * contracts.EXACT_DIGITS).map(str.encode),
                          st.binary(max_size=3)), max_size=6).map(lambda parts: b"".join(run + gap for run, gap in parts)))
def test_the_long_number_check_agrees_with_its_regular_expression(data):
    """``has_long_number`` (translate + substring search) finds a run exactly where ``_LONG_NUMBER`` does: runs of
    digits and points of every length around the limit, between arbitrary bytes."""
    found = compiled_contracts.has_long_number(data)
    event(f"long number: {found}")
    assert found == bool(compiled_contracts._LONG_NUMBER.search(data))


def test_the_long_number_check_finds_a_run_at_its_first_long_enough_length():
    short, long = b"1" * contracts.EXACT_DIGITS, b"1" * (contracts.EXACT_DIGITS + 1)
    assert not compiled_contracts.has_long_number(b'{"balance":' + short + b"}")
    assert compiled_contracts.has_long_number(b'{"balance":' + long[:-2] + b".5}")
    assert compiled_contracts.has_long_number(b'{"a":"x' + long + b'"}')  # anywhere in the line, as the expression

"""Contract validation: one good record per event type passes; each kind of bad record gets its reason."""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pyspark.sql import types as T

from interaction_lake import contracts
from interaction_lake.generator import SOURCES

GOOD = {
    "event_id": "evt-1", "event_type": "ticket_issued", "schema_version": 1, "occurred_at": "2026-11-02T12:01:02.500+01:00",
    "source_system": "qmatic-branch", "customer_ref": "C00000001", "ticket_id": "BR001-20261102-0001", "branch_id": "BR001",
    "service_type": "cash", "queue_position": 3,
}


def test_good_record_passes():
    assert contracts.validate("counter", GOOD) is None


def test_unidentified_customer_is_allowed():
    assert contracts.validate("counter", {**GOOD, "customer_ref": None}) is None


@pytest.mark.parametrize(
    ("change", "reason", "mentions"),
    [
        (lambda r: r.pop("branch_id"), contracts.MISSING_FIELD, "branch_id"),
        (lambda r: r.pop("event_id"), contracts.MISSING_FIELD, "event_id"),
        (lambda r: r.update(queue_position="three"), contracts.WRONG_TYPE, "queue_position"),
        (lambda r: r.update(event_id=12345), contracts.WRONG_TYPE, "event_id"),
        (lambda r: r.update(schema_version="1"), contracts.WRONG_TYPE, "schema_version"),
        (lambda r: r.update(service_type="mortgage_chat"), contracts.INVALID_VALUE, "service_type"),
        (lambda r: r.update(queue_position=-1), contracts.INVALID_VALUE, "queue_position"),
        (lambda r: r.update(occurred_at="2026-11-02 12:01"), contracts.INVALID_VALUE, "occurred_at"),
        (lambda r: r.update(occurred_at="2026-11-02T12:01:02"), contracts.INVALID_VALUE, "occurred_at"),  # no offset
        (lambda r: r.update(event_type="ticket_reprinted"), contracts.UNKNOWN_EVENT_TYPE, "ticket_reprinted"),
        (lambda r: r.update(schema_version=7), contracts.UNSUPPORTED_SCHEMA_VERSION, "7"),
        (lambda r: r.update(event_type="ticket_called"), contracts.MISSING_FIELD, "counter_id"),  # per-type requirement
    ],
)
def test_bad_records_get_a_reason(change, reason, mentions):
    record = copy.deepcopy(GOOD)
    change(record)
    rejection = contracts.validate("counter", record)
    assert rejection is not None
    assert rejection.reason == reason
    assert mentions in rejection.detail


@pytest.mark.parametrize("value", [[GOOD], "text", 42, None])
def test_non_objects_are_refused(value):
    assert contracts.validate("counter", value).reason == contracts.NOT_AN_OBJECT


def test_nested_object_is_checked():
    record = {"event_id": "e", "event_type": "contact_completed", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z",
              "source_system": "crm", "customer_ref": "C1", "contact_id": "c", "am_id": "AM001", "channel": "visit",
              "outcome": "achieved", "new_info_captured": True, "opportunity": {"product_family": "loan", "estimated_value": 10.0}}
    assert contracts.validate("account_manager", record) is None
    record["opportunity"]["estimated_value"] = "lots"
    assert contracts.validate("account_manager", record).reason == contracts.WRONG_TYPE


def test_timestamps_are_normalised_to_utc():
    assert contracts.parse_timestamp("2026-11-02T12:01:02.500+01:00").isoformat() == "2026-11-02T11:01:02.500000+00:00"
    with pytest.raises(ValueError):
        contracts.parse_timestamp("2026-11-02T12:01:02")


@pytest.mark.parametrize("source", SOURCES)
def test_every_contract_carries_the_envelope(source):
    contract = contracts.latest(source)
    envelope = contracts.envelope_contract()
    assert set(contracts.ENVELOPE_FIELDS) <= contract.required
    for name in contracts.ENVELOPE_FIELDS:
        assert contract.properties[name]["description"] == envelope[name]["description"]
    assert contract.event_types, "a contract must enumerate its event types"


@pytest.mark.parametrize("source", SOURCES)
def test_spark_schema_is_derived_from_the_same_properties(source):
    contract = contracts.latest(source)
    schema = contract.spark_schema()
    assert schema.fieldNames() == list(contract.properties)
    assert schema["occurred_at"].dataType == T.TimestampType()
    assert schema["schema_version"].dataType == T.LongType()
    assert not schema["event_id"].nullable
    assert schema["customer_ref"].nullable


def test_spark_types_follow_json_schema_types():
    schema = contracts.latest("account_manager").spark_schema()
    assert schema["planned_for"].dataType == T.DateType()
    assert schema["new_info_captured"].dataType == T.BooleanType()
    opportunity = schema["opportunity"].dataType
    assert isinstance(opportunity, T.StructType)
    assert opportunity["estimated_value"].dataType == T.DoubleType()
    assert not opportunity["product_family"].nullable


def test_pii_fields_are_declared_in_the_contracts():
    assert "customer_name" in contracts.latest("counter").pii_fields
    assert "caller_phone" in contracts.latest("callcentre").pii_fields
    assert {"customer_name", "phone"} <= set(contracts.latest("holdings").pii_fields)
    assert "comment" in contracts.latest("survey").pii_fields


def test_contract_files_are_valid_json_schema():
    for path in contracts.SCHEMAS_DIR.rglob("*.json"):
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(json.loads(path.read_text()))


def _value_replaced(document, path: list, value):
    """``document`` with the value at ``path`` (keys and indexes, each taken modulo the container's size) replaced."""
    changed = copy.deepcopy(document)
    parent, key = None, None
    node = changed
    for step in path:
        if not isinstance(node, (dict, list)) or not node:
            break
        parent, key = node, (list(node)[step % len(node)] if isinstance(node, dict) else step % len(node))
        node = node[key]
    if parent is None:
        return value
    parent[key] = value
    return changed


SCHEMA_TEXTS = sorted(path.read_text() for path in contracts.SCHEMAS_DIR.rglob("*.json"))
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 5) | st.sampled_from(
    ["", "string", "integer", "object", "date-time", "^[A-Z]{3}$", "(", "#/$defs/x", "a{2,1}"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["type", "pattern", "enum", "required", "properties", "items", "minimum", "format", "$ref", "const"]), inner, max_size=3),
    max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(SCHEMA_TEXTS), path=st.lists(st.integers(0, 50), min_size=1, max_size=6), value=JSON_VALUES,
       again=st.booleans())
def test_the_remembered_metaschema_check_agrees_with_checking_every_time(base, path, value, again):
    """The registry checks each schema text against the metaschema once per text (a forked process inherits the verdicts,
    interaction_lake.airflow_preload): for the real contracts and for edits of them -- valid or not, checked once or
    twice, after the real texts' verdicts are remembered -- it accepts and refuses exactly what a check every time does."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    contracts.check_schema_texts()  # the real texts' verdicts remembered, as after the preload
    text = json.dumps(_value_replaced(json.loads(base), path, value), indent=2)
    try:
        Draft202012Validator.check_schema(json.loads(text))
        valid = True
    except SchemaError:
        valid = False
    for _ in range(2 if again else 1):
        if valid:
            assert contracts._checked(text) == json.loads(text)
        else:
            with pytest.raises(SchemaError):
                contracts._checked(text)


def test_unknown_source_is_a_contract_error():
    with pytest.raises(contracts.ContractError):
        contracts.contracts("telex")


def test_a_boolean_schema_version_is_a_wrong_type_not_a_crash():
    """Found by fuzzing: JSON false is a Python bool (an int), and looked up a version 0 that does not exist."""
    for flag in (False, True):
        rejection = contracts.validate("counter", {**GOOD, "schema_version": flag})
        assert rejection is not None and rejection.reason == contracts.WRONG_TYPE


# The fast validator (jsonschema-rs) may accept a record only if the reference (jsonschema) accepts it too:
# records near each contract -- real generated events of every type, with fields dropped, retyped or given odd
# values -- must never be accepted by the one and refused by the other.
TRICKY_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.sampled_from(["2026-11-02T09:00:00Z", "2026-11-02T09:00:00", "2026-11-02 09:00:00+01:00", "2026-11-02t09:00:00z",
                     "20261102T090000Z", "2026-11-02T09:00:00.123456789+05:30", "2026-02-30T09:00:00Z", "2026-11-02",
                     "2026-11-2", "１２３", "", " ", "\ud800", "0", "-1", "C00000001"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_fast_validator_never_accepts_what_the_reference_refuses(generated_events, data):
    source, record = _mutated(data, generated_events, lambda contract: TRICKY_VALUES, changed=3)
    contract = contracts.latest(source)
    if contract.fast_accepts(record):
        assert contract.reference_check(record) is None, record


def _mutated(data, generated_events, values, changed: int) -> tuple[str, dict]:
    """A source and a copy of one of its generated records with up to three fields dropped and up to ``changed`` fields
    (named by its latest contract or the record) set to values drawn from ``values(contract)``."""
    source = data.draw(st.sampled_from(SOURCES))
    record = copy.deepcopy(data.draw(st.sampled_from(generated_events[source])))
    contract = contracts.latest(source)
    names = sorted({*contract.properties, *record})
    for name in data.draw(st.sets(st.sampled_from(names), max_size=3)):
        record.pop(name, None)
    drawn = values(contract)
    for name in data.draw(st.sets(st.sampled_from(names), max_size=changed)):
        record[name] = data.draw(drawn)
    return source, record


def generated_records(folder, customers: int, seed: int):
    """(source, record) for every JSON line of a generated bank with every kind of fault that parses to an object."""
    from interaction_lake.generator import generate

    generate(folder, customers=customers, days=3, seed=seed, fault_rate=0.1)
    for source in SOURCES:
        for path in (folder / source).rglob("*.jsonl"):
            for raw in path.read_bytes().splitlines():
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield source, record


def test_both_validators_agree_on_every_generated_line(tmp_path):
    """On a generated bank with every kind of fault, the fast and the reference verdicts are the same line by line, and
    the focused reference names every refused line's reason as the whole reference does."""
    checked = refused = 0
    for source, record in generated_records(tmp_path, 1000, 11):
        contract = contracts.latest(source)
        if record.get("event_type") in contract.event_types:
            reference = contract.reference_check(record)
            assert contract.fast_accepts(record) == (reference is None), record
            assert contract.focused_check(record) == reference, record
            checked += 1
            refused += reference is not None
    assert checked > 1000 and refused > 50


# A refused record's reason is named by the reference walking only the parts the fast validator finds broken
# (Contract.focused_check): it must name exactly what the whole reference names, on records broken anywhere and in
# several places at once -- envelope and source fields, nested objects, per-type requirements (event types swapped).
def _broken(data, generated_events) -> tuple[contracts.Contract, dict]:
    source, record = _mutated(data, generated_events, lambda contract: st.one_of(
        HOSTILE_VALUES, st.sampled_from(contract.event_types),
        st.dictionaries(st.sampled_from(["product_family", "estimated_value", "z"]), HOSTILE_VALUES, max_size=3)), changed=4)
    return contracts.for_record(source, record), record


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_focused_reference_names_the_reference_s_reason(generated_events, data):
    contract, record = _broken(data, generated_events)
    assert contract.focused_check(record) == contract.reference_check(record), record


def test_the_focused_reference_walks_only_the_broken_parts():
    """A wrong-typed field and a per-type requirement broken: the focused walk holds that property (at the top and in
    the envelope) and that ``if``/``then`` part, nothing else, and still finds the reference's most telling reason."""
    contract = contracts.latest("callcentre")
    record = {"event_id": "e1", "event_type": "call_ended", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z",
              "source_system": "acd", "customer_ref": 5, "call_id": "c1", "agent_id": "A1", "talk_seconds": 10}
    names, parts = contract._focus(record)
    assert names == {"customer_ref"} and len(parts) == 1
    focused = contracts._focused_validator("callcentre", 1, names, parts).schema
    assert focused["properties"] == {}
    envelope = next(part for part in focused["allOf"] if "properties" in part and "required" in part)
    assert list(envelope["properties"]) == ["customer_ref"]
    assert len(focused["allOf"]) == 2 and focused["allOf"][1]["then"] == {"required": ["talk_seconds", "hold_seconds"]}
    rejection = contract.focused_check(record)
    assert rejection == contract.reference_check(record) == contracts.Rejection(contracts.MISSING_FIELD, "record: 'hold_seconds' is a required property")


# The canonical form is computed by a projection compiled per contract (contracts._compiled); the reference is
# contracts._project. Wherever the compiled one returns, it must return exactly what the reference returns (types
# included: 4.0 read as the integer 4); wherever the reference refuses or fails, the compiled one must not return.
HOSTILE_VALUES = st.one_of(
    TRICKY_VALUES, st.sampled_from([2 ** 63, -(2 ** 63) - 1, 2 ** 63 - 1, 2 ** 53 + 1, 4.0, -0.0, 1e16, -1e16, 9999999999999999.5, 1e400,
                                    float("nan"), float("-inf"), 2 ** 1100, "2026-11-02T23:59:60Z", "2026-11-02T09:00:00.5-23:59",
                                    "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "é\ud83d", True,
                                    contracts.read_number("9999999999.999999"), contracts.read_number("0.1000000000000000055511")]))
NESTED_SPEC = {"n": {"type": "integer"}, "x": {"type": ["number", "null"], "x-money": True}, "t": {"type": "string", "format": "date-time"},
               "s": {"enum": ["a", "b", None]}, "b": {"type": "boolean"},
               "o": {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "k": {"type": "integer"},
                                                       "deep": {"type": "array", "items": {"type": "number"}}}},
               "a": {"type": "array", "items": {"type": "object", "properties": {"s": {"type": "string"}, "n": {"type": "integer"}}}}}


def _outcome(project, record) -> tuple[str, str]:
    try:
        return "returned", repr(project(record))  # repr tells 4 from 4.0 and True from 1
    except contracts._Unfit as unfit:
        return "unfit", unfit.reason
    except Exception as error:
        return "failed", type(error).__name__


def _agree(compiled, reference) -> None:
    if compiled[0] == "returned":
        assert reference == compiled
    else:
        assert reference[0] != "returned", (compiled, reference)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_compiled_canonical_form_is_the_reference_s_on_hostile_records(generated_events, data):
    source = data.draw(st.sampled_from(SOURCES))
    record = copy.deepcopy(data.draw(st.sampled_from(generated_events[source])))
    for name in data.draw(st.sets(st.sampled_from(sorted({*contracts.latest(source).properties, *record})), max_size=4)):
        record[name] = data.draw(HOSTILE_VALUES)
    contract = contracts.for_record(source, record)  # the version the record declares, as landing picks it
    reference = _outcome(lambda r: contracts._project(r, contract.properties, ""), record)
    _agree(_outcome(contracts._compiled(source, contract.version), record), reference)
    if contracts.validate(source, record) is None:  # what landing asks: a record the contract accepts, never a failure
        canonical, rejection = contract.canonical(record)
        assert reference[0] != "failed" and (rejection is None) == (reference[0] == "returned")
        assert rejection is not None or repr(canonical) == reference[1]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(NESTED_SPEC)), st.one_of(
    HOSTILE_VALUES, st.dictionaries(st.sampled_from(["when", "k", "deep", "z"]), st.one_of(HOSTILE_VALUES, st.lists(HOSTILE_VALUES, max_size=3))),
    st.lists(st.one_of(HOSTILE_VALUES, st.dictionaries(st.sampled_from(["s", "n"]), HOSTILE_VALUES)), max_size=3))))
def test_the_compiled_projection_is_the_reference_s_on_nested_arrays_and_objects(record):
    _agree(_outcome(contracts._compile_object(NESTED_SPEC), record), _outcome(lambda r: contracts._project(r, NESTED_SPEC, ""), record))


def test_the_compiled_canonical_form_is_the_reference_s_on_every_generated_line(tmp_path):
    compared = 0
    for source, record in generated_records(tmp_path, 1500, 5):
        if contracts.validate(source, record) is None:
            contract = contracts.for_record(source, record)
            _agree(_outcome(contracts._compiled(source, contract.version), record),
                   _outcome(lambda r: contracts._project(r, contract.properties, ""), record))
            compared += 1
    assert compared > 1000


# The canonical record's JSON is json.dumps's, except that an amount a double would change is written as its own amount.
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(alphabet=st.characters(codec="utf-8"), max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=12)
LONG_AMOUNTS = st.decimals(min_value=Decimal("-9999999999999999.999999"), max_value=Decimal("9999999999999999.999999"),
                           places=7, allow_nan=False, allow_infinity=False).map(lambda d: contracts.read_number(format(d, "f")))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.one_of(JSON_VALUES, LONG_AMOUNTS), max_size=6))
def test_the_canonical_json_is_json_dumps_with_long_amounts_written_as_themselves(record):
    text = contracts.canonical_json(record)
    long_ones = {name for name, value in record.items() if isinstance(value, contracts.Inexact)}
    if not long_ones:
        assert text == json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    exact, plain = json.loads(text, parse_float=Decimal), json.loads(text)
    assert list(plain) == list(record)
    for name, value in record.items():
        if name in long_ones:
            assert exact[name] == Decimal(value.text).quantize(Decimal("0.000001"), ROUND_HALF_UP)
        else:
            assert plain[name] == value


def test_a_long_amount_of_money_is_carried_not_refused():
    """An amount of more significant digits than a double carries is kept by the canonical form and written as itself."""
    contract = contracts.latest("holdings")
    record = {"event_id": "e1", "event_type": "product_holding_snapshot", "schema_version": 1, "occurred_at": "2026-11-02T02:00:00Z",
              "source_system": "core", "customer_ref": "C1", "snapshot_date": "2026-11-01", "product_code": "SAV",
              "product_family": "deposit", "balance": contracts.read_number("99999999999999.99"), "monthly_fees": 0,
              "interest_margin_rate": 0.02}
    assert contracts.validate("holdings", record) is None
    canonical, rejection = contract.canonical(record)
    assert rejection is None and '"balance":99999999999999.990000' in contracts.canonical_json(canonical)
    too_large = {**record, "balance": contracts.read_number("9999999999999999.9999999")}  # 10^16 at six places
    assert contract.canonical(too_large)[1].reason == contracts.OUT_OF_RANGE

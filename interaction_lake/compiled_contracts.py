"""Contracts compiled into typed decoders: landing's fast path for JSON lines and plain CSV rows.

``decoders(source)`` turns each version of a source's contract (``schemas/``) into msgspec Struct types carrying
the contract's types, enums, lengths, bounds and required fields, so that one call in C parses a line (or a plain CSV
row written as a JSON document: ``take_row``; or a CSV row the reference has converted to JSON types: ``take_object``)
and checks it, and another writes its canonical JSON. The compiled form is a filter, never a judge: a line it takes is one
the reference path (``contracts.validate``, then ``Contract.canonical`` and the time window) accepts, with the same
canonical record; a line it does not take -- any doubt at all -- goes to the reference path, which decides and
says why. So no verdict and no reason can differ between the paths. That the records it takes are accepted by
the reference with byte-identical canonical JSON is proven by a differential test over generated and hostile
records (``tests/unit/interaction_lake/test_compiled_contracts.py``).

Where the compiled form must be stricter than the contract to stay exact, it is (the reference decides those
lines): integers beyond 64 bits, integral numbers beyond 2^53 (a double rounds them), floats that Python writes
in exponent form (msgspec writes ``1e16`` where ``json.dumps`` writes ``1e+16``), ``NaN`` and ``Infinity`` (not
JSON), an amount of money of more than 15 significant digits (the reference decides: ``contracts.changes_money``). A
contract that uses a JSON Schema keyword this compiler does not know, or an amount of money below its top level, gets
no decoder: every record of it takes the reference path.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from operator import attrgetter
from typing import Annotated, Any, Callable, Literal, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from interaction_lake import contracts

_LONG = (-(2 ** 63), 2 ** 63 - 1)
_EXACT = 2 ** 53  # integers a double holds exactly: a money amount written as an integer is read as one
_MONEY = float(contracts._MONEY_READ_LIMIT)  # what the reference refuses from (contracts._fit)
# Keywords that do not change what a value may be.
_NOTES = {"description", "title", "$comment", "examples", "x-pii", "x-money"}
_VALUE_KEYWORDS = {"type", "enum", "minLength", "maxLength", "minimum", "maximum", "format", "pattern", "items", "minItems",
                   "maxItems", "properties", "required", "additionalProperties"}


class Unsupported(Exception):
    """The contract uses something this compiler does not translate exactly: it gets no decoder."""


def getter(kind: Callable, keys: list | tuple) -> Callable[[Any], tuple] | None:
    """``operator.attrgetter`` or ``itemgetter`` of ``keys``, giving a tuple in C even of one key (where they give the
    value itself: that key is asked for twice); None for no keys."""
    return kind(*keys, keys[0]) if keys else None


@dataclass(frozen=True)
class _Checks:
    """What msgspec's types cannot say, checked in Python after decoding (per Struct type)."""
    times: tuple[str, ...]  # date-time fields: replaced by their canonical text
    floats: tuple[str, ...]  # number fields: a float Python would write in exponent form is declined
    nested: tuple[tuple[str, "_Checks", bool], ...]  # (field, checks of its Struct, is a list of them)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_numbers", getter(attrgetter, self.floats))

    def passes(self, value: Any) -> bool:
        """Apply the checks to a decoded value in place; False if the reference must decide it."""
        for name in self.times:
            text = getattr(value, name)
            if text.__class__ is str:
                try:
                    canonical = _canonical_time(text)
                except ValueError:  # not a time
                    return False
                if canonical is not text:
                    setattr(value, name, canonical)
        if self._numbers is not None:
            for number in self._numbers(value):
                if number.__class__ is float and number and not 1e-4 <= abs(number) < 1e16:
                    return False
        for name, checks, many in self.nested:
            inner = getattr(value, name)
            if inner is not None and inner is not UNSET and not all(checks.passes(item) for item in (inner if many else (inner,))):
                return False
        return True


# The form most producers write, UTC with milli- or microseconds, on a day that exists in every year (Feb 29 and any
# other form take the general parse): canonical as it is, or with three zeros -- a third of the general parse's cost.
# ASCII digits only (``\d`` would take other scripts' digits) and no year 0000: what ``datetime`` reads.
_CANONICAL_UTC = re.compile(r"(?!0000)[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
                            r"|(?:0[13578]|1[02])-31)T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}(?:[0-9]{3})?Z")
_is_canonical_utc = _CANONICAL_UTC.fullmatch


def _canonical_time(text: str) -> str:
    """``contracts.canonical_time``, quicker for the commonest form; ValueError as it."""
    if _is_canonical_utc(text):
        return text if len(text) == 27 else text[:-1] + "000Z"
    return contracts.canonical_time(text)


# A number of more than 15 significant digits has a run of at least 16 digits (and points) in its text. msgspec reads
# numbers as floats and cannot tell such an amount of money (``contracts.Inexact``: the canonical record writes it as
# its own amount where a double would change it) from one a double carries; so a line with such a run is read again
# as the reference reads it (``contracts.loads``), and declined to the reference if an amount is Inexact. Rare:
# generated lines carry none.
_LONG_NUMBER = re.compile(rb"[0-9.]{%d,}" % (contracts.EXACT_DIGITS + 1))  # the reference of ``has_long_number``
_DIGITS_MARKED = bytes(b"D"[0] if chr(i) in "0123456789." else b" "[0] for i in range(256))
_LONG_RUN = b"D" * (contracts.EXACT_DIGITS + 1)


def has_long_number(data: bytes) -> bool:
    """Whether ``data`` holds a run of ``_LONG_NUMBER``: digits and points marked by one ``translate``, then one
    substring search -- both in C, ~9x cheaper than the regular expression on a line (which tries every digit)."""
    return _LONG_RUN in data.translate(_DIGITS_MARKED)


@dataclass(frozen=True)
class Decoder:
    """One contract version compiled: ``take`` a line's bytes -> its canonical record (a Struct) or None."""
    version: int
    decoder: msgspec.json.Decoder
    checks: _Checks
    required_by_type: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]]  # event type -> (required, any-of)
    money: tuple[str, ...] = ()  # the contract's ``x-money`` fields
    cells: msgspec.json.Decoder | None = None  # ``decoder``'s Struct with its numbers floats: CSV rows (``take_row``)

    def __post_init__(self) -> None:
        # per event type: the required fields' values, and each any-of alternative's, each by one call
        required = {event_type: (getter(attrgetter, names), tuple(getter(attrgetter, names) for names in alternatives))
                    for event_type, (names, alternatives) in self.required_by_type.items()}
        object.__setattr__(self, "_required", required)

    def take(self, data: bytes) -> Any | None:
        try:
            record = self._complete(self.decoder.decode(data))
            if record is not None and self.money and has_long_number(data):
                written = contracts.loads(data)
                if any(isinstance(written.get(name), contracts.Inexact) for name in self.money):
                    return None
            return record
        except Exception:  # not taken (msgspec.DecodeError, mostly): whatever it is, the reference decides the line
            return None

    def take_object(self, record: dict) -> Any | None:
        """``take`` for a record parsed already (a CSV row converted by ``landing_files.coerce_csv_row``). A cell read as
        ``contracts.Inexact`` is declined here as every value msgspec's types do not name exactly."""
        try:
            return self._complete(msgspec.convert(record, self.decoder.type))
        except Exception:  # as in take
            return None

    def take_row(self, document: bytes) -> Any | None:
        """``take`` for a plain CSV row written as a JSON document by ``landing_files._RowDocuments``. The caller
        declines a row whose number cell is long (``contracts.read_number`` reads it as an ``Inexact``, not a float)."""
        try:
            return self._complete(self.cells.decode(document))
        except Exception:  # as in take
            return None

    def _complete(self, record: Any) -> Any | None:
        return record if self.has_required(record) and self.checks.passes(record) else None

    def has_required(self, record: Any) -> bool:
        """Whether a decoded record has the fields its event type requires (``required_by_type``), each list of
        fields asked for by one call."""
        required, alternatives = self._required[record.event_type]  # a type the contract lists (its Literal)
        if required is not None and UNSET in required(record):
            return False
        if not alternatives:
            return True
        for values in alternatives:
            if values is None or UNSET not in values(record):  # met (an alternative naming no field always is)
                return True
        return False


_encode_lines = msgspec.json.Encoder().encode_lines


def canonical_json(records: list) -> list[bytes]:
    """Each record's canonical JSON in UTF-8, byte for byte what ``json.dumps`` writes of the reference's canonical
    record (one call for them all: JSON text never holds a raw newline, so the lines split back exactly)."""
    return _encode_lines(records).split(b"\n")[:-1] if records else []


@cache
def decoders(source: str) -> tuple[Decoder, ...]:
    """A decoder per contract version that compiles exactly, the latest first (most records declare it)."""
    found = []
    for version, contract in sorted(contracts.contracts(source).items(), reverse=True):
        try:
            found.append(_compile(contract))
        except Unsupported:
            continue
    return tuple(found)


def _compile(contract: contracts.Contract) -> Decoder:
    documents = contracts.documents()
    schema = contract.schema
    _only(schema, {"$schema", "$id", "title", "description", "x-source", "x-version", "type", "required", "properties", "allOf"})
    if schema.get("type") != "object":
        raise Unsupported("a contract is an object")
    conditional: dict[str, tuple[list[str], list[tuple[str, ...]]]] = {name: ([], []) for name in contract.event_types}
    for part in schema.get("allOf", ()):
        if "$ref" in part:
            _only(part, {"$ref"})
            _only(documents[part["$ref"]], {"$schema", "$id", "title", "description", "type", "required", "properties"})
            continue
        _only(part, {"if", "then"})
        condition, then = part["if"], part["then"]
        _only(condition, {"properties"})
        _only(condition["properties"], {"event_type"})
        test = condition["properties"]["event_type"]
        _only(test, {"const", "enum"})
        types = [test["const"]] if "const" in test else list(test["enum"])
        _only(then, {"required", "anyOf"})
        for alternative in then.get("anyOf", ()):
            _only(alternative, {"required"})
        for event_type in types:
            if event_type in conditional:  # an unknown type in a condition never applies
                conditional[event_type][0].extend(then.get("required", ()))
                if then.get("anyOf"):
                    if conditional[event_type][1]:
                        raise Unsupported("two anyOf conditions on one event type")
                    conditional[event_type][1].extend(tuple(a["required"]) for a in then["anyOf"])
    if "event_type" not in contract.required or "schema_version" not in contract.required:
        raise Unsupported("the envelope must require event_type and schema_version")
    named = set(contract.properties)
    if not contract.required <= named or any(not set(names) <= named for names, _ in conditional.values()) \
            or any(not set(names) <= named for _, alternatives in conditional.values() for names in alternatives):
        raise Unsupported("a required field the contract does not describe")
    # only the version it was compiled from: another version's record is another decoder's (or the reference's)
    version = {"schema_version": Literal[contract.version]}
    struct, checks = _struct(f"{contract.source}_v{contract.version}", contract.properties, contract.required, False, version)
    # a plain CSV row read as a JSON document (``landing_files._RowDocuments``): its number cells are floats, as the
    # reference reads them
    cells, _ = _struct(f"{contract.source}_v{contract.version}_cells", contract.properties, contract.required, False, version,
                       integral=False)
    required = {event_type: (tuple(dict.fromkeys(names)), tuple(alternatives)) for event_type, (names, alternatives) in conditional.items()}
    money = tuple(name for name, spec in contract.properties.items() if spec.get("x-money"))
    if any("x-money" in json.dumps({k: v for k, v in spec.items() if k != "x-money"}) for spec in contract.properties.values()):
        raise Unsupported("an amount of money inside an object or a list")  # take() checks the top level's
    return Decoder(contract.version, msgspec.json.Decoder(struct), checks, required, money, msgspec.json.Decoder(cells))


def _only(mapping: dict, allowed: set[str]) -> None:
    extra = set(mapping) - allowed - _NOTES
    if extra:
        raise Unsupported(f"not compiled: {sorted(extra)}")


def _struct(name: str, properties: dict[str, dict], required: frozenset[str] | set[str], closed: bool,
            overrides: dict[str, Any] | None = None, integral: bool = True) -> tuple[type, _Checks]:
    """The Struct of an object's properties; ``integral`` as in ``_number``, for its own number properties."""
    fields, times, floats, nested = [], [], [], []
    if not set(required) <= set(properties):
        raise Unsupported("a required field the object does not describe")
    for field, spec in properties.items():
        kind, inner = _value_type(f"{name}_{field}", spec, integral)
        kind = (overrides or {}).get(field, kind)
        base = contracts.base_type(spec)
        if base == "string" and spec.get("format") == "date-time":
            times.append(field)
        elif base == "number":
            floats.append(field)
        elif inner is not None:
            nested.append((field, inner, base == "array"))
        if field in required:
            fields.append((field, kind))
        else:
            fields.append((field, Union[kind, UnsetType], UNSET))
    # gc=False: a decoded record holds no cycles, and landing keeps tens of thousands of them at a time, which the
    # collector would otherwise walk again and again
    struct = msgspec.defstruct(name, fields, kw_only=True, omit_defaults=True, forbid_unknown_fields=closed, gc=False)
    return struct, _Checks(tuple(times), tuple(floats), tuple(nested))


def _value_type(name: str, spec: dict, integral: bool = True) -> tuple[Any, _Checks | None]:
    """The msgspec type of one property (and the checks of its Struct, for an object or array of objects)."""
    _only(spec, _VALUE_KEYWORDS)
    try:
        kind = contracts.base_type(spec)
    except contracts.ContractError as error:
        raise Unsupported(str(error)) from None
    nullable = contracts.allows_null(spec)
    inner = None
    if kind == "object":
        _only(spec, {"type", "properties", "required", "additionalProperties"})
        closed = spec.get("additionalProperties", True)
        if not isinstance(closed, bool):
            raise Unsupported("additionalProperties must be true or false")
        result, inner = _struct(name, spec.get("properties", {}), set(spec.get("required", ())), not closed)
    elif kind == "array":
        _only(spec, {"type", "items", "minItems", "maxItems"})
        if "items" not in spec:
            raise Unsupported("an array without items")
        item, item_checks = _value_type(f"{name}_item", spec["items"])
        if contracts.base_type(spec["items"]) != "object" and _needs_checks(spec["items"]):
            raise Unsupported("an array of dates, times or numbers")
        result, inner = _constrained(list[item], min_length=spec.get("minItems"), max_length=spec.get("maxItems")), item_checks
    elif "enum" in spec:
        result = _enum(spec, kind)
    elif kind == "string":
        if spec.get("format") not in (None, "date-time", "date"):
            raise Unsupported(f"format {spec['format']!r}")
        if spec.get("format") == "date":
            # msgspec's date is RFC 3339's full-date, ASCII digits and a real day: what the contract's date format
            # accepts (contracts.valid_date), written back as the same ten characters
            _only(spec, {"type", "format"})
            result = dt.date
        else:
            result = _constrained(str, min_length=spec.get("minLength"), max_length=spec.get("maxLength"), pattern=spec.get("pattern"))
    elif kind == "integer":
        _only(spec, {"type", "minimum", "maximum"})
        result = _constrained(int, ge=_bound(max, spec.get("minimum"), _LONG[0]), le=_bound(min, spec.get("maximum"), _LONG[1]))
    elif kind == "number":
        result = _number(spec, integral)
    elif kind == "boolean":
        _only(spec, {"type"})
        result = bool
    else:
        raise Unsupported(f"type {kind!r}")
    return (Union[result, None] if nullable else result), inner


def _number(spec: dict, integral: bool) -> Any:
    """A number property's type: an integral number read as an int (``integral``: a JSON line's ``5`` is 5 for the
    reference as well) or else a float -- a CSV cell's ``5`` is 5.0 for the reference (``contracts.read_number``)."""
    _only(spec, {"type", "minimum", "maximum"})
    low, high = spec.get("minimum"), spec.get("maximum")
    money = bool(spec.get("x-money"))
    if money and ((low is not None and low <= -_MONEY) or (high is not None and high >= _MONEY)):
        raise Unsupported("a money bound beyond the money limit")
    real = _constrained(float, ge=low, le=high, gt=-_MONEY if money and low is None else None,
                        lt=_MONEY if money and high is None else None)
    if not integral:
        return real
    return Union[_constrained(int, ge=_bound(max, _ceil(low), -_EXACT), le=_bound(min, _floor(high), _EXACT)), real]


def _needs_checks(spec: dict) -> bool:
    return contracts.base_type(spec) == "number" or spec.get("format") in ("date-time", "date")


def _enum(spec: dict, kind: str) -> Any:
    """The enum's values that meet the property's other constraints (a value the contract lists but refuses stays out)."""
    _only(spec, {"type", "enum", "minLength", "maxLength", "pattern"})
    if "pattern" in spec:
        raise Unsupported("an enum with a pattern")
    low, high = spec.get("minLength", 0), spec.get("maxLength", float("inf"))
    values = tuple(v for v in spec["enum"] if v is not None and (kind != "string" or (isinstance(v, str) and low <= len(v) <= high)))
    if kind != "string" or not values:
        raise Unsupported("an enum of other than strings")
    return Literal[values]


def _bound(pick: Callable, given: Any, limit: int) -> int:
    if given is None:
        return limit
    if not isinstance(given, int) or isinstance(given, bool):
        raise Unsupported("an integer bound that is not an integer")
    return pick(given, limit)


def _ceil(number: Any) -> Any:
    return math.ceil(number) if isinstance(number, float) else number


def _floor(number: Any) -> Any:
    return math.floor(number) if isinstance(number, float) else number


def _constrained(kind: Any, **limits: Any) -> Any:
    given = {key: value for key, value in limits.items() if value is not None}
    return Annotated[kind, Meta(**given)] if given else kind

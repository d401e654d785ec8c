"""Event contracts: load the JSON Schemas in ``schemas/``, validate records, derive Spark schemas.

The JSON Schema files are the single source of truth. Validation uses them as they are
(draft 2020-12) and the Spark schema of a contract is derived from the same ``properties``, so the
two cannot drift apart. Contracts live at ``schemas/<source>/v<N>.json`` and all reference
``schemas/envelope.v1.json``.

Two validators read the same schema files. ``jsonschema-rs`` (Rust) answers "valid?" for every
record, about 15x faster than the reference; only a record it refuses, or cannot take, is handed to
the reference ``jsonschema`` validator, which decides and names the reason (walking only the parts of the
contract the fast one found broken: ``Contract.focused_check``). So a record is accepted only if the fast
validator accepts it, and refused only if the reference refuses it; that the two agree, and that the focused
walk names the whole walk's reason, is property-tested (tests/unit/interaction_lake/test_contracts.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

if TYPE_CHECKING:  # pyspark is imported where a Spark type is made: the DAG files parse without it (0.4 s)
    from pyspark.sql import types as T

SCHEMAS_DIR = Path(os.environ.get("INTERACTION_LAKE_SCHEMAS_DIR", Path(__file__).resolve().parents[1] / "schemas"))
ENVELOPE_FIELDS = ("event_id", "event_type", "schema_version", "occurred_at", "source_system", "customer_ref")

# Why a record was refused. The code is stable (dashboards and tests key on it); the detail is for people.
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
INVALID_VALUE = "invalid_value"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
MALFORMED_JSON = "malformed_json"
MALFORMED_CSV = "malformed_csv"
NOT_AN_OBJECT = "not_an_object"
ENCODING_ERROR = "encoding_error"
UNREADABLE_FILE = "unreadable_file"
TRUNCATED_FILE = "truncated_file"
OUT_OF_RANGE = "out_of_range"  # a number the contract accepts but its column type cannot hold (2^63, 1e400, NaN)
IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"  # a valid time outside the plausibility window (landing_policy)
REASONS = (
    MISSING_FIELD, WRONG_TYPE, INVALID_VALUE, UNKNOWN_EVENT_TYPE, UNSUPPORTED_SCHEMA_VERSION,
    MALFORMED_JSON, MALFORMED_CSV, NOT_AN_OBJECT, ENCODING_ERROR, UNREADABLE_FILE, TRUNCATED_FILE,
    OUT_OF_RANGE, IMPLAUSIBLE_TIMESTAMP,
)
_ERROR_RANK = {"required": (0, MISSING_FIELD), "type": (1, WRONG_TYPE)}


class ContractError(RuntimeError):
    """The contract files themselves are missing or inconsistent (a bug, not bad data)."""


# RFC 3339 section 5.6, exactly: full date, "T", full time with seconds, optional fraction, "Z" or a numeric
# offset. Python's fromisoformat also takes basic format (20261102T080000Z), week dates and times without
# seconds, which are not RFC 3339; it refuses a leap second, which is.
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))")


def parse_timestamp(value: str) -> dt.datetime:
    """RFC 3339 date-time with an offset, returned in UTC. Naive times are refused: event time must be unambiguous.

    Precision is the microsecond (Delta's timestamp): further digits are truncated (the full text stays in
    ``raw_line``). A leap second (``23:59:60`` in UTC) is read as the last microsecond of its minute.
    Raises ValueError for anything else, including a valid text whose UTC time has no year 1-9999.
    """
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time with an offset (YYYY-MM-DDTHH:MM:SS[.f](Z|+HH:MM))")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    if zulu:
        offset = dt.timedelta(0)
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(f"{value!r} has an impossible UTC offset")
        offset = (1 if sign == "+" else -1) * dt.timedelta(hours=int(off_h), minutes=int(off_m))
    leap = second == 60
    micros = 999_999 if leap else int((fraction or "0")[:6].ljust(6, "0"))
    local = dt.datetime(year, month, day, hour, minute, 59 if leap else second, micros, tzinfo=dt.timezone(offset))
    try:
        utc = local.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"{value!r} is outside years 1-9999 in UTC") from None
    if leap and (utc.hour, utc.minute) != (23, 59):
        raise ValueError(f"{value!r}: a leap second is only ever 23:59:60 UTC")
    return utc


# A record's times are read twice, by the validator's format check and by its canonical form: the second is a lookup.
_parsed = lru_cache(maxsize=4096)(parse_timestamp)


def format_timestamp(value: dt.datetime) -> str:
    """The canonical text of a UTC time in ``record_json``: what every engine's JSON reader parses alike."""
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_time(value: str) -> str:
    """The canonical text of an RFC 3339 time (``parse_timestamp``, then ``format_timestamp``); ValueError if it is none."""
    return format_timestamp(_parsed(value))


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=(ValueError, TypeError))
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(_parsed(value))


@_FORMATS.checks("date", raises=(ValueError, TypeError))
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or valid_date(value)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@lru_cache(maxsize=4096)  # a file's dates repeat (a snapshot's month, a birth date): each is checked once
def valid_date(value: str) -> bool:
    """A ``YYYY-MM-DD`` text naming a real day (JSON Schema's ``date`` format); ValueError for an impossible one."""
    return _DATE.fullmatch(value) is not None and bool(dt.date.fromisoformat(value))


def _never_raises(check):
    """jsonschema-rs wants a format check that answers True/False; ours raise on what they cannot parse."""
    def answer(value: object) -> bool:
        try:
            return bool(check(value))
        except (ValueError, TypeError):
            return False
    return answer


_FAST_FORMATS = {"date-time": _never_raises(_is_datetime), "date": _never_raises(_is_date)}


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


@dataclass(frozen=True)
class Contract:
    source: str
    version: int
    schema: dict[str, Any]
    properties: dict[str, dict[str, Any]]  # envelope + source fields, in declaration order
    required: frozenset[str]  # required for every event type (envelope + source)
    validator: Draft202012Validator  # the reference: decides every record the fast one refuses, and says why
    fast: Any  # jsonschema_rs validator of the same schema

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self.properties["event_type"]["enum"])

    @property
    def pii_fields(self) -> tuple[str, ...]:
        """Fields that never leave bronze: personal data (``x-pii: true``) and free text (``x-pii: free-text``, of which
        silver keeps only ``has_<field>``)."""
        return tuple(name for name, spec in self.properties.items() if spec.get("x-pii"))

    def spark_schema(self) -> T.StructType:
        from pyspark.sql import types as T

        return T.StructType([
            T.StructField(name, spark_type(spec), nullable=name not in self.required or allows_null(spec))
            for name, spec in self.properties.items()
        ])

    def check(self, record: dict[str, Any]) -> Rejection | None:
        """None if the record meets the contract, else the most telling reason."""
        return None if self.fast_accepts(record) else self.focused_check(record)

    def fast_accepts(self, record: Any) -> bool:
        try:
            return self.fast.is_valid(record)
        except Exception:  # a value the Rust side cannot take (e.g. a lone surrogate): the reference decides
            return False

    def canonical(self, record: dict[str, Any]) -> tuple[dict[str, Any] | None, Rejection | None]:
        """The accepted record as silver will read it, or why it cannot be: ``(record, None)`` or ``(None, rejection)``.

        JSON Schema accepts values that no column type holds: integers above 2^63 or written ``4.0``, numbers
        ``1e400`` (infinite once parsed), ``NaN``, strings holding half a UTF-16 surrogate pair. An engine's JSON
        reader turns such a value -- and often the whole record with it -- into null without a word. So the
        record is projected onto the contract's own properties (recursively), each value converted to exactly
        what its Spark type reads (``4.0`` -> 4; times -> canonical UTC text); a value that does not fit is refused
        here, with its path. Fields the contract does not name are left out: they stay in ``raw_line``.
        """
        try:
            return _compiled(self.source, self.version)(record), None
        except Exception:  # the reference says why (and decides whatever the compiled form did not expect)
            pass
        try:
            return _project(record, self.properties, ""), None
        except _Unfit as unfit:
            return None, Rejection(unfit.reason, unfit.detail[:500])

    def reference_check(self, record: Any) -> Rejection | None:
        """The reference validator's verdict alone: None, or the most telling reason."""
        return _most_telling(list(self.validator.iter_errors(record)))

    def focused_check(self, record: Any) -> Rejection | None:
        """``reference_check``'s answer, from the reference walking only the parts of the contract the fast validator
        finds broken in this record (``_focus``): a refused record costs a few descents into the schema instead of
        about thirty (naming a reason was most of landing's time on a feed that breaks the contract line after line).

        Dropping a part of a schema only drops that part's errors, so the errors the focused walk finds are some of the
        reference's, in the reference's order: a record it refuses is one the reference refuses. Its reason is the
        reference's whenever the fast validator sees every broken part (differential tests: test_contracts.py); where
        the focused walk finds nothing, or the fast validator cannot say, the whole reference decides."""
        focus = self._focus(record)
        found = _most_telling(list(_focused_validator(self.source, self.version, *focus).iter_errors(record))) if focus else None
        return found or self.reference_check(record)

    def _focus(self, record: Any) -> tuple[frozenset[str], frozenset[int]] | None:
        """The top-level properties and the ``allOf`` parts the fast validator finds errors in, or None if it cannot
        say (it finds none, or cannot take the record)."""
        try:
            errors = list(self.fast.iter_errors(record))
        except Exception:  # as in fast_accepts
            return None
        names, parts = set(), set()
        for error in errors:
            where, why = error.instance_path, error.schema_path
            if where:
                names.add(where[0])
            if len(why) > 1 and why[0] == "allOf":
                parts.add(why[1])
        return (frozenset(names), frozenset(parts)) if errors else None


def _most_telling(errors: list) -> Rejection | None:
    """The reason of the first error of the lowest rank (missing, then wrong type, then any other), or None."""
    if not errors:
        return None
    rank, reason = min(_ERROR_RANK.get(e.validator, (2, INVALID_VALUE)) for e in errors)
    first = next(e for e in errors if _ERROR_RANK.get(e.validator, (2, INVALID_VALUE))[0] == rank)
    where = ".".join(str(p) for p in first.absolute_path) or "record"
    return Rejection(reason, f"{where}: {first.message}"[:500])


@lru_cache(maxsize=1024)
def _focused_validator(source: str, version: int, names: frozenset[str], parts: frozenset[int]) -> Draft202012Validator:
    """The reference validator of the contract without what cannot hold an error of a record whose broken parts are
    ``names`` (top-level properties) and ``parts`` (``allOf`` entries): the other properties, at the top and in a
    referenced document (inlined, so that it can be cut), and the other ``if``/``then`` parts. Every other keyword
    stays as it is: keeping a part never changes an answer, it only costs."""
    registry, documents = _registry()
    schema = contracts(source)[version].schema

    def cut(part: dict[str, Any]) -> dict[str, Any]:
        if "properties" not in part:
            return part
        return {**part, "properties": {name: spec for name, spec in part["properties"].items() if name in names}}

    focused = cut(schema)
    if "allOf" in schema:
        kept = []
        for index, part in enumerate(schema["allOf"]):
            if set(part) == {"$ref"} and part["$ref"] in documents and "$ref" not in json.dumps(documents[part["$ref"]]):
                part = cut({k: v for k, v in documents[part["$ref"]].items() if k not in ("$id", "$schema")})
            elif set(part) <= {"if", "then", "else"} and index not in parts:
                continue
            kept.append(part)
        focused["allOf"] = kept
    return Draft202012Validator(focused, registry=registry, format_checker=_FORMATS)


class _Unfit(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


_LONG = (-(2 ** 63), 2 ** 63 - 1)
# Money (``x-money: true``) is a decimal in silver: the JSON number's own text, exactly, to 6 places and below 10^16 --
# written in the canonical record as its own amount where a double would change it (``changes_money``).
MONEY_PRECISION, MONEY_SCALE = 22, 6  # money_type()
_MONEY_LIMIT = 10 ** 16
_MONEY_READ_LIMIT = _MONEY_LIMIT - 8  # an amount's double stays this far below: see _fit
_MONEY_STEP = Decimal(1).scaleb(-MONEY_SCALE)  # 0.000001


# A double carries every decimal number of up to 15 significant digits exactly: its shortest text (what the canonical
# record writes) is the same number. One with more may come back changed (9999999999.999999 -> 9999999999.999998).
EXACT_DIGITS = 15


class Inexact(float):
    """A number read from text that a double may not carry exactly (more than ``EXACT_DIGITS`` significant digits):
    the float is the nearest double, ``text`` the number as written. In a money field the canonical form keeps it, and
    ``canonical_json`` writes its own amount, if a double would give silver another amount than the text's
    (``changes_money``); elsewhere it is the float any JSON reader makes of it."""

    text: str


def changes_money(value: Any) -> bool:
    """Whether a double would change an amount of money: silver casts the canonical record's text to ``money_type()``,
    rounding half up to its six places (both engines), and a double's shortest text gives the amount written for most
    ``Inexact`` numbers (``1234.5600000000002``) but not all (``9999999999.999999``, which a double makes
    ``...999998``). Such an amount keeps its own text in the canonical record (``canonical_json``)."""
    return isinstance(value, Inexact) and _as_money(value.text) != _as_money(repr(float(value)))


def canonical_json(record: dict[str, Any]) -> str:
    """A canonical record's JSON text, as silver reads it: ``json.dumps`` (no spaces, UTF-8 text), except that an amount
    of money a double would change (``changes_money``: the canonical form keeps it as its ``Inexact`` number) is
    written as the amount silver holds -- its own text to six places, rounded half up, in fixed point -- where
    ``json.dumps`` would write the double. Records without one (all but the rare long amount) are ``json.dumps``'s
    bytes, which the compiled path writes too (``compiled_contracts.canonical_json``)."""
    return _dumps(record) if not _holds_inexact(record) else _written(record)


def _holds_inexact(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_inexact(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_inexact(item) for item in value)
    return isinstance(value, Inexact)


def _written(value: Any) -> str:
    """``_dumps``, an ``Inexact`` written as its amount: part by part, as json.dumps writes with these separators."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dumps(name)}:{_written(item)}" for name, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_written(item) for item in value) + "]"
    return format(_as_money(value.text), "f") if isinstance(value, Inexact) else _dumps(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_money(text: str) -> Decimal:
    return Decimal(text).quantize(_MONEY_STEP, rounding=ROUND_HALF_UP)


def read_number(text: str) -> float:
    """A number's text as a float, as ``float`` reads it (``json.loads`` hands it each JSON number with a point or an
    exponent); an ``Inexact`` if a double does not carry it exactly. ValueError as ``float``."""
    number = float(text)
    if len(text) > EXACT_DIGITS and math.isfinite(number) and _significant_digits(text) > EXACT_DIGITS:  # short: a double holds it
        number = Inexact(number)
        number.text = text.strip()
    return number


def _significant_digits(text: str) -> int:
    try:
        return len(Decimal(text.strip()).normalize().as_tuple().digits)
    except (InvalidOperation, ValueError):
        return 0


def loads(text: str) -> Any:
    """``json.loads``, each number with a point or an exponent read by ``read_number``."""
    return json.loads(text, parse_float=read_number)


def _project(record: dict[str, Any], properties: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    return {name: _fit(record[name], spec, f"{path}{name}") for name, spec in properties.items() if name in record}


def _fit(value: Any, spec: dict[str, Any], path: str) -> Any:
    if value is None:
        return None
    kind = base_type(spec)
    if kind == "integer":
        number = int(value) if isinstance(value, float) and value.is_integer() else value
        if not isinstance(number, int) or not _LONG[0] <= number <= _LONG[1]:
            raise _Unfit(OUT_OF_RANGE, f"{path}: {value!r} does not fit a 64-bit integer")
        return number
    if kind == "number":
        try:
            number = float(value)
        except OverflowError:
            raise _Unfit(OUT_OF_RANGE, f"{path}: {value!r} does not fit a double") from None
        if not math.isfinite(number):
            raise _Unfit(OUT_OF_RANGE, f"{path}: {value!r} is not a finite number")
        if spec.get("x-money"):
            # both the amount silver holds (a long one's own text) and its double, with a margin: the embedded engine's
            # from_json reads a decimal through a double, up to a neighbour off (doubles are 2 apart there), and fails
            # the whole query where that reaches 10^16 (9999999999999998.999999 did: tests/integration/jobs/silver/test_parity.py)
            amount = _as_money(value.text) if isinstance(value, Inexact) else number
            if not abs(number) < _MONEY_READ_LIMIT or not abs(amount) < _MONEY_LIMIT:
                written = value.text if isinstance(value, Inexact) else repr(value)
                raise _Unfit(OUT_OF_RANGE, f"{path}: {written} is not an amount of money (at most 16 digits before the point)")
            if changes_money(value):
                return value  # written as its own amount (canonical_json), not as the double that would change it
        if isinstance(value, int) and not spec.get("x-money") and number != value:
            raise _Unfit(OUT_OF_RANGE, f"{path}: {value!r} does not fit a double exactly (it would be read as {number!r})")
        return value if isinstance(value, int) else number
    if kind == "string":
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise _Unfit(ENCODING_ERROR, f"{path}: not text ({error.reason} at character {error.start}: half a UTF-16 surrogate pair)") from None
        return format_timestamp(parse_timestamp(value)) if spec.get("format") == "date-time" else value
    if kind == "array":
        return [_fit(item, spec["items"], f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "object":
        return _project(value, spec.get("properties", {}), f"{path}.")
    return value


# The projection compiled once per contract: the same conversions as ``_project``/``_fit``, with each property's
# type looked up once instead of per value. It only ever returns what ``_project`` returns; wherever ``_project``
# would refuse a value it raises (without the detail), and ``Contract.canonical`` then asks ``_project`` why.
# Proven equal by tests/unit/interaction_lake/test_contracts.py (a differential test over hostile records).
@cache
def _compiled(source: str, version: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return _compile_object(contracts(source)[version].properties)


def _compile_object(properties: dict[str, dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    fitters = [(name, _compile_value(spec)) for name, spec in properties.items()]
    return lambda record: {name: fit(record[name]) for name, fit in fitters if name in record}


def _compile_value(spec: dict[str, Any]) -> Callable[[Any], Any]:
    kind = base_type(spec)
    low, high = _LONG
    if kind == "integer":
        def fit(value):
            number = int(value) if isinstance(value, float) and value.is_integer() else value
            if number is None or (isinstance(number, int) and low <= number <= high):
                return number
            raise _Unfit(OUT_OF_RANGE, "")
    elif kind == "number":
        money = bool(spec.get("x-money"))

        def fit(value):
            if value is None:
                return None
            number = float(value)
            if not math.isfinite(number) or (money and not abs(number) < _MONEY_READ_LIMIT) or (
                    not money and isinstance(value, int) and number != value):
                raise _Unfit(OUT_OF_RANGE, "")
            return value if isinstance(value, int) or (money and changes_money(value)) else number
    elif kind == "string" and spec.get("format") == "date-time":
        def fit(value):
            return None if value is None else format_timestamp(_parsed(value))
    elif kind == "string":
        def fit(value):
            if value is not None and not value.isascii():
                value.encode("utf-8")  # half a surrogate pair raises, as in _fit
            return value
    elif kind == "array":
        item = _compile_value(spec["items"])

        def fit(value):
            return None if value is None else [item(v) for v in value]
    elif kind == "object":
        project = _compile_object(spec.get("properties", {}))

        def fit(value):
            return None if value is None else project(value)
    else:
        def fit(value):
            return value
    return fit


def allows_null(spec: dict[str, Any]) -> bool:
    kind = spec.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind) or None in spec.get("enum", ())


def base_type(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            raise ContractError(f"cannot derive one Spark type from {kind}")
        return kinds[0]
    if kind is None and "enum" in spec:
        values = {type(v) for v in spec["enum"] if v is not None}
        if values == {str}:
            return "string"
        raise ContractError(f"enum without a type must hold strings: {spec['enum']}")
    if kind is None:
        raise ContractError(f"property without a type: {spec}")
    return kind


def money_type() -> T.DecimalType:
    """The Spark type of money (``x-money: true``)."""
    from pyspark.sql import types as T

    return T.DecimalType(MONEY_PRECISION, MONEY_SCALE)


def spark_type(spec: dict[str, Any]) -> T.DataType:
    """The Spark type of one JSON Schema property."""
    from pyspark.sql import types as T

    kind = base_type(spec)
    if kind == "string":
        return {"date-time": T.TimestampType(), "date": T.DateType()}.get(spec.get("format"), T.StringType())
    if kind == "integer":
        return T.LongType()
    if kind == "number":
        return money_type() if spec.get("x-money") else T.DoubleType()
    if kind == "boolean":
        return T.BooleanType()
    if kind == "array":
        return T.ArrayType(spark_type(spec["items"]))
    if kind == "object":
        required = set(spec.get("required", ()))
        return T.StructType([
            T.StructField(name, spark_type(sub), nullable=name not in required or allows_null(sub))
            for name, sub in spec.get("properties", {}).items()
        ])
    raise ContractError(f"unsupported JSON type {kind!r}")


# Digests of schema texts found valid against the JSON Schema metaschema. The check is a function of the text alone, and
# it is most of the cost of reading the registry (0.1 s of a process's start): a process forked from one that checked
# the same texts (interaction_lake.airflow_preload) skips it; a text edited since is checked again.
_VALID_TEXTS: set[bytes] = set()


def _checked(text: str) -> dict[str, Any]:
    """A schema document from its text, checked against the metaschema (``SchemaError`` if it is not a valid schema)."""
    document = json.loads(text)
    digest = hashlib.sha256(text.encode()).digest()
    if digest not in _VALID_TEXTS:
        Draft202012Validator.check_schema(document)
        _VALID_TEXTS.add(digest)
    return document


def check_schema_texts() -> None:
    """Check every schema under ``schemas/`` against the metaschema and remember the verdicts by text, reading nothing
    into the registry: what a process that forks the pipeline's processes does first (interaction_lake.airflow_preload)."""
    for path in sorted(SCHEMAS_DIR.rglob("*.json")):
        _checked(path.read_text())


@cache
def _registry() -> tuple[Registry, dict[str, dict[str, Any]]]:
    if not SCHEMAS_DIR.is_dir():
        raise ContractError(f"schema directory {SCHEMAS_DIR} not found (INTERACTION_LAKE_SCHEMAS_DIR)")
    documents = {}
    for path in sorted(SCHEMAS_DIR.rglob("*.json")):
        document = _checked(path.read_text())
        documents[document["$id"]] = document
    registry = Registry().with_resources((uri, Resource.from_contents(doc)) for uri, doc in documents.items())
    return registry, documents


@cache
def _fast_registry() -> jsonschema_rs.Registry:
    _, documents = _registry()
    return jsonschema_rs.Registry(list(documents.items()))


def _referenced(schema: dict[str, Any], documents: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [documents[part["$ref"]] for part in schema.get("allOf", ()) if "$ref" in part] + [schema]


def _merged_properties(schema: dict[str, Any], documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for part in _referenced(schema, documents):
        for name, spec in part.get("properties", {}).items():
            # A contract may narrow an envelope field (event_type's enum): keep the envelope's type, add the narrowing.
            merged[name] = {**merged.get(name, {}), **spec}
    return merged


@cache
def contracts(source: str) -> dict[int, Contract]:
    """All versions of a source's contract, by version number."""
    registry, documents = _registry()
    found = {}
    for uri, schema in documents.items():
        if schema.get("x-source") != source:
            continue
        version = int(schema["x-version"])
        found[version] = Contract(
            source=source,
            version=version,
            schema=schema,
            properties=_merged_properties(schema, documents),
            required=frozenset(name for part in _referenced(schema, documents) for name in part.get("required", ())),
            validator=Draft202012Validator(schema, registry=registry, format_checker=_FORMATS),
            fast=jsonschema_rs.validator_for(schema, registry=_fast_registry(), formats=_FAST_FORMATS, validate_formats=True),
        )
    if not found:
        raise ContractError(f"no contract for source {source!r} under {SCHEMAS_DIR}")
    return dict(sorted(found.items()))


def documents() -> dict[str, dict[str, Any]]:
    """Every schema document under ``schemas/`` (contracts and the envelope they refer to), by ``$id``."""
    return _registry()[1]


def sources() -> tuple[str, ...]:
    """Every source that has a contract under ``schemas/``."""
    _, documents = _registry()
    return tuple(sorted({doc["x-source"] for doc in documents.values() if "x-source" in doc}))


def latest(source: str) -> Contract:
    return contracts(source)[max(contracts(source))]


def envelope_contract() -> dict[str, dict[str, Any]]:
    _, documents = _registry()
    return next(doc for doc in documents.values() if doc["$id"].endswith("/envelope.v1.json"))["properties"]


def for_record(source: str, record: dict[str, Any]) -> Contract:
    """The contract version a record declares (the latest when it declares none it may use)."""
    versions = contracts(source)
    version = record.get("schema_version")
    return versions[version] if isinstance(version, int) and not isinstance(version, bool) and version in versions else latest(source)


def validate(source: str, record: Any) -> Rejection | None:
    """Check one parsed record against its source's contract, picking the version it declares."""
    if not isinstance(record, dict):
        return Rejection(NOT_AN_OBJECT, f"expected a JSON object, got {type(record).__name__}")
    versions = contracts(source)
    version = record.get("schema_version")
    declared = isinstance(version, int) and not isinstance(version, bool)  # JSON true/false are bools, not versions
    if declared and version not in versions:
        return Rejection(
            UNSUPPORTED_SCHEMA_VERSION,
            f"schema_version {version} is not one of {sorted(versions)} for source {source!r}",
        )
    # Not an integer (found by fuzzing: `false` looked up version 0 and crashed): the latest contract refuses its type.
    contract = for_record(source, record)
    event_type = record.get("event_type")
    if isinstance(event_type, str) and event_type and event_type not in contract.event_types:
        return Rejection(UNKNOWN_EVENT_TYPE, f"event_type {event_type!r} is not in the {source} v{contract.version} contract")
    return contract.check(record)

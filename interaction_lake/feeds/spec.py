"""Read a feed mapping file (YAML) into a checked ``FeedMapping``, or fail with one line naming the file and line.

Two checks, both before any file is landed: the file's shape against ``schemas/feed_mapping.v1.json`` (its
own JSON Schema), then its meaning -- every column, time and contract field it names exists, every event
type is in the contract, the time zone is an IANA name. The YAML is composed node by node so that each
error can name the line it is about (``FeedMappingError``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jsonschema import Draft202012Validator

from interaction_lake import contracts
from interaction_lake.config import ConfigError

SCHEMA_FILE = contracts.SCHEMAS_DIR / "feed_mapping.v1.json"
COLUMN_TYPES = ("string", "integer", "decimal", "date", "time", "datetime", "boolean")
# Envelope fields the mapping itself fills in: an event's type, time and id, and the contract version.
MAPPING_OWNED = ("event_id", "event_type", "schema_version", "occurred_at")
DEFAULT_FORMATS = {"date": "%Y-%m-%d", "time": "%H:%M:%S"}


class FeedMappingError(ConfigError):
    """A feed mapping file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    format: str | None = None
    decimal_separator: str = "."
    null_values: frozenset[str] = frozenset()
    start: int | None = None  # fixed width: first character, from 1
    width: int | None = None
    header_name: str | None = None  # the name in the header / JSON key, when it differs

    @property
    def native_name(self) -> str:
        return self.header_name or self.name


@dataclass(frozen=True)
class Condition:
    """One test of a native record: ``kind`` is ``in``, ``not_in`` or ``null`` (``values`` holds True/False)."""
    column: str
    kind: str
    values: tuple


@dataclass(frozen=True)
class Exclusion:
    conditions: tuple[Condition, ...]
    reason: str


@dataclass(frozen=True)
class TimeSpec:
    name: str
    date: str | None = None
    time: str | None = None
    datetime: str | None = None
    not_before: str | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str
    column: str | None = None
    value: Any = None
    has_value: bool = False
    map: dict[str, Any] | None = None
    default: Any = None
    has_default: bool = False
    seconds_between: tuple[str, str] | None = None
    time: str | None = None


@dataclass(frozen=True)
class EventRule:
    event_type: str
    at: str
    conditions: tuple[Condition, ...] = ()
    fields: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True)
class FeedMapping:
    path: Path
    feed: str
    source: str
    folder: str
    pattern: str
    kind: str
    separator: str
    quote: str | None
    encoding: str
    header: bool
    timezone: str | None  # None: the business time zone
    date_only_time: dt.time
    columns: tuple[Column, ...]
    exclusions: tuple[Exclusion, ...]
    times: tuple[TimeSpec, ...]  # in declaration order: a time's not_before names an earlier one
    key: tuple[str, ...]  # event-id key columns; () = the native line's text
    common: tuple[FieldSpec, ...]
    events: tuple[EventRule, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def load(path: Path) -> FeedMapping:
    """The mapping in ``path``, checked; ``FeedMappingError`` names the line of the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FeedMappingError(f"{path}: cannot be read: {error}") from None
    document, lines = _compose(path, text)
    where = _Where(path, lines)
    errors = sorted(Draft202012Validator(_schema()).iter_errors(document), key=lambda e: (where.line(tuple(e.absolute_path)), str(e.message)))
    if errors:
        first = errors[0]
        field = ".".join(str(p) for p in first.absolute_path) or "the file"
        raise FeedMappingError(f"{where.at(tuple(first.absolute_path))}: {field}: {first.message}"[:400])
    return _build(document, where)


def _schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


class _Where:
    """File and line of a path in the document (the nearest enclosing one that has a line)."""

    def __init__(self, path: Path, lines: dict[tuple, int]):
        self.path, self.lines = path, lines

    def line(self, path: tuple) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def at(self, path: tuple) -> str:
        return f"{self.path} line {self.line(path)}"

    def fail(self, path: tuple, message: str) -> FeedMappingError:
        return FeedMappingError(f"{self.at(path)}: {message}")


def _compose(path: Path, text: str) -> tuple[Any, dict[tuple, int]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise FeedMappingError(f"{path}{line}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if root is None:
        raise FeedMappingError(f"{path}: the file is empty")
    lines: dict[tuple, int] = {}
    loader = yaml.SafeLoader("")

    def plain(node: yaml.Node, at: tuple) -> Any:
        lines.setdefault(at, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result = {}
            for key_node, value_node in node.value:
                # a key is its text as written: `null:`, `2:` and `true:` are the names "null", "2" and "true"
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(loader.construct_object(key_node, deep=True))
                if key in result:
                    raise FeedMappingError(f"{path} line {key_node.start_mark.line + 1}: {key!r} is given twice")
                lines[at + (key,)] = key_node.start_mark.line + 1
                result[key] = plain(value_node, at + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [plain(item, at + (i,)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    return plain(root, ()), lines


def _conditions(when: dict, at: tuple, where: _Where, columns: set[str]) -> tuple[Condition, ...]:
    found = []
    for column, test in when.items():
        if column not in columns:
            raise where.fail(at + (column,), f"condition on {column!r}, which is not a declared column")
        if isinstance(test, dict):
            (kind, value), = test.items()
            values = (bool(value),) if kind == "null" else tuple(str(v) for v in value)
        elif isinstance(test, list):
            kind, values = "in", tuple(str(v) for v in test)
        else:
            kind, values = "in", (str(test).lower() if isinstance(test, bool) else str(test),)
        found.append(Condition(column, kind, values))
    return tuple(found)


def _build(doc: dict, where: _Where) -> FeedMapping:
    source = doc["source"]
    if source not in contracts.sources():
        raise where.fail(("source",), f"source {source!r} has no contract under schemas/ (known: {', '.join(contracts.sources())})")
    contract = contracts.latest(source)
    fmt = doc["format"]
    kind = fmt["kind"]
    timezone = doc.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise where.fail(("timezone",), f"timezone {timezone!r} is not an IANA time zone name (e.g. Europe/Madrid)") from None
    encoding = fmt.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except LookupError:
        raise where.fail(("format", "encoding"), f"encoding {encoding!r} is not one Python knows") from None

    columns = []
    for name, spec in doc["columns"].items():
        at = ("columns", name)
        column = Column(name, spec.get("type", "string"), spec.get("format"), spec.get("decimal_separator", "."),
                        frozenset([*doc.get("null_values", ()), *spec.get("null_values", ()), ""]), spec.get("start"),
                        spec.get("width"), spec.get("name"))
        if kind == "fixed_width" and (column.start is None or column.width is None):
            raise where.fail(at, f"column {name!r}: a fixed_width feed needs start and width for every column")
        columns.append(column)
    names = {c.name for c in columns}
    by_name = {c.name: c for c in columns}

    times: list[TimeSpec] = []
    for name, spec in doc.get("times", {}).items():
        at = ("times", name)
        time = TimeSpec(name, spec.get("date"), spec.get("time"), spec.get("datetime"), spec.get("not_before"))
        if (time.datetime is None) == (time.date is None):
            raise where.fail(at, f"time {name!r}: give either date (with an optional time) or datetime")
        if time.datetime is not None and time.time is not None:
            raise where.fail(at, f"time {name!r}: a datetime column carries its own time of day; drop time")
        for part, wanted in (("date", "date"), ("time", "time"), ("datetime", "datetime")):
            column = getattr(time, part)
            if column is not None and (column not in names or by_name[column].type != wanted):
                raise where.fail(at + (part,), f"time {name!r}: {part} must name a column of type {wanted}, not {column!r}")
        if time.not_before is not None and time.not_before not in {t.name for t in times}:
            raise where.fail(at + ("not_before",), f"time {name!r}: not_before must name a time declared above it, not {time.not_before!r}")
        times.append(time)
    time_names = {t.name for t in times}

    def fields(spec: dict, at: tuple) -> tuple[FieldSpec, ...]:
        found = []
        for name, value in spec.items():
            here = at + (name,)
            if name in MAPPING_OWNED:
                raise where.fail(here, f"{name} is set by the mapping itself (event_type, at and event_id), not as a field")
            if name not in contract.properties:
                raise where.fail(here, f"{name!r} is not a field of the {source} contract v{contract.version}")
            kinds = [k for k in ("column", "value", "seconds_between", "time") if k in value]
            if len(kinds) != 1:
                raise where.fail(here, f"field {name!r}: give exactly one of column, value, seconds_between, time")
            if "map" in value and "column" not in value:
                raise where.fail(here, f"field {name!r}: map applies to a column")
            if value.get("column") is not None and value["column"] not in names:
                raise where.fail(here + ("column",), f"field {name!r}: {value['column']!r} is not a declared column")
            for time in [*value.get("seconds_between", ()), *([value["time"]] if "time" in value else [])]:
                if time not in time_names:
                    raise where.fail(here, f"field {name!r}: {time!r} is not declared under times")
            found.append(FieldSpec(name, value.get("column"), value.get("value"), "value" in value,
                                   {str(k): v for k, v in value["map"].items()} if "map" in value else None,
                                   value.get("default"), "default" in value,
                                   tuple(value["seconds_between"]) if "seconds_between" in value else None, value.get("time")))
        return tuple(found)

    common = fields(doc.get("common", {}), ("common",))
    events = []
    for index, rule in enumerate(doc["events"]):
        at = ("events", index)
        if rule["event_type"] not in contract.event_types:
            raise where.fail(at + ("event_type",), f"event_type {rule['event_type']!r} is not in the {source} contract "
                                                   f"v{contract.version} ({', '.join(contract.event_types)})")
        if rule["at"] not in time_names:
            raise where.fail(at + ("at",), f"at: {rule['at']!r} is not declared under times")
        events.append(EventRule(rule["event_type"], rule["at"], _conditions(rule.get("when", {}), at + ("when",), where, names),
                                fields(rule.get("fields", {}), at + ("fields",))))
    if "source_system" not in {f.name for f in common}:
        raise where.fail(("common",), "common must set source_system (e.g. source_system: {value: acd}): every event carries it")
    key = tuple(doc.get("event_id", {}).get("key", ()))
    for column in key:
        if column not in names:
            raise where.fail(("event_id", "key"), f"event_id key {column!r} is not a declared column")
    exclusions = tuple(Exclusion(_conditions(e["when"], ("exclude", i, "when"), where, names), e["reason"])
                       for i, e in enumerate(doc.get("exclude", ())))
    only = doc.get("date_only_time", "12:00")
    return FeedMapping(
        path=where.path, feed=doc["feed"], source=source, folder=doc["landing"]["folder"], pattern=doc["landing"]["pattern"],
        kind=kind, separator=fmt.get("separator", "\t" if kind == "delimited" and doc["landing"]["pattern"].endswith(".tsv") else ","),
        quote=fmt.get("quote", '"'), encoding=encoding, header=fmt.get("header", kind == "delimited"), timezone=timezone,
        date_only_time=dt.time.fromisoformat(only), columns=tuple(columns), exclusions=exclusions, times=tuple(times),
        key=key, common=common, events=tuple(events))

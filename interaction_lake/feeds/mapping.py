"""One native record -> the contract events it stands for, or why it is excluded or refused. Pure Python.

The steps, for each record of a mapped file (``interaction_lake.landing_files`` hands them over):

1. the exclusions, on the cells as sent: the first that matches excludes the record with its reason
   (a test or phantom call: kept in quarantine as ``excluded``, never silently dropped);
2. the declared columns, typed: a sentinel (``null_values``, and always the empty cell) is null; a cell that
   does not convert refuses the whole record (``wrong_type``), so a call is never landed half;
3. the times: a date and a clock time read in the feed's time zone (DST-correct, then UTC); a clock time
   earlier than its ``not_before`` time is on the next day (a call that crosses midnight); a date alone is read
   at ``date_only_time`` (noon by default: it stays on its day in every zone within twelve hours of UTC);
4. each event rule whose conditions hold gives one event: its time, its fields (common ones first), and a
   deterministic id -- a hash of the feed, the key columns and the event type -- so a re-delivered file
   gives the same ids and lands nothing twice.

The events then meet the contract exactly as a JSON or CSV record does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from interaction_lake import contracts
from interaction_lake.contracts import Rejection
from interaction_lake.feeds.spec import Condition, FeedMapping, FieldSpec

EXCLUDED = "excluded"  # the quarantine reason of a record a mapping excludes on purpose (not a quality problem)
_INT = re.compile(r"[+-]?\d+")
_TRUE, _FALSE = ("true", "t", "yes", "y", "1"), ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class Mapped:
    """What one native record became: events, or an exclusion reason, or a refusal."""
    events: list[dict[str, Any]] = field(default_factory=list)
    excluded: str | None = None
    refusal: Rejection | None = None


class _Refused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.rejection = Rejection(reason, detail[:500])


def is_null(feed: FeedMapping, column: str, text: str | None) -> bool:
    return text is None or text.strip() in feed.column(column).null_values


def holds(feed: FeedMapping, condition: Condition, cells: dict[str, str | None]) -> bool:
    text = cells.get(condition.column)
    if condition.kind == "null":
        return is_null(feed, condition.column, text) == condition.values[0]
    if is_null(feed, condition.column, text):
        return condition.kind == "not_in"
    inside = text.strip() in condition.values
    return inside if condition.kind == "in" else not inside


def map_record(feed: FeedMapping, cells: dict[str, str | None], raw_text: str, timezone: str) -> Mapped:
    """The events of one native record; ``cells`` maps declared column names to the text sent (None: absent)."""
    for exclusion in feed.exclusions:
        if all(holds(feed, c, cells) for c in exclusion.conditions):
            return Mapped(excluded=exclusion.reason)
    try:
        values = {c.name: _typed(feed, c.name, cells.get(c.name), timezone) for c in feed.columns}
        times = _times(feed, values, timezone)
        return Mapped(events=_events(feed, cells, values, times, raw_text))
    except _Refused as refused:
        return Mapped(refusal=refused.rejection)


def _typed(feed: FeedMapping, name: str, text: str | None, timezone: str) -> Any:
    if is_null(feed, name, text):
        return None
    column, cell = feed.column(name), text.strip()
    try:
        if column.type == "string":
            return cell
        if column.type == "integer":
            if not _INT.fullmatch(cell):
                raise ValueError
            return int(cell)
        if column.type == "decimal":
            number = Decimal(cell.replace(",", ".") if column.decimal_separator == "," else cell)
            if not number.is_finite():
                raise ValueError
            return number
        if column.type == "boolean":
            if cell.lower() not in _TRUE + _FALSE:
                raise ValueError
            return cell.lower() in _TRUE
        if column.type == "date":
            return dt.datetime.strptime(cell, column.format or "%Y-%m-%d").date()
        if column.type == "time":
            return dt.datetime.strptime(cell, column.format or "%H:%M:%S").time()
        when = dt.datetime.strptime(cell, column.format) if column.format else dt.datetime.fromisoformat(cell)
        return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(timezone))
    except (ValueError, InvalidOperation, OverflowError):
        shape = f" ({column.format})" if column.format else ""
        raise _Refused(contracts.WRONG_TYPE, f"column {name}: {cell!r} is not a {column.type}{shape}") from None


def _times(feed: FeedMapping, values: dict[str, Any], timezone: str) -> dict[str, dt.datetime | None]:
    """Each declared time in UTC (None where a part is null)."""
    zone, local, found = ZoneInfo(timezone), {}, {}
    for spec in feed.times:
        if spec.datetime is not None:
            moment = values[spec.datetime]
            local[spec.name] = None if moment is None else moment.astimezone(zone).replace(tzinfo=None)
        else:
            day = values[spec.date]
            clock = values[spec.time] if spec.time is not None else feed.date_only_time
            moment = None if day is None or clock is None else dt.datetime.combine(day, clock)
            earlier = local.get(spec.not_before) if spec.not_before else None
            if moment is not None and earlier is not None and moment < earlier:
                moment += dt.timedelta(days=1)  # a clock time before its predecessor's: the next day
            local[spec.name] = moment
        moment = local[spec.name]
        # fold=0: an ambiguous clock time in the autumn's repeated hour is read as the first of the two
        found[spec.name] = None if moment is None else moment.replace(tzinfo=zone).astimezone(dt.timezone.utc)
    return found


def _events(feed: FeedMapping, cells: dict[str, str | None], values: dict[str, Any],
            times: dict[str, dt.datetime | None], raw_text: str) -> list[dict[str, Any]]:
    contract = contracts.latest(feed.source)
    key = "\x1f".join((cells.get(c) or "").strip() for c in feed.key) if feed.key else raw_text
    events, seen = [], {}
    for rule in feed.events:
        if not all(holds(feed, c, cells) for c in rule.conditions):
            continue
        at = times[rule.at]
        if at is None:
            spec = next(t for t in feed.times if t.name == rule.at)
            parts = ", ".join(p for p in (spec.date, spec.time, spec.datetime) if p)
            raise _Refused(contracts.MISSING_FIELD, f"{rule.event_type} needs time {rule.at}, but {parts} is empty")
        occurrence = seen[rule.event_type] = seen.get(rule.event_type, -1) + 1
        digest = hashlib.sha256("\x1e".join((feed.feed, key, rule.event_type, str(occurrence))).encode()).hexdigest()[:32]
        event: dict[str, Any] = {"event_id": f"{feed.feed}-{digest}", "event_type": rule.event_type,
                                 "schema_version": contract.version, "occurred_at": contracts.format_timestamp(at)}
        for spec in (*feed.common, *rule.fields):
            value = _field(spec, cells, values, times)
            if value is None and not contracts.allows_null(contract.properties[spec.name]):
                event.pop(spec.name, None)  # absent: the contract says whether the event needs it
            else:
                event[spec.name] = _json(value, contract.properties[spec.name])
        events.append(event)
    return events


def _field(spec: FieldSpec, cells: dict[str, str | None], values: dict[str, Any], times: dict[str, dt.datetime | None]) -> Any:
    if spec.has_value:
        return spec.value
    if spec.time is not None:
        return times[spec.time]
    if spec.seconds_between is not None:
        start, end = (times[name] for name in spec.seconds_between)
        return None if start is None or end is None else (end - start).total_seconds()
    value = values[spec.column]
    if spec.map is None or value is None:
        return value
    text = cells[spec.column].strip()
    if text in spec.map:
        return spec.map[text]
    if spec.has_default:
        return spec.default
    known = ", ".join(sorted(spec.map))
    raise _Refused(contracts.INVALID_VALUE, f"column {spec.column}: {text!r} is not in the mapping's map for {spec.name} ({known})")


def _json(value: Any, spec: dict[str, Any]) -> Any:
    """A typed value as the contract's JSON reads it."""
    if isinstance(value, dt.datetime):
        return contracts.format_timestamp(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        kind = contracts.base_type(spec)
        if kind == "integer" and value == value.to_integral_value():
            return int(value)
        return contracts.read_number(str(value)) if kind == "number" else str(value)
    if contracts.base_type(spec) == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value

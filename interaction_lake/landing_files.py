"""Find landing files and split them into contract-checked records, keeping every line's fate.

Pure functions over bytes: no Spark, no I/O beyond reading the file. Each physical line (JSON
lines) or data row (CSV) becomes either an accepted record or a rejection with a reason; blank
lines are counted. ``FileLines`` yields them one at a time (landing streams them into staged Parquet
parts), ``parse_file`` collects them. A file that cannot be read as text at all is rejected whole, and so is a file
cut short in transfer (see ``_truncation``): each of its lines is quarantined as ``truncated_file``,
so the complete file, when it is delivered again, lands every record exactly once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from interaction_lake import contracts
from interaction_lake.contracts import Rejection

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
SUPPORTED_SUFFIXES = JSON_SUFFIXES + CSV_SUFFIXES
# Producers write under a temporary name and rename when done; these are not files yet.
_IN_PROGRESS = re.compile(r"(^[._])|(\.(tmp|part|inprogress)$)")
_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Line:
    line_number: int | None  # 1-based physical line; None for a whole-file rejection
    raw_line: str
    record: dict[str, Any] | None = None
    rejection: Rejection | None = None


@dataclass
class ParsedFile:
    lines: list[Line] = field(default_factory=list)
    blank_lines: int = 0

    @property
    def accepted(self) -> list[Line]:
        return [line for line in self.lines if line.rejection is None]

    @property
    def rejected(self) -> list[Line]:
        return [line for line in self.lines if line.rejection is not None]


def discover(source_dir: Path) -> list[Path]:
    """Landing files of one source, oldest name first (names carry the extract date)."""
    if not source_dir.is_dir():
        return []
    return sorted(
        path for path in source_dir.rglob("*")
        if path.is_file() and not _IN_PROGRESS.search(path.name) and path.suffix.lower() in SUPPORTED_SUFFIXES
    )


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_file(source: str, name: str, data: bytes) -> ParsedFile:
    """Every line of the file with its fate, in memory (tests, small files); landing streams ``FileLines``."""
    lines = FileLines(source, name, data)
    return ParsedFile(list(lines), lines.blank_lines)


class FileLines:
    """The lines of one landing file, parsed and checked one at a time as they are iterated, so a file of
    millions of records is never held as records all at once. ``blank_lines`` is complete once iterated."""

    def __init__(self, source: str, name: str, data: bytes):
        self.source, self.name, self.data = source, name, data
        self.blank_lines = 0

    def __iter__(self) -> Iterator[Line]:
        self.blank_lines = 0
        data, name = self.data, self.name
        if b"\x00" in data:
            yield Line(None, "", rejection=Rejection(contracts.UNREADABLE_FILE, f"{name} holds NUL bytes: binary or corrupt, not text"))
            return
        is_csv = name.lower().endswith(CSV_SUFFIXES)
        lines = _parse_csv(self.source, data, self) if is_csv else _parse_json_lines(self.source, data, self)
        if data.endswith((b"\n", b"\r")) or not data.strip():  # ends with a newline: cannot be cut short
            yield from lines
            return
        parsed = ParsedFile(list(lines), self.blank_lines)  # no final newline (rare): the whole file decides
        why = _truncation(parsed, data, is_csv)
        if why is None:
            yield from parsed.lines
            return
        rejection = Rejection(contracts.TRUNCATED_FILE, f"{name} is cut short: {why}; the whole file is quarantined "
                                                        "so that its complete re-delivery lands each record once")
        yield from (Line(line.line_number, line.raw_line, rejection=rejection) for line in parsed.lines)


def _truncation(parsed: ParsedFile, data: bytes, is_csv: bool) -> str | None:
    """Why this file, which does not end with a newline, looks cut off mid-write, or None.

    The rule: the file does not end with a newline *and* its last line is incomplete -- not valid
    JSON (JSON lines) or fewer cells than the header (CSV). Either alone is common and harmless (a
    last line without newline from a spreadsheet export; one bad line in a good file), so either
    alone quarantines only that line.
    """
    if not parsed.lines:
        return None
    physical = data.splitlines()
    last = parsed.lines[-1]
    if last.line_number != len(physical) or last.rejection is None:
        return None
    if not is_csv:
        return f"no newline after line {last.line_number}, which is not valid JSON" if last.rejection.reason == contracts.MALFORMED_JSON else None
    try:
        header = next(csv.reader([physical[0].decode("utf-8")]))
        cells = next(csv.reader([physical[-1].decode("utf-8")]), [])
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    if len(physical) > 1 and len(cells) < len(header):
        return f"no newline after line {last.line_number}, which has {len(cells)} of the header's {len(header)} cells"
    return None


def _decode(raw: bytes) -> tuple[str, Rejection | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as error:
        return raw.decode("utf-8", errors="backslashreplace"), Rejection(contracts.ENCODING_ERROR, f"not UTF-8: {error.reason} at byte {error.start}")


def _parse_json_lines(source: str, data: bytes, counts: FileLines) -> Iterator[Line]:
    for number, raw in enumerate(data.splitlines(), start=1):
        text, rejection = _decode(raw)
        if rejection is None and not text.strip():
            counts.blank_lines += 1
            continue
        if rejection is None:
            try:
                record = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as error:
                rejection = Rejection(contracts.MALFORMED_JSON, f"not valid JSON: {error}"[:500])
            else:
                rejection = contracts.validate(source, record)
                if rejection is None:
                    yield Line(number, text, record=record)
                    continue
        yield Line(number, text, rejection=rejection)


def _parse_csv(source: str, data: bytes, counts: FileLines) -> Iterator[Line]:
    text, rejection = _decode(data)
    if rejection is not None:
        yield Line(None, "", rejection=rejection)
        return
    properties = contracts.latest(source).properties
    reader = csv.DictReader(io.StringIO(text, newline=""))
    physical = text.splitlines()
    try:
        for row in reader:
            number = reader.line_num
            raw = physical[number - 1] if 0 < number <= len(physical) else ""
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                counts.blank_lines += 1
                continue
            if None in row:  # more cells than header columns
                yield Line(number, raw, rejection=Rejection(
                    contracts.MALFORMED_CSV,
                    f"row has {len(row) - 1 + len(row[None])} cells, header has {len(reader.fieldnames or [])}"))
                continue
            record = coerce_csv_row(row, properties)
            rejection = contracts.validate(source, record)
            yield Line(number, raw, record=None if rejection else record, rejection=rejection)
    except csv.Error as error:
        yield Line(reader.line_num, "", rejection=Rejection(contracts.MALFORMED_CSV, f"malformed CSV: {error}"))


def coerce_csv_row(row: dict[str, str | None], properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Give CSV cells the JSON types their contract declares; leave what does not convert for the contract to refuse."""
    record: dict[str, Any] = {}
    for name, cell in row.items():
        spec = properties.get(name, {})
        if cell is None or cell == "":
            if contracts.allows_null(spec):
                record[name] = None
            continue  # an empty cell is an absent value: the contract decides if it was required
        kind = contracts.base_type(spec) if spec else "string"
        record[name] = _convert(cell, kind)
    return record


def _convert(cell: str, kind: str) -> Any:
    if kind == "integer" and _INT.fullmatch(cell.strip()):
        return int(cell.strip())  # str.strip() drops more than int() tolerates (e.g. "\x1f", found by fuzzing)
    if kind == "number":
        try:
            return float(cell)
        except ValueError:
            return cell
    if kind == "boolean" and cell.strip().lower() in ("true", "false"):
        return cell.strip().lower() == "true"
    return cell

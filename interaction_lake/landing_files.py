"""Find landing files and split them into contract-checked records, keeping every physical line's fate.

Pure functions over bytes: no Spark, no I/O beyond reading the file. A physical line ends with LF (or
CRLF); nothing else splits a line (a ``\\x0b``, ``\\x1c`` or U+2028 inside a CSV cell is data). Each
physical line is part of exactly one of: an accepted record, a refused record (with a reason and its raw
text, or its raw bytes in base64 where they are not text), a blank line, or the CSV header. A CSV record
whose quoted cell holds a newline spans several physical lines and keeps them all in ``raw_line``.

How a file is read:

* compressed (gzip magic, whatever its name): decompressed first; a corrupt archive is refused whole as
  ``unreadable_file``, one cut short as ``truncated_file``;
* encoding: a UTF-8 byte-order mark is dropped; a UTF-16 mark (or the NUL pattern of UTF-16 text without
  one) decodes the file as UTF-16; everything else is UTF-8, decoded line by line, so one bad byte or NUL
  refuses that line alone (``encoding_error``, raw bytes kept in base64) and its neighbours land;
* a file that is mostly not text (an archive or spreadsheet under a ``.csv`` name) is refused whole as
  ``unreadable_file``: its bytes stay in the landing zone, which the pipeline never changes;
* a file cut short in transfer (see ``_truncation``) is quarantined line by line as ``truncated_file``,
  so the complete file, when it is delivered again, lands every record exactly once.

An accepted record carries its canonical form (``Contract.canonical``) and its event time, both checked
here, so that nothing after parsing can fail on it: landing never stops on one record.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import hashlib
import json
import operator
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from interaction_lake import compiled_contracts, contracts, landing_bytes
from interaction_lake.contracts import Rejection
from interaction_lake.landing_bytes import Physical
from interaction_lake.feeds import FeedMapping, covering
from interaction_lake.feeds.mapping import EXCLUDED, map_record

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
SUPPORTED_SUFFIXES = JSON_SUFFIXES + CSV_SUFFIXES
COMPRESSED_SUFFIXES = (".gz",)
# Producers write under a temporary name and rename when done; these are not files yet.
_IN_PROGRESS = re.compile(r"(^[._])|(\.(tmp|part|inprogress)$)")
_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class TimeWindow:
    """Event times a record may carry: outside it, the record is quarantined as ``implausible_timestamp``."""
    earliest: dt.datetime
    latest: dt.datetime

    def refuses(self, when: dt.datetime) -> Rejection | None:
        if self.earliest <= when <= self.latest:
            return None
        return Rejection(contracts.IMPLAUSIBLE_TIMESTAMP,
                         f"occurred_at {contracts.format_timestamp(when)} is outside the plausible window "
                         f"{contracts.format_timestamp(self.earliest)} .. {contracts.format_timestamp(self.latest)}")


WHOLE_FILE_BYTES = 1 << 20  # a file refused whole keeps its bytes in quarantine up to this size


@dataclass(frozen=True)
class Line:
    line_number: int | None  # 1-based first physical line; None for a whole-file rejection
    raw_line: str  # the line's text as sent (bytes that are not UTF-8 shown as \\x.. escapes)
    record: dict[str, Any] | None = None  # the canonical record (accepted lines only)
    rejection: Rejection | None = None
    raw_base64: str | None = None  # the exact bytes, where they are not clean text
    lines_spanned: int = 1  # physical lines the record covers (a quoted CSV newline; 0 for a whole-file rejection)
    occurred_at: dt.datetime | None = None  # the event time in UTC (a refused record: where it can be read)
    customer_ref: str | None = None  # a refused record's customer, where it can be read (which customer-months lack inputs)

    @property
    def record_json(self) -> str:
        return contracts.canonical_json(self.record)


_ENVELOPE = tuple(map(operator.attrgetter, contracts.ENVELOPE_FIELDS))
TAKEN_CHUNK = 50_000  # records the compiled path hands over at a time (lake.PART_ROWS is larger: one part each)


class Taken:
    """Records the compiled path accepted, kept for bronze: ``columns`` gives them column by column."""

    def __init__(self, window: TimeWindow | None):
        # canonical UTC texts have one width, so they compare as the times they name
        self.bounds = (contracts.format_timestamp(window.earliest), contracts.format_timestamp(window.latest)) if window else None
        self.records: list = []
        self.raw: list[bytes] = []
        self.numbers: list[int] = []

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: Any | None, raw: bytes, number: int) -> bool:
        """Keep a record the compiled contracts took (``record``, or None: declined) if its time is in the window;
        False if the reference must decide the line."""
        if record is None or (self.bounds and not self.bounds[0] <= record.occurred_at <= self.bounds[1]):
            return False
        self.records.append(record)
        self.raw.append(raw)
        self.numbers.append(number)
        return True

    @property
    def columns(self) -> list[list]:
        """The envelope fields (``contracts.ENVELOPE_FIELDS``; the event time as canonical UTC text), the raw lines and
        canonical JSON (UTF-8 bytes both), and the line numbers."""
        records = self.records
        envelope = [list(map(field, records)) for field in _ENVELOPE]
        return [*envelope, self.raw, compiled_contracts.canonical_json(records), self.numbers]


@dataclass
class ParsedFile:
    lines: list[Line] = field(default_factory=list)
    blank_lines: int = 0
    header_lines: int = 0

    @property
    def accepted(self) -> list[Line]:
        return [line for line in self.lines if line.rejection is None]

    @property
    def rejected(self) -> list[Line]:
        return [line for line in self.lines if line.rejection is not None]


def format_of(name: str) -> str | None:
    """``json`` or ``csv`` for a landing file name (a ``.gz`` ending is looked through), None for anything else."""
    lower = name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        lower = lower.removesuffix(suffix)
    if lower.endswith(JSON_SUFFIXES):
        return "json"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    return None


@dataclass(frozen=True)
class Found:
    """What the landing zone holds under one source: files to land, and everything else with why it is not."""
    files: list[Path]
    ignored: list[tuple[Path, str]]  # recognised as present but not landed: (path, reason)
    unreadable: list[tuple[Path, str]]  # a file or directory the pipeline may not read: (path, error)


def survey(source_dir: Path, feeds: tuple[FeedMapping, ...] = (), landing_root: Path | None = None,
           contract_files: bool = True) -> Found:
    """Walk one landing folder. Files of a known format (or covered by one of ``feeds``, whose folders are relative
    to ``landing_root``) are to be landed, oldest name first (names carry the extract date); ``contract_files=False``
    lands only what a feed covers (a folder that belongs to feeds alone). In-progress names (see ``_IN_PROGRESS``)
    are not files yet and are passed over silently. Everything else is reported: other files as ignored, symbolic
    links as ignored (never followed: a link could reach any file on the machine, the lake's secret included),
    unreadable files and folders as unreadable."""
    files, ignored, unreadable = [], [], []
    if not source_dir.is_dir():
        return Found(files, ignored, unreadable)

    def on_error(error: OSError) -> None:
        unreadable.append((Path(error.filename), f"{error.strerror or error}"))

    for folder, dirs, names in os.walk(source_dir, onerror=on_error, followlinks=False):
        for name in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            ignored.append((Path(folder) / name, "symbolic link to a folder: links are not followed"))
        for name in names:
            path = Path(folder) / name
            if in_progress(name):
                continue
            try:
                mode = path.lstat().st_mode
            except OSError as error:
                unreadable.append((path, error.strerror or str(error)))
                continue
            if stat.S_ISLNK(mode):
                ignored.append((path, "symbolic link: links are not followed"))
            elif not stat.S_ISREG(mode):
                ignored.append((path, "not a regular file"))
            elif (format_of(name) is None or not contract_files) and covering(feeds, landing_root, path) is None:
                ignored.append((path, _uncovered(feeds, contract_files)))
            elif not os.access(path, os.R_OK):
                unreadable.append((path, "permission denied"))
            else:
                files.append(path)
    return Found(sorted(files), sorted(ignored), sorted(unreadable))


def in_progress(name: str) -> bool:
    """A name a producer writes under before renaming (``.tmp``, ``.part``, a leading dot): not a file yet."""
    return bool(_IN_PROGRESS.search(name))


def _uncovered(feeds: tuple[FeedMapping, ...], contract_files: bool) -> str:
    covered = [f"{f.folder}/{f.pattern} (feed {f.feed})" for f in feeds]
    if contract_files:
        covered.insert(0, f"{', '.join(SUPPORTED_SUFFIXES)} by the contract, optionally .gz")
    return f"no contract or mapping covers this file (landed here: {'; '.join(covered)})"


def discover(source_dir: Path) -> list[Path]:
    """Landing files of one source to land, oldest name first."""
    return survey(source_dir).files


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_file(source: str, name: str, data: bytes, window: TimeWindow | None = None,
               feed: FeedMapping | None = None, timezone: str = "UTC") -> ParsedFile:
    """Every line of the file with its fate, in memory (tests, small files); landing streams ``FileLines``."""
    lines = FileLines(source, name, data, window, feed, timezone)
    return ParsedFile(list(lines), lines.blank_lines, lines.header_lines)


class FileLines:
    """The lines of one landing file, parsed and checked one at a time as they are iterated, so a file of
    millions of records is never held as records all at once. ``blank_lines`` and ``header_lines`` are
    complete once iterated.

    With a ``feed``, the file is the bank's native export: each native record goes through the mapping
    (``interaction_lake.feeds.mapping``), clock times read in ``timezone`` unless the mapping names its own,
    and each of its events meets the contract; every event keeps the native line as its ``raw_line``. A record
    is landed whole or refused whole (one bad event refuses its siblings too: a call is never landed half).
    The record's physical lines are counted once, on its last event (``lines_spanned`` 0 on the others).

    ``columnar=True`` (landing) lets a contract file (JSON lines, or CSV without quotes) take the compiled path
    (``compiled_contracts``): the records it takes are not yielded one ``Line`` each but in ``Taken`` chunks, at most
    ``TAKEN_CHUNK`` records each; every other line -- refused, blank, or one the compiled path declines -- is
    yielded as a ``Line`` by the reference path, exactly as without it. A file that is not UTF-8 text ending with a
    newline is read by the reference path whole."""

    def __init__(self, source: str, name: str, data: bytes, window: TimeWindow | None = None,
                 feed: FeedMapping | None = None, timezone: str = "UTC", columnar: bool = False):
        self.source, self.name, self.data, self.window = source, name, data, window
        self.feed, self.timezone = feed, (feed.timezone if feed and feed.timezone else timezone)
        self.columnar = columnar
        self.blank_lines = self.header_lines = 0

    def __iter__(self) -> Iterator["Line | Taken"]:
        self.blank_lines = self.header_lines = 0
        self._short_row_ends_at = 0  # the last physical line of the latest CSV row with fewer cells than the header
        body, refusal = landing_bytes.uncompressed(self.name, self.data)
        if refusal is not None:
            yield self._whole_file(refusal)
            return
        if self.columnar and self.feed is None:
            parts = landing_bytes.clean_utf8_lines(body)
            compiled = None if parts is None else self._compiled(parts) if format_of(self.name) == "json" else self._compiled_csv(body, parts)
            if compiled is not None:
                yield from compiled
                return
        physical, refusal = landing_bytes.physical_lines(self.name, body, self.feed.encoding if self.feed else "utf-8")
        if refusal is not None:
            yield self._whole_file(refusal)
            return
        if self.feed is not None:
            lines = self._mapped(physical)
        else:
            lines = self._csv(physical) if format_of(self.name) == "csv" else self._json_lines(physical)
        if not physical or physical[-1].end or not body.strip():  # ends with a newline: cannot be cut short
            yield from lines
            return
        parsed = ParsedFile(list(lines), self.blank_lines, self.header_lines)  # no final newline (rare): the whole file decides
        why = _truncation(parsed, len(physical), self._short_row_ends_at == len(physical))
        if why is None:
            yield from parsed.lines
            return
        rejection = Rejection(contracts.TRUNCATED_FILE, f"{self.name} is cut short: {why}; the whole file is quarantined "
                                                        "so that its complete re-delivery lands each record once")
        yield from (Line(line.line_number, line.raw_line, rejection=rejection, raw_base64=line.raw_base64,
                         lines_spanned=line.lines_spanned) for line in parsed.lines)

    def _compiled(self, parts: list[bytes]) -> Iterator["Line | Taken"]:
        """Each line through the compiled contracts first; what they decline through the reference (``_json_lines``)."""
        decoders = compiled_contracts.decoders(self.source)
        taken = Taken(self.window)
        every_line_readable = landing_bytes.all_readable(parts)  # one check for the file instead of one per line
        for index, raw in enumerate(parts):
            record = None
            for decoder in decoders if every_line_readable or landing_bytes.readable(raw) else ():
                record = decoder.take(raw)
                if record is not None:
                    if decoder is not decoders[0]:  # most files hold one version: try it first from now on
                        decoders = (decoder, *(d for d in decoders if d is not decoder))
                    break
            if taken.add(record, raw, index + 1):
                if len(taken) >= TAKEN_CHUNK:
                    yield taken
                    taken = Taken(self.window)
                continue
            yield from self._json_lines([landing_bytes.physical(index, raw, True, "utf-8")])
        if len(taken):
            yield taken

    def _json_lines(self, physical: list[Physical]) -> Iterator[Line]:
        for line in physical:
            if line.problem is None and not line.text.strip():
                self.blank_lines += 1
                continue
            if line.problem is not None:
                yield _refused(line.number, [line], Rejection(contracts.ENCODING_ERROR, line.problem))
                continue
            try:
                record = contracts.loads(line.text)
            except (json.JSONDecodeError, RecursionError) as error:
                yield _refused(line.number, [line], Rejection(contracts.MALFORMED_JSON, f"not valid JSON: {error}"[:500]))
                continue
            yield self._checked(record, [line])

    def _csv(self, physical: list[Physical]) -> Iterator[Line]:
        kinds = cell_kinds(contracts.latest(self.source).properties)
        header: list[str] | None = None
        rows = _CsvRows(physical)
        for span, cells, error, problem in self._filled(rows):
            first = span[0]
            if header is None and problem is None and error is None:
                if "event_id" in cells and all(cell.strip() for cell in cells):
                    header = cells
                    self.header_lines += len(span)
                    continue
                header = []  # no header row: every row is refused, none is silently taken as the header
            if problem is not None:
                yield _refused(first.number, span, Rejection(contracts.ENCODING_ERROR, problem))
                continue
            if header == []:
                yield _refused(first.number, span, Rejection(contracts.MALFORMED_CSV, "the file has no header row: its first "
                                                             "row does not name the contract's columns (event_id, ...)"))
                continue
            if error is None and len(span) > 1 and len(cells) != len(header):
                # a stray quote swallowed the lines after it: refuse its first line alone, read on from the next
                rows.resume_at(first.number)
                yield _refused(first.number, [first], Rejection(contracts.MALFORMED_CSV, "unbalanced quote: the row does not "
                                                                "end on its own line with the header's cells"))
                continue
            yield self._csv_row(header, kinds, span, cells, error)

    def _csv_row(self, header: list[str], kinds: dict, span: list[Physical], cells: list[str], error: str | None) -> Line:
        """A CSV row after the header, of text, through the contract."""
        if error is not None or len(cells) > len(header):
            detail = f"malformed CSV: {error}" if error else f"row has {len(cells)} cells, header has {len(header)}"
            return _refused(span[0].number, span, Rejection(contracts.MALFORMED_CSV, detail))
        if len(cells) < len(header):
            self._short_row_ends_at = span[-1].number
        return self._checked(coerce_csv_row(dict(zip(header, cells)), kinds), span)

    def _compiled_csv(self, body: bytes, parts: list[bytes]) -> Iterator["Line | Taken"] | None:
        """``_csv`` through the compiled contracts, for the plain CSV most exports are: no quotes, no CR, and a header
        of distinct names on the first line (None for any other file: the reference reads it). Without quotes every
        line is one row and its cells are its text split at commas, exactly as the csv module reads them; each row is
        converted as the reference converts it (``coerce_csv_row``) and then taken or declined like a JSON record."""
        if not parts or b'"' in body or b"\r" in body:  # ``parts``' bytes are ``body``'s, less its lines' ends (and mark)
            return None
        header = parts[0].decode().split(",")
        if "event_id" not in header or not all(cell.strip() for cell in header) or len(set(header)) != len(header):
            return None
        return self._compiled_rows(header, parts)

    def _compiled_rows(self, header: list[str], parts: list[bytes]) -> Iterator["Line | Taken"]:
        kinds = cell_kinds(contracts.latest(self.source).properties)
        decoders = compiled_contracts.decoders(self.source)
        by_version = {decoder.version: decoder for decoder in decoders}
        documents = _RowDocuments(header, kinds, decoders)
        width = len(header)
        taken = Taken(self.window)
        self.header_lines += 1
        texts = landing_bytes.readable_texts(parts)
        for index in range(1, len(parts)):
            raw, text = parts[index], texts[index]
            cells = None if text is None else text.split(",")
            if cells is not None and len(cells) == width:
                record = documents.take(text, cells)
                if record is None:  # converted cell by cell as the reference converts them (empty cells, rarer cells)
                    converted = coerce_csv_row(dict(zip(header, cells)), kinds)
                    version = converted.get("schema_version")
                    decoder = by_version.get(version) if type(version) is int else None
                    record = None if decoder is None else decoder.take_object(converted)
                if taken.add(record, raw, index + 1):
                    if len(taken) >= TAKEN_CHUNK:
                        yield taken
                        taken = Taken(self.window)
                    continue
            line = landing_bytes.physical(index, raw, True, "utf-8")
            if line.problem is not None:
                yield _refused(line.number, [line], Rejection(contracts.ENCODING_ERROR, line.problem))
                continue
            cells = line.text.split(",")
            if not any(cell.strip() for cell in cells):
                self.blank_lines += 1
                continue
            yield self._csv_row(header, kinds, [line], cells, None)
        if len(taken):
            yield taken

    def _mapped(self, physical: list[Physical]) -> Iterator[Line]:
        feed = self.feed
        for span, cells, refusal in self._native_records(physical):
            if refusal is not None:
                yield _refused(span[0].number, span, refusal)
                continue
            mapped = map_record(feed, cells, _text(span), self.timezone)
            if mapped.excluded is not None:
                yield _refused(span[0].number, span, Rejection(EXCLUDED, f"excluded by feed {feed.feed}: {mapped.excluded}"))
                continue
            if mapped.refusal is not None or not mapped.events:
                refusal = mapped.refusal or Rejection(contracts.UNKNOWN_EVENT_TYPE, f"no event rule of feed {feed.feed} matches this record")
                yield _refused(span[0].number, span, refusal)
                continue
            checked = [self._checked(event, span) for event in mapped.events]
            bad = next((line for line in checked if line.rejection is not None), None)
            if bad is not None:
                refused = _refused(span[0].number, span, Rejection(bad.rejection.reason, f"{bad.rejection.detail} "
                                                                                        f"(so the whole native record is refused)"[:500]))
                yield replace(refused, customer_ref=bad.customer_ref, occurred_at=bad.occurred_at)
                continue
            for index, line in enumerate(checked):
                yield replace(line, lines_spanned=len(span) if index == len(checked) - 1 else 0)

    def _native_records(self, physical: list[Physical]) -> Iterator[tuple[list[Physical], dict | None, Rejection | None]]:
        """(span, cells by declared column, None) per native record, or (span, None, why it cannot be read); blank lines
        and the header are counted, not yielded."""
        feed = self.feed
        if feed.kind == "delimited":
            yield from self._delimited(physical)
            return
        for line in physical:
            if line.problem is None and not line.text.strip():
                self.blank_lines += 1
                continue
            if line.problem is not None:
                yield [line], None, Rejection(contracts.ENCODING_ERROR, line.problem)
            elif feed.kind == "fixed_width":
                cells = {c.name: line.text[c.start - 1:c.start - 1 + c.width] if len(line.text) >= c.start else None
                         for c in feed.columns}
                yield [line], cells, None
            else:
                try:
                    record = contracts.loads(line.text)
                except (json.JSONDecodeError, RecursionError) as error:
                    yield [line], None, Rejection(contracts.MALFORMED_JSON, f"not valid JSON: {error}"[:500])
                    continue
                if not isinstance(record, dict):
                    yield [line], None, Rejection(contracts.NOT_AN_OBJECT, f"expected a JSON object, got {type(record).__name__}")
                    continue
                yield [line], {c.name: _cell_text(record.get(c.native_name)) for c in feed.columns}, None

    def _delimited(self, physical: list[Physical]) -> Iterator[tuple[list[Physical], dict | None, Rejection | None]]:
        feed = self.feed
        positions: dict[str, int] | None = None if feed.header else {c.native_name: i for i, c in enumerate(feed.columns)}
        width, no_header = len(feed.columns), "the file has no header row"
        for span, cells, error, problem in self._filled(_CsvRows(physical, delimiter=feed.separator, quotechar=feed.quote)):
            if positions is None and problem is None and error is None:
                names = [cell.strip() for cell in cells]
                missing = [c.native_name for c in feed.columns if c.native_name not in names]
                self.header_lines += len(span)
                if missing:
                    positions = {}  # every row is refused: a wrong header must not be guessed around
                    no_header = f"the header lacks the mapping's column(s) {', '.join(missing)}"
                else:
                    positions, width = {name: i for i, name in enumerate(names)}, len(names)
                continue
            if problem is not None:
                yield span, None, Rejection(contracts.ENCODING_ERROR, problem)
            elif not positions:
                yield span, None, Rejection(contracts.MALFORMED_CSV, f"{no_header} (feed {feed.feed})")
            elif error is not None or len(cells) > width:
                yield span, None, Rejection(contracts.MALFORMED_CSV, f"malformed record: {error}" if error else
                                            f"row has {len(cells)} cells, {'header has' if feed.header else 'the mapping declares'} {width}")
            else:
                if len(cells) < width:
                    self._short_row_ends_at = span[-1].number
                yield span, {c.name: cells[positions[c.native_name]] if positions[c.native_name] < len(cells) else None
                             for c in feed.columns}, None

    def _filled(self, rows: "_CsvRows") -> Iterator[tuple[list[Physical], list[str], str | None, str | None]]:
        """The delimited rows that are not blank (blank ones are counted): span, cells, the parser's error, and why a
        line of it is not text (or None)."""
        for span, cells, error in rows:
            if error is None and not any(cell.strip() for cell in cells):
                self.blank_lines += len(span)
                continue
            yield span, cells, error, next((line.problem for line in span if line.problem), None)

    def _whole_file(self, refusal: Rejection) -> Line:
        """A file refused whole (binary, corrupt compression) keeps its exact bytes in quarantine, up to
        ``WHOLE_FILE_BYTES`` (a larger one is named by its checksum in the ledger and stays in the landing zone)."""
        kept = base64.b64encode(self.data).decode("ascii") if len(self.data) <= WHOLE_FILE_BYTES else None
        return Line(None, "", rejection=refusal, lines_spanned=0, raw_base64=kept)

    def _checked(self, record: Any, span: list[Physical]) -> Line:
        """A parsed record through the contract, its canonical form and the plausibility window."""
        rejection = contracts.validate(self.source, record)
        if rejection is None:
            record, rejection = contracts.for_record(self.source, record).canonical(record)
        if rejection is None:
            occurred_at = dt.datetime.fromisoformat(record["occurred_at"])
            rejection = self.window.refuses(occurred_at) if self.window else None
            if rejection is None:
                return Line(span[0].number, _text(span), record=record, lines_spanned=len(span), occurred_at=occurred_at)
        return replace(_refused(span[0].number, span, rejection), **_whose(record))


class _RowDocuments:
    """A plain CSV row (no quotes) of one header read as a JSON document: its text cells in quotes, its integer,
    number and boolean cells as they are, decoded by the compiled contracts (``Decoder.take_row``). Where the document
    decodes, its values are what the reference's conversion (``coerce_csv_row``) gives -- a cell JSON does not read
    (``+5``, ``05``, ``.5``, ``TRUE``, ``nan``, a control character) leaves the row to that conversion -- except for
    what JSON reads otherwise, which is declined here: a backslash (an escape in JSON), ``null`` in a typed cell
    (null in JSON, text to the reference), ``-0`` in a number cell (0.0 for msgspec, -0.0 for ``float``), and a long
    number cell (``contracts.read_number`` reads it as an ``Inexact``)."""

    def __init__(self, header: list[str], kinds: dict[str, tuple[bool, str]], decoders: tuple):
        typed = [name for name in header if kinds.get(name, _UNDECLARED)[1] in ("integer", "number", "boolean")]
        numbers = [at for at, name in enumerate(header) if kinds.get(name, _UNDECLARED)[1] == "number"]
        keys = [json.dumps(name).replace("%", "%%") for name in header]
        self.template = "{" + ",".join(key + (":%s" if name in typed else ':"%s"') for key, name in zip(keys, header)) + "}"
        self.decoders = decoders
        self.number_cells = compiled_contracts.getter(operator.itemgetter, numbers)
        self.values = {}  # per contract version, of the typed columns its records have: their values, the numbers' too
        for decoder in decoders:
            own = decoder.cells.type.__struct_fields__
            self.values[decoder.version] = (compiled_contracts.getter(operator.attrgetter, [n for n in typed if n in own]),
                                            compiled_contracts.getter(operator.attrgetter, [header[at] for at in numbers if header[at] in own]))

    def take(self, text: str, cells: list[str]) -> Any | None:
        """The row's canonical record, or None where it must be converted cell by cell."""
        if "" in cells or "\\" in text:
            return None
        if self.number_cells is not None and max(map(len, self.number_cells(cells))) > contracts.EXACT_DIGITS:
            return None
        document = (self.template % tuple(cells)).encode()
        for decoder in self.decoders:
            record = decoder.take_row(document)
            if record is not None:
                if decoder is not self.decoders[0]:  # most files hold one version: try it first from now on
                    self.decoders = (decoder, *(d for d in self.decoders if d is not decoder))
                break
        else:
            return None
        typed, numbers = self.values[decoder.version]
        if typed is not None and None in typed(record):
            return None
        if numbers is not None and 0.0 in numbers(record) and "-" in "".join(self.number_cells(cells)):
            return None  # perhaps a -0, which msgspec reads as 0.0
        return record


def _whose(record: Any) -> dict[str, Any]:
    """A refused record's customer and time, where they can be read: what marks the customer-months it leaves
    incomplete (``inputs_complete`` in the marts). Never anything that is not a plain value."""
    if not isinstance(record, dict):
        return {}
    ref = record.get("customer_ref")
    try:
        when = contracts.parse_timestamp(record.get("occurred_at"))
    except (ValueError, TypeError):
        when = None
    if isinstance(ref, str) and ref and ref.isprintable() and len(ref) <= 128:
        return {"customer_ref": ref, "occurred_at": when}
    return {}


def _text(span: list[Physical]) -> str:
    return "".join(line.text + (line.end.decode() if line is not span[-1] else "") for line in span)


def _refused(number: int, span: list[Physical], rejection: Rejection) -> Line:
    raw = b"".join(line.raw + (line.end if line is not span[-1] else b"") for line in span)
    clean = all(line.problem is None for line in span)
    return Line(number, _text(span), rejection=rejection, lines_spanned=len(span),
                raw_base64=None if clean else base64.b64encode(raw).decode("ascii"))


class _CsvRows:
    """CSV records over physical lines: each with the lines it spans, its cells, or the parser's error.
    ``resume_at`` restarts the reader just after a given line (to resynchronise after a stray quote).
    ``delimiter`` and ``quotechar`` (None: no quoting) serve the feeds' delimited formats."""

    def __init__(self, physical: list[Physical], delimiter: str = ",", quotechar: str | None = '"'):
        self.physical, self.position = physical, 0
        self.dialect = {"delimiter": delimiter, "quotechar": quotechar} if quotechar else {"delimiter": delimiter, "quoting": csv.QUOTE_NONE}

    def _reader_(self):
        return csv.reader(self._feed(), **self.dialect)

    def resume_at(self, number: int) -> None:
        self.position = number  # line ``number`` is index number - 1; resume at the one after it
        self._reader = self._reader_()

    def _feed(self) -> Iterator[str]:
        while self.position < len(self.physical):
            self.position += 1
            yield self.physical[self.position - 1].text + "\n"

    def __iter__(self) -> Iterator[tuple[list[Physical], list[str], str | None]]:
        self._reader = self._reader_()
        while self.position < len(self.physical):
            start = self.position
            try:
                cells, error = next(self._reader), None
            except StopIteration:
                return
            except csv.Error as problem:
                cells, error = [], str(problem)
                self._reader = self._reader_()
            if self.position > start:
                yield self.physical[start:self.position], cells, error


def _truncation(parsed: ParsedFile, physical_count: int, short_last_row: bool) -> str | None:
    """Why this file, which does not end with a newline, looks cut off mid-write, or None.

    The rule: the file does not end with a newline *and* its last line is incomplete -- not valid
    JSON (JSON lines) or fewer cells than the header (CSV). Either alone is
    common and harmless (a last line without newline from a spreadsheet export; one bad line in a good
    file), so either alone quarantines only that line.
    """
    if not parsed.lines:
        return None
    last = parsed.lines[-1]
    if last.line_number is None or last.line_number + last.lines_spanned - 1 != physical_count or last.rejection is None:
        return None
    if last.rejection.reason == contracts.MALFORMED_JSON:
        return f"no newline after line {last.line_number}, which is not valid JSON"
    if short_last_row:
        return f"no newline after line {last.line_number}, which has fewer cells than the header"
    return None


def _cell_text(value: Any) -> str | None:
    """A JSON value as the text a mapping's column reads (None stays absent)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def decode_base64(text: str) -> bytes:
    """The raw bytes of a quarantined line kept as base64 (``raw_base64``)."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise ValueError(f"not base64: {error}") from None


def cell_kinds(properties: dict[str, dict[str, Any]]) -> dict[str, tuple[bool, str]]:
    """Per contract property: whether it may be null, and its JSON type (``coerce_csv_row`` looks them up per cell)."""
    return {name: (contracts.allows_null(spec), contracts.base_type(spec)) for name, spec in properties.items()}


_UNDECLARED = (False, "string")  # a column the contract does not name: text, and an empty cell is absent


def coerce_csv_row(row: dict[str, str | None], kinds: dict[str, tuple[bool, str]]) -> dict[str, Any]:
    """Give CSV cells the JSON types their contract declares (``cell_kinds``); leave what does not convert for the
    contract to refuse."""
    record: dict[str, Any] = {}
    for name, cell in row.items():
        nullable, kind = kinds.get(name, _UNDECLARED)
        if cell is None or cell == "":
            if nullable:
                record[name] = None
            continue  # an empty cell is an absent value: the contract decides if it was required
        record[name] = cell if kind == "string" else _convert(cell, kind)
    return record


def _convert(cell: str, kind: str) -> Any:
    if kind == "integer" and _INT.fullmatch(cell.strip()):
        return int(cell.strip())  # str.strip() drops more than int() tolerates (e.g. "\x1f", found by fuzzing)
    if kind == "number":
        try:
            return contracts.read_number(cell)  # "NaN", "inf" and "1e400" convert too: the canonical form refuses them (out_of_range)
        except ValueError:
            return cell
    if kind == "boolean" and cell.strip().lower() in ("true", "false"):
        return cell.strip().lower() == "true"
    return cell

"""Land one source's new files into its bronze table, exactly once, quarantining what breaks the contract.

Pure part: ``bronze_row`` / ``quarantine_row`` turn a parsed line plus its lineage into a table row.
I/O shell: ``land_source`` finds new files, consults the ledger, writes bronze, quarantine and
ledger, and returns a ``LandingReport``. A batch streams through memory one file and one staged
Parquet part at a time (``lake.StagedRows``), so a bank's first day of millions of records lands as
one commit without holding them all.

Exactly once, without relying on Delta transaction ids (the embedded engine ignores
``txnAppId``; see docs/adr/0001-engine.md):

1. every new file is hashed; a (path, checksum) already in the ledger is skipped, and the same
   checksum under another path is recorded as ``duplicate_file`` (a file whose path, size and
   modification time match its ledger entry is known without hashing it again);
2. ``pending`` ledger rows name the batch id and ingest time before any data is written;
3. bronze and quarantine rows are each appended in one atomic Delta commit tagged with the batch id;
4. ``committed`` ledger rows close the batch.

A run that dies anywhere in 2-4 leaves ``pending`` rows; the next run re-parses those files and
writes, under the same batch id, only the tables that do not yet hold that batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import contracts, lake, ledger, lineage, locks
from interaction_lake.config import Settings
from interaction_lake.contracts import parse_timestamp
from interaction_lake.faults import crash_point
from interaction_lake.landing_files import FileLines, Line, checksum, discover

JOB = "bronze.land"
LINEAGE_FIELDS = [
    T.StructField("_source_file", T.StringType(), False),
    T.StructField("_file_checksum", T.StringType(), False),
    T.StructField("_line_number", T.LongType(), True),
    T.StructField("_batch_id", T.StringType(), False),
    T.StructField("_run_id", T.StringType(), False),
    T.StructField("_ingested_at", T.TimestampType(), False),
    T.StructField("_ingest_date", T.DateType(), False),
]
QUARANTINE_SCHEMA = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("reason", T.StringType(), False),
    T.StructField("detail", T.StringType(), False),
    T.StructField("raw_line", T.StringType(), True),
    *LINEAGE_FIELDS,
])
PARTITION = ("_ingest_date",)


def bronze_schema(source: str) -> T.StructType:
    """Envelope columns typed by the contract, the raw line verbatim, the checked record as JSON, then lineage.

    ``record_json`` is what silver parses: for JSON sources it is the line re-serialised, for CSV
    sources the row with the contract's types (a CSV line is not JSON).
    """
    envelope = contracts.latest(source).spark_schema()
    return T.StructType([envelope[name] for name in contracts.ENVELOPE_FIELDS] + [
        T.StructField("raw_line", T.StringType(), False),
        T.StructField("record_json", T.StringType(), False),
        *LINEAGE_FIELDS,
    ])


@dataclass(frozen=True)
class Lineage:
    source_file: str
    file_checksum: str
    batch_id: str
    run_id: str
    ingested_at: dt.datetime

    def values(self, line_number: int | None) -> tuple:
        return (self.source_file, self.file_checksum, line_number, self.batch_id, self.run_id, self.ingested_at, self.ingested_at.date())


def bronze_row(line: Line, lineage: Lineage) -> tuple:
    r = line.record
    return (r["event_id"], r["event_type"], r["schema_version"], parse_timestamp(r["occurred_at"]),
            r["source_system"], r["customer_ref"], line.raw_line, json.dumps(r, ensure_ascii=False, separators=(",", ":")),
            *lineage.values(line.line_number))


def quarantine_row(source: str, line: Line, lineage: Lineage) -> tuple:
    return (source, line.rejection.reason, line.rejection.detail, line.raw_line, *lineage.values(line.line_number))


@dataclass
class LandingReport:
    source: str
    batch_id: str | None = None
    files_new: int = 0
    files_already_landed: int = 0
    files_duplicate: int = 0
    files_empty: int = 0
    files_recovered: int = 0
    records_landed: int = 0
    records_quarantined: int = 0
    duplicate_events_in_batch: int = 0
    blank_lines: int = 0
    quarantine_reasons: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {**{k: v for k, v in self.__dict__.items() if k != "quarantine_reasons"}, "quarantine_reasons": dict(self.quarantine_reasons)}


@dataclass(frozen=True)
class _File:
    """A landing file by fingerprint; its bytes are read when its batch is written, one file at a time."""
    path: Path
    checksum: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class _Fingerprint:
    checksum: str
    size: int
    mtime_ns: int
    blank_only: bool  # nothing but white space (or nothing at all)
    newlines: int


def _fingerprint(path: Path) -> _Fingerprint:
    """SHA-256, size and shape of a file, read in chunks (a landing file can be larger than memory allows twice)."""
    stat = path.stat()
    digest, blank_only, newlines, size = hashlib.sha256(), True, 0, 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            blank_only = blank_only and not chunk.strip()
    return _Fingerprint(digest.hexdigest(), size, stat.st_mtime_ns, blank_only, newlines)


def land_source(spark: SparkSession, settings: Settings, source: str, run_id: str,
                 ingested_at: dt.datetime | None = None) -> LandingReport:
    """Land the source's new landing files into bronze, exactly once (an OpenLineage job run ``bronze.land.<source>``).

    ``ingested_at`` stamps the new batch (default: now). A replay of past deliveries -- the benchmark's
    thirty days in half an hour -- passes each day's delivery time, so the ingest-date partitions and the
    arrival lag are what production would have.
    """
    contracts.contracts(source)  # fail fast, before touching anything, on an unknown source
    root = settings.lake_root
    with locks.exclusive(root, f"land_{source}"), lineage.job_run(
            root, f"bronze.land.{source}", inputs=[settings.landing_root / source],
            outputs=[lake.bronze_table(root, source), lake.landing_quarantine_table(root), lake.landing_ledger_table(root)]):
        return _land_source(spark, settings, source, run_id, ingested_at)


def _land_source(spark: SparkSession, settings: Settings, source: str, run_id: str, ingested_at: dt.datetime | None) -> LandingReport:
    report = LandingReport(source)
    known = ledger.latest_entries(spark, settings.lake_root, source)
    for batch_id, entries in _pending_batches(known).items():
        files = [_reread(Path(e.file_path), e.file_checksum) for e in entries]
        _write_batch(spark, settings, source, files, batch_id, entries[0].ingested_at, run_id, report)
        report.files_recovered += len(files)

    landed_checksums = {e.file_checksum for e in known.values() if e.status in (ledger.COMMITTED, ledger.PENDING)}
    # A file seen before, with the same size and modification time, is not read and hashed again: without
    # this, every run would re-hash the whole landing history (the pipeline never moves landing files).
    seen = {(e.file_path, e.file_size, e.file_mtime_ns): e.file_checksum for e in known.values() if e.file_mtime_ns is not None}
    now = (ingested_at or _now()).replace(microsecond=0)
    new_files, side_entries = [], []
    for path in discover(settings.landing_root / source):
        stat = path.stat()
        if (str(path), stat.st_size, stat.st_mtime_ns) in seen:
            report.files_already_landed += 1
            continue
        found = _fingerprint(path)
        if (str(path), found.checksum) in known:
            report.files_already_landed += 1
            continue
        status = None
        if found.checksum in landed_checksums:
            status = ledger.DUPLICATE_FILE
            report.files_duplicate += 1
        elif found.blank_only:
            status = ledger.EMPTY
            report.files_empty += 1
        if status:
            side_entries.append(ledger.Entry(source, str(path), found.checksum, found.size, status, None, 0, 0, found.newlines, now, run_id,
                                             now, found.mtime_ns))
            continue
        landed_checksums.add(found.checksum)
        new_files.append(_File(path, found.checksum, found.size, found.mtime_ns))

    if new_files:
        batch_id = _batch_id(source, [f.checksum for f in new_files])
        report.batch_id = batch_id
        report.files_new = len(new_files)
        _write_batch(spark, settings, source, new_files, batch_id, now, run_id, report)
    ledger.record(spark, settings.lake_root, side_entries, lake.commit_metadata(JOB, run_id, source=source, step="ledger"))
    return report


def _pending_batches(known: dict[tuple[str, str], ledger.Entry]) -> dict[str, list[ledger.Entry]]:
    batches: dict[str, list[ledger.Entry]] = {}
    for entry in known.values():
        if entry.status == ledger.PENDING:
            batches.setdefault(entry.batch_id, []).append(entry)
    return batches


def _reread(path: Path, expected: str) -> _File:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is in an unfinished landing batch but is gone from the landing zone; restore it to finish the batch")
    found = _fingerprint(path)
    if found.checksum != expected:
        raise RuntimeError(f"{path} changed since its landing batch started (checksum differs); restore the original bytes")
    return _File(path, expected, found.size, found.mtime_ns)


def _read_unchanged(f: _File) -> bytes:
    data = f.path.read_bytes()
    if checksum(data) != f.checksum:
        raise RuntimeError(f"{f.path} changed while it was being landed (checksum differs from when it was found); "
                           "nothing of this batch was written: run again once the sender has finished writing it")
    return data


def _batch_id(source: str, checksums: list[str]) -> str:
    return f"{source}-" + hashlib.sha256("\n".join([source, *sorted(checksums)]).encode()).hexdigest()[:16]


def _write_batch(spark: SparkSession, settings: Settings, source: str, files: list[_File], batch_id: str,
                 ingested_at: dt.datetime, run_id: str, report: LandingReport) -> None:
    """Parse the batch's files one at a time into staged rows, then: pending ledger rows, one bronze commit,
    one quarantine commit, committed ledger rows. Memory holds one file and one staged part, not the batch."""
    root = settings.lake_root
    bronze, quarantine = lake.bronze_table(root, source), lake.landing_quarantine_table(root)
    entries = []
    with lake.StagedRows(spark, bronze_schema(source), root) as good, lake.StagedRows(spark, QUARANTINE_SCHEMA, root) as bad:
        for f in files:
            lineage = Lineage(str(f.path), f.checksum, batch_id, run_id, ingested_at)
            lines = FileLines(source, f.path.name, _read_unchanged(f))
            landed = refused = 0
            for line in lines:
                if line.rejection is None:
                    good.add(bronze_row(line, lineage))
                    landed += 1
                else:
                    bad.add(quarantine_row(source, line, lineage))
                    report.quarantine_reasons[line.rejection.reason] += 1
                    refused += 1
            report.blank_lines += lines.blank_lines
            entries.append(ledger.Entry(source, str(f.path), f.checksum, f.size, ledger.PENDING, batch_id, landed, refused,
                                        lines.blank_lines, ingested_at, run_id, _now(), f.mtime_ns))
        report.records_landed += good.count
        report.records_quarantined += bad.count
        meta = lake.commit_metadata(JOB, run_id, source=source, batch_id=batch_id)

        ledger.record(spark, root, entries, {**meta, "step": "pending"})
        crash_point("after_pending")
        if good.count:
            rows = good.frame()
            report.duplicate_events_in_batch += duplicate_event_ids(rows)
            if not _holds_batch(spark, bronze, batch_id, ingested_at):
                lake.append(rows, bronze, {**meta, "step": "bronze"}, PARTITION)
        crash_point("after_bronze")
        if bad.count and not _holds_batch(spark, quarantine, batch_id, ingested_at):
            lake.append(bad.frame(), quarantine, {**meta, "step": "quarantine"}, PARTITION)
        crash_point("after_quarantine")
    committed = [ledger.Entry(**{**e.__dict__, "status": ledger.COMMITTED, "run_id": run_id, "recorded_at": _now()}) for e in entries]
    ledger.record(spark, root, committed, {**meta, "step": "committed"})


def duplicate_event_ids(rows: DataFrame) -> int:
    """How many records repeat an event id already in the batch (counted by the engine: a batch can be millions)."""
    total, distinct = rows.agg(F.count(F.lit(1)), F.count_distinct("event_id")).first()
    return total - distinct


def _holds_batch(spark: SparkSession, table: Path, batch_id: str, ingested_at: dt.datetime) -> bool:
    df = lake.read(spark, table)
    if df is None:
        return False
    # The ingest-date predicate prunes to one partition, so this check does not grow with history.
    return df.where((F.col("_ingest_date") == F.lit(ingested_at.date())) & (F.col("_batch_id") == batch_id)).limit(1).count() > 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

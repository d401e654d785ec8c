"""Land one source's new files into its bronze table, exactly once, quarantining what breaks the contract.

Pure part: ``bronze_rows`` / ``quarantine_rows`` turn a parsed file plus its lineage into table rows.
I/O shell: ``land_source`` finds new files, consults the ledger, writes bronze, quarantine and
ledger, and returns a ``LandingReport``.

Exactly once, without relying on Delta transaction ids (the embedded engine ignores
``txnAppId``; see docs/adr/0001-engine.md):

1. every new file is hashed; a (path, checksum) already in the ledger is skipped, and the same
   checksum under another path is recorded as ``duplicate_file``;
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
import os
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import contracts, lake, ledger, lineage, locks
from interaction_lake.config import Settings
from interaction_lake.contracts import parse_timestamp
from interaction_lake.landing_files import Line, ParsedFile, checksum, discover, parse_file

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


def bronze_rows(lines: list[Line], lineage: Lineage) -> list[tuple]:
    rows = []
    for line in lines:
        r = line.record
        rows.append((r["event_id"], r["event_type"], r["schema_version"], parse_timestamp(r["occurred_at"]),
                     r["source_system"], r["customer_ref"], line.raw_line, json.dumps(r, ensure_ascii=False, separators=(",", ":")),
                     *lineage.values(line.line_number)))
    return rows


def quarantine_rows(source: str, lines: list[Line], lineage: Lineage) -> list[tuple]:
    return [(source, line.rejection.reason, line.rejection.detail, line.raw_line, *lineage.values(line.line_number)) for line in lines]


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


@dataclass
class _File:
    path: Path
    data: bytes
    checksum: str
    parsed: ParsedFile | None = None


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
    now = (ingested_at or _now()).replace(microsecond=0)
    new_files, side_entries = [], []
    for path in discover(settings.landing_root / source):
        data = path.read_bytes()
        digest = checksum(data)
        if (str(path), digest) in known:
            report.files_already_landed += 1
            continue
        status = None
        if digest in landed_checksums:
            status = ledger.DUPLICATE_FILE
            report.files_duplicate += 1
        elif not data.strip():
            status = ledger.EMPTY
            report.files_empty += 1
        if status:
            side_entries.append(ledger.Entry(source, str(path), digest, len(data), status, None, 0, 0, data.count(b"\n"), now, run_id, now))
            continue
        landed_checksums.add(digest)
        new_files.append(_File(path, data, digest))

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
    data = path.read_bytes()
    if checksum(data) != expected:
        raise RuntimeError(f"{path} changed since its landing batch started (checksum differs); restore the original bytes")
    return _File(path, data, expected)


def _batch_id(source: str, checksums: list[str]) -> str:
    return f"{source}-" + hashlib.sha256("\n".join([source, *sorted(checksums)]).encode()).hexdigest()[:16]


def _write_batch(spark: SparkSession, settings: Settings, source: str, files: list[_File], batch_id: str,
                 ingested_at: dt.datetime, run_id: str, report: LandingReport) -> None:
    good, bad, entries = [], [], []
    seen_ids: Counter = Counter()
    for f in files:
        f.parsed = parse_file(source, f.path.name, f.data)
        lineage = Lineage(str(f.path), f.checksum, batch_id, run_id, ingested_at)
        good += bronze_rows(f.parsed.accepted, lineage)
        rejected = f.parsed.rejected
        bad += quarantine_rows(source, rejected, lineage)
        seen_ids.update(line.record["event_id"] for line in f.parsed.accepted)
        report.blank_lines += f.parsed.blank_lines
        report.quarantine_reasons.update(line.rejection.reason for line in rejected)
        entries.append(ledger.Entry(source, str(f.path), f.checksum, len(f.data), ledger.PENDING, batch_id, len(f.parsed.accepted),
                                    len(rejected), f.parsed.blank_lines, ingested_at, run_id, _now()))
    report.records_landed += len(good)
    report.records_quarantined += len(bad)
    report.duplicate_events_in_batch += sum(n - 1 for n in seen_ids.values())
    meta = lake.commit_metadata(JOB, run_id, source=source, batch_id=batch_id)

    ledger.record(spark, settings.lake_root, entries, {**meta, "step": "pending"})
    _crash_point("after_pending")
    bronze = lake.bronze_table(settings.lake_root, source)
    if good and not _holds_batch(spark, bronze, batch_id, ingested_at):
        with lake.staged_rows(spark, good, bronze_schema(source), settings.lake_root) as df:
            lake.append(df, bronze, {**meta, "step": "bronze"}, PARTITION)
    _crash_point("after_bronze")
    quarantine = lake.landing_quarantine_table(settings.lake_root)
    if bad and not _holds_batch(spark, quarantine, batch_id, ingested_at):
        with lake.staged_rows(spark, bad, QUARANTINE_SCHEMA, settings.lake_root) as df:
            lake.append(df, quarantine, {**meta, "step": "quarantine"}, PARTITION)
    _crash_point("after_quarantine")
    committed = [ledger.Entry(**{**e.__dict__, "status": ledger.COMMITTED, "run_id": run_id, "recorded_at": _now()}) for e in entries]
    ledger.record(spark, settings.lake_root, committed, {**meta, "step": "committed"})


def _holds_batch(spark: SparkSession, table: Path, batch_id: str, ingested_at: dt.datetime) -> bool:
    df = lake.read(spark, table)
    if df is None:
        return False
    # The ingest-date predicate prunes to one partition, so this check does not grow with history.
    return df.where((F.col("_ingest_date") == F.lit(ingested_at.date())) & (F.col("_batch_id") == batch_id)).limit(1).count() > 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _crash_point(name: str) -> None:
    """Fault injection for the crash-and-rerun tests: INTERACTION_LAKE_CRASH_AT=<name> kills the process here."""
    if os.environ.get("INTERACTION_LAKE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)

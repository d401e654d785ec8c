"""Land one source's new files into its bronze table, exactly once, quarantining what breaks the contract.

Pure part: ``bronze_row`` / ``quarantine_row`` turn a parsed line plus its lineage into a table row.
I/O shell: ``land_source`` finds new files, consults the ledger, writes bronze, quarantine and
ledger, and returns a ``LandingReport``. A batch streams through memory one file and one staged
Parquet part at a time (``lake.StagedRows``), so a bank's first day of millions of records lands as
one commit without holding them all.

Exactly once on every engine, without relying on Delta transaction ids (the embedded engine ignores
``txnAppId``; see ``capabilities.idempotent_writes``):

1. every new file is hashed; a (path, checksum) already in the ledger is skipped, and the same
   checksum under another path is recorded as ``duplicate_file`` (a file whose path, size and
   modification time match its ledger entry is known without hashing it again);
2. ``pending`` ledger rows name the batch id and ingest time before any data is written;
3. bronze and quarantine rows are each appended in one atomic Delta commit tagged with the batch id
   (on Apache Spark also its ``txnAppId``, so Delta itself refuses a second copy: ``append_batch``);
4. ``committed`` ledger rows close the batch.

A run that dies anywhere in 2-4 leaves ``pending`` rows; the next run re-parses those files and
writes, under the same batch id, only the tables that do not yet hold that batch. If a file of such a
batch has vanished or changed meanwhile, the batch cannot be finished as it was: it is reported as stuck
(``LandingReport.stuck_batches``), the source's other new files land beside it, and
``abandon_files`` (``interaction-lake land --abandon-batch``) finishes it without those files, recording
each one as ``abandoned`` with the operator's reason.

Nothing a landing file holds can stop a run: every record is checked and converted while it is parsed
(``interaction_lake.landing_files``), so a value that would fail later is quarantined there; a file or
folder that cannot be read is recorded in the ledger as ``unreadable``, anything else that is not a
landing file as ``ignored``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import concurrently, contracts, feeds, lake, ledger, lineage, locks, sources
from interaction_lake.config import Settings
from interaction_lake.faults import crash_point
from interaction_lake.feeds.mapping import EXCLUDED
from interaction_lake.landing_files import FileLines, Found, Line, Taken, TimeWindow, checksum, in_progress, survey

JOB = "bronze.land"
log = logging.getLogger(__name__)
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
    # the line's exact bytes where they are not clean text (bad UTF-8, NUL); null otherwise (added later:
    # older rows hold null)
    T.StructField("raw_base64", T.StringType(), True),
    # the refused record's customer and event time where they can be read (added later still): silver keys them
    # (silver/quarantined_inputs) so a customer-month with refused inputs says so (inputs_complete = false)
    T.StructField("customer_ref", T.StringType(), True),
    T.StructField("occurred_at", T.TimestampType(), True),
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
    r = line.record  # canonical: checked and converted while parsed, so building the row cannot fail
    return (r["event_id"], r["event_type"], r["schema_version"], line.occurred_at, r["source_system"], r.get("customer_ref"),
            line.raw_line, line.record_json, *lineage.values(line.line_number))


def bronze_columns(taken: Taken, lineage: Lineage) -> list:
    """``bronze_row`` for the compiled path's records, column by column (``bronze_schema``'s order; ``lake.Same`` for a
    lineage value every row shares)."""
    *envelope, raw_line, record_json, line_number = taken.columns
    source_file, file_checksum, _, batch_id, run_id, ingested_at, ingest_date = (lake.Same(v) for v in lineage.values(None))
    return [*envelope, raw_line, record_json, source_file, file_checksum, line_number, batch_id, run_id, ingested_at, ingest_date]


def quarantine_row(source: str, line: Line, lineage: Lineage) -> tuple:
    return (source, line.rejection.reason, line.rejection.detail, line.raw_line, *lineage.values(line.line_number), line.raw_base64,
            line.customer_ref, line.occurred_at)


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
    records_excluded: int = 0  # native records a feed mapping excludes on purpose (kept in quarantine as ``excluded``)
    duplicate_events_in_batch: int = 0
    blank_lines: int = 0
    header_lines: int = 0
    files_ignored: int = 0  # newly recorded as ignored (not a landing file, a link)
    files_unreadable: int = 0  # newly recorded as unreadable (permissions)
    files_skipped_changing: int = 0  # changed while being read: landed by the next run
    quarantine_reasons: Counter = field(default_factory=Counter)
    stuck_batches: dict[str, list[str]] = field(default_factory=dict)  # batch id -> why it cannot be finished

    def as_dict(self) -> dict:
        return {**{k: v for k, v in self.__dict__.items() if k != "quarantine_reasons"}, "quarantine_reasons": dict(self.quarantine_reasons)}

    def warnings(self) -> list[str]:
        """What an operator must act on, one line each."""
        return [f"{self.source}: batch {batch} cannot be finished: {'; '.join(why)}; restore the files, or run "
                f"'interaction-lake land --source {self.source} --abandon-batch {batch} --reason ...'" for batch, why in self.stuck_batches.items()]


@dataclass(frozen=True)
class _Stat:
    """What says a file changed without reading it: size, mtime, and the inode's change time and number,
    which no copy tool can set (``cp -p``, ``rsync -t`` and ``touch -r`` carry size and mtime over)."""
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> "_Stat":
        found = os.lstat(path)
        return cls(found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino)

    def signature(self, path: Path) -> tuple:
        return (str(path), self.size, self.mtime_ns, self.ctime_ns, self.inode)


@dataclass(frozen=True)
class _File:
    """A landing file by fingerprint; its bytes are read when its batch is written, one file at a time."""
    path: Path
    checksum: str
    stat: _Stat


@dataclass(frozen=True)
class _Fingerprint:
    checksum: str
    stat: _Stat
    blank_only: bool  # nothing but white space (or nothing at all)
    newlines: int


def _open(path: Path):
    """Open a landing file for reading, never through a symbolic link (one could point at any file, the lake's key included)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def _fingerprint(path: Path) -> _Fingerprint:
    """SHA-256, size and shape of a file, read in chunks (a landing file can be larger than memory allows twice)."""
    stat = _Stat.of(path)
    digest, blank_only, newlines = hashlib.sha256(), True, 0
    with _open(path) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            blank_only = blank_only and not chunk.strip()
    return _Fingerprint(digest.hexdigest(), stat, blank_only, newlines)


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
            root, f"bronze.land.{source}", inputs=sources.landing_folders(settings.landing_root, source),
            outputs=[lake.bronze_table(root, source), lake.landing_quarantine_table(root), lake.landing_ledger_table(root)]):
        return _land_source(spark, settings, source, run_id, ingested_at)


def land_sources(settings: Settings, names: list[str], run_id: str, jobs: int = 1, spark: SparkSession | None = None,
                 ingested_at: dt.datetime | None = None) -> list[LandingReport]:
    """``land_source`` for each source, here in ``spark`` (else this process's session); the reports in the order named.

    With ``jobs`` 1 (the default) the sources land ``INTERACTION_LAKE_PARALLELISM`` at a time in this process, each on an
    engine session of its own (``interaction_lake.concurrently``): landing a day's files is mostly waiting on commits
    (four a source), which two sources overlap. With ``jobs`` > 1 up to that many sources land at once in processes:
    this process lands sources as ever, and up to ``jobs`` - 1 helper processes land others, each with its own engine
    session, as the DAG's per-source tasks do. Landing is Python-bound (one core a process), so on N cores a large
    delivery lands up to N times faster. Nothing else differs: each source takes its own lock and writes its own batch;
    the shared tables (ledger, quarantine) take concurrent commits as they do from Airflow's tasks. The sources with the
    most landing bytes go first, the largest to a helper (which needs a second or two to start: too long for a day's
    files, which is why one job is the default), and a source goes to a helper only when one is free: otherwise this
    process takes it."""
    from interaction_lake.engine import get_spark

    spark = spark or get_spark(settings)
    if jobs <= 1:  # (``names`` may be an iterator showing progress: see ``concurrently.each``)
        return concurrently.each(spark, settings, lambda session, source: land_source(session, settings, source, run_id, ingested_at), names)
    helpers = min(jobs, len(names)) - 1
    if helpers < 1:
        return [land_source(spark, settings, source, run_id, ingested_at) for source in names]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    waiting = sorted(names, key=lambda source: -_landing_bytes(settings, source))
    reports: dict[str, LandingReport] = {}
    # spawn, not fork: this process runs an engine's threads, which a forked child would inherit mid-lock
    with ProcessPoolExecutor(helpers, mp_context=multiprocessing.get_context("spawn")) as pool:
        elsewhere = {}
        while waiting:
            source = waiting.pop(0)
            if sum(not running.done() for running in elsewhere) < helpers:
                elsewhere[pool.submit(_land_in_this_process, settings, source, run_id, ingested_at)] = source
            else:
                reports[source] = land_source(spark, settings, source, run_id, ingested_at)
        reports.update({source: running.result() for running, source in elsewhere.items()})
    return [reports[source] for source in names]


def _land_in_this_process(settings: Settings, source: str, run_id: str, ingested_at: dt.datetime | None) -> LandingReport:
    """A ``land_sources`` worker's job: this process's engine session (started on first use) lands one source."""
    from interaction_lake.engine import get_spark

    return land_source(get_spark(settings), settings, source, run_id, ingested_at)


def _landing_bytes(settings: Settings, source: str) -> int:
    """The bytes of the source's landing files (landed or not: a cheap measure of its size, no ledger read)."""
    return sum(stat.size for path in _survey(settings, source).files if (stat := _stat_or_none(path)))


def _land_source(spark: SparkSession, settings: Settings, source: str, run_id: str, ingested_at: dt.datetime | None) -> LandingReport:
    report = LandingReport(source)
    known = ledger.latest_entries(spark, settings.lake_root, source)
    for batch_id, entries in _pending_batches(known).items():
        files, problems = _reread_all(entries)
        if problems:
            report.stuck_batches[batch_id] = problems  # its good neighbours land below; an operator decides (abandon_files)
            continue
        _write_batch(spark, settings, source, files, batch_id, entries[0].ingested_at, run_id, report, recovering=True)
        report.files_recovered += len(files)

    landed_checksums = {e.file_checksum for e in known.values() if e.status in (ledger.COMMITTED, ledger.PENDING)}
    # A file seen before, unchanged by every signal the filesystem gives without reading it, is not read and
    # hashed again: without this, every run would re-hash the whole landing history (landing files stay).
    seen = {e.signature for e in known.values() if e.signature and e.status in _SETTLED}
    noted = {e.file_path: e.signature for e in known.values() if e.status in (ledger.IGNORED, ledger.UNREADABLE)}
    now = (ingested_at or _now()).replace(microsecond=0)
    new_files, side_entries = [], []

    def side(path: Path, status: str, stat: _Stat | None, digest: str = ledger.NOT_READ, newlines: int = 0, detail: str | None = None):
        stat = stat or _Stat(0, 0, 0, 0)  # a path that cannot even be stat-ed
        side_entries.append(ledger.Entry(source, str(path), digest, stat.size, status, None, 0, 0, newlines, now, run_id, now,
                                         stat.mtime_ns, stat.ctime_ns, stat.inode, detail))

    found = _survey(settings, source)
    for status, listed in ((ledger.IGNORED, found.ignored), (ledger.UNREADABLE, found.unreadable)):
        for path, why in listed:
            stat = _stat_or_none(path) or _Stat(0, 0, 0, 0)  # as side() records a path it cannot stat
            if str(path) in noted and noted[str(path)] == stat.signature(path):
                continue  # recorded already, and unchanged since
            side(path, status, stat, detail=why)
            report.files_ignored += status == ledger.IGNORED
            report.files_unreadable += status == ledger.UNREADABLE
    for path in found.files:
        try:
            stat = _Stat.of(path)
            if stat.signature(path) in seen:
                report.files_already_landed += 1
                continue
            fingerprint = _fingerprint(path)
        except OSError as error:  # vanished, or unreadable since it was listed
            side(path, ledger.UNREADABLE, _stat_or_none(path), detail=error.strerror or str(error))
            report.files_unreadable += 1
            continue
        if (str(path), fingerprint.checksum) in known and known[(str(path), fingerprint.checksum)].status in _SETTLED:
            report.files_already_landed += 1
            continue
        status = None
        if fingerprint.checksum in landed_checksums:
            status = ledger.DUPLICATE_FILE
            report.files_duplicate += 1
        elif fingerprint.blank_only:
            status = ledger.EMPTY
            report.files_empty += 1
        if status:
            side(path, status, fingerprint.stat, fingerprint.checksum, fingerprint.newlines)
            continue
        landed_checksums.add(fingerprint.checksum)
        new_files.append(_File(path, fingerprint.checksum, fingerprint.stat))

    if new_files:
        batch_id = _batch_id(source, [f.checksum for f in new_files])
        report.batch_id = batch_id
        _write_batch(spark, settings, source, new_files, batch_id, now, run_id, report)
    ledger.record(spark, settings.lake_root, side_entries, lake.commit_metadata(JOB, run_id, source=source, step="ledger"))
    for warning in report.warnings():
        log.warning(warning)
    return report


def _survey(settings: Settings, source: str) -> Found:
    """What the source's folders hold: its own folder lands contract files and what its feeds cover; a folder
    of feeds alone lands only what they cover."""
    mappings = feeds.for_source(source)
    found = [survey(folder, mappings, settings.landing_root, contract_files=index == 0)
             for index, folder in enumerate(sources.landing_folders(settings.landing_root, source))]
    return Found(sorted(p for f in found for p in f.files), sorted(p for f in found for p in f.ignored),
                 sorted(p for f in found for p in f.unreadable))


# Ledger states after which a file's (path, checksum) needs nothing more from landing.
_SETTLED = (ledger.COMMITTED, ledger.PENDING, ledger.DUPLICATE_FILE, ledger.EMPTY)


def _stat_or_none(path: Path) -> _Stat | None:
    try:
        return _Stat.of(path)
    except OSError:
        return None


def _pending_batches(known: dict[tuple[str, str], ledger.Entry]) -> dict[str, list[ledger.Entry]]:
    batches: dict[str, list[ledger.Entry]] = {}
    for entry in known.values():
        if entry.status == ledger.PENDING:
            batches.setdefault(entry.batch_id, []).append(entry)
    return batches


def _reread_all(entries: list[ledger.Entry]) -> tuple[list[_File], list[str]]:
    """The files of an unfinished batch as they were, and what is wrong with those that are not."""
    files, problems = [], []
    for entry in entries:
        path = Path(entry.file_path)
        try:
            found = _fingerprint(path)
        except OSError as error:
            problems.append(f"{path} is gone or unreadable ({error.strerror or error})")
            continue
        if found.checksum != entry.file_checksum:
            problems.append(f"{path} changed since the batch started (checksum differs)")
            continue
        files.append(_File(path, entry.file_checksum, found.stat))
    return files, problems


class _Changed(Exception):
    """A landing file changed (or went) between being found and being read."""


def _read_unchanged(f: _File) -> bytes:
    try:
        with _open(f.path) as handle:
            data = handle.read()
    except OSError as error:
        raise _Changed(f"{f.path} could not be read: {error.strerror or error}") from None
    if checksum(data) != f.checksum:
        raise _Changed(f"{f.path} changed while it was being landed (checksum differs from when it was found)")
    return data


def _batch_id(source: str, checksums: list[str]) -> str:
    return f"{source}-" + hashlib.sha256("\n".join([source, *sorted(checksums)]).encode()).hexdigest()[:16]


def window(settings: Settings, ingested_at: dt.datetime) -> TimeWindow:
    """The event times a batch ingested at ``ingested_at`` accepts (``Settings.landing``): fixed by the batch's own
    ingest time, so a recovered batch is judged exactly as its first attempt was."""
    policy = settings.landing
    return TimeWindow(policy.earliest_event, ingested_at + dt.timedelta(hours=policy.max_future_hours))


def _write_batch(spark: SparkSession, settings: Settings, source: str, files: list[_File], batch_id: str,
                 ingested_at: dt.datetime, run_id: str, report: LandingReport, recovering: bool = False) -> None:
    """Parse the batch's files one at a time into staged rows, then: pending ledger rows, one bronze commit,
    one quarantine commit, committed ledger rows. Memory holds one file and one staged part, not the batch.

    A new file that changes while it is read is left out (it is new again for the next run); in a batch being
    recovered the same makes the batch stuck, before anything is written."""
    root = settings.lake_root
    bronze, quarantine = lake.bronze_table(root, source), lake.landing_quarantine_table(root)
    accepts = window(settings, ingested_at)
    entries = []
    with lake.StagedRows(spark, bronze_schema(source), root) as good, lake.StagedRows(spark, QUARANTINE_SCHEMA, root) as bad:
        for f in files:
            try:
                data = _read_unchanged(f)
            except _Changed as error:
                if recovering:
                    report.stuck_batches[batch_id] = [str(error)]
                    return
                log.warning("%s; it lands with the next run", error)
                report.files_skipped_changing += 1
                continue
            lineage = Lineage(str(f.path), f.checksum, batch_id, run_id, ingested_at)
            mapping = feeds.covering(feeds.for_source(source), settings.landing_root, f.path)
            lines = FileLines(source, f.path.name, data, accepts, mapping, settings.business_timezone, columnar=True)
            landed = refused = excluded = 0
            for line in lines:
                if isinstance(line, Taken):  # the compiled path's records, column by column
                    good.add_columns(bronze_columns(line, lineage), len(line))
                    landed += len(line)
                elif line.rejection is None:
                    good.add(bronze_row(line, lineage))
                    landed += 1
                else:
                    bad.add(quarantine_row(source, line, lineage))
                    report.quarantine_reasons[line.rejection.reason] += 1
                    if line.rejection.reason == EXCLUDED:
                        excluded += 1  # on purpose: not a refusal, so the bronze gate does not count it as one
                    else:
                        refused += 1
            report.blank_lines += lines.blank_lines
            report.header_lines += lines.header_lines
            entries.append(ledger.Entry(source, str(f.path), f.checksum, f.stat.size, ledger.PENDING, batch_id, landed, refused,
                                        lines.blank_lines, ingested_at, run_id, _now(), f.stat.mtime_ns, f.stat.ctime_ns, f.stat.inode,
                                        records_excluded=excluded))
        if not entries:
            return
        report.files_new += 0 if recovering else len(entries)
        report.records_landed += good.count
        on_purpose = sum(e.records_excluded for e in entries)
        report.records_excluded += on_purpose
        report.records_quarantined += bad.count - on_purpose
        meta = lake.commit_metadata(JOB, run_id, source=source, batch_id=batch_id)

        ledger.record(spark, root, entries, {**meta, "step": "pending"})
        crash_point("after_pending")
        if good.count:
            rows = good.frame()
            report.duplicate_events_in_batch += duplicate_event_ids(rows)
            append_batch(rows, bronze, batch_id, ingested_at, {**meta, "step": "bronze"})
        crash_point("after_bronze")
        if bad.count:
            frame = bad.frame()
            lake.ensure_columns(spark, frame, quarantine, meta)
            append_batch(frame, quarantine, batch_id, ingested_at, {**meta, "step": "quarantine"})
        crash_point("after_quarantine")
    committed = [ledger.Entry(**{**e.__dict__, "status": ledger.COMMITTED, "run_id": run_id, "recorded_at": _now()}) for e in entries]
    ledger.record(spark, root, committed, {**meta, "step": "committed"})


UNASSIGNED = "unassigned"  # the ledger's source for landing-zone files that belong to no source or feed


def unassigned(settings: Settings, enabled: tuple[str, ...]) -> list[tuple[Path, str]]:
    """Files in the landing zone that no enabled source or feed mapping would ever land, with why: a file at the
    landing root, or anywhere under a folder that is neither a source's nor a feed's (a bank's own export
    dropped beside the sources, a source that is not enabled). Links are not followed."""
    owned = {folder for source in enabled for folder in sources.landing_folders(settings.landing_root, source)}
    root, found = settings.landing_root, []
    if not root.is_dir():
        return found
    known = ", ".join(sorted(str(f.relative_to(root)) for f in owned))

    def walk(folder: Path) -> None:
        for entry in sorted(folder.iterdir()):
            if entry in owned:
                continue
            if entry.is_dir() and not entry.is_symlink():
                if any(entry in f.parents for f in owned):
                    walk(entry)  # a feed's folder is below it
                else:
                    for sub, _, names in os.walk(entry, followlinks=False):
                        found.extend((Path(sub) / name, f"not under a folder that lands (landing folders: {known}); "
                                                        "add a feed mapping (docs/feeds.md) or enable its source")
                                     for name in sorted(names) if not in_progress(name))
            elif not in_progress(entry.name):
                found.append((entry, f"a file outside every landing folder ({known}): move it to its source's folder, "
                                     "or add a feed mapping (docs/feeds.md)"))

    walk(root)
    return found


def record_unassigned(spark: SparkSession, settings: Settings, enabled: tuple[str, ...], run_id: str) -> int:
    """Record each unassigned landing file (``unassigned``) in the ledger as ``ignored`` with its reason, once until it
    changes; returns how many were newly recorded. ``interaction-lake summary`` lists them."""
    with locks.exclusive(settings.lake_root, f"land_{UNASSIGNED}"):  # landing tasks run in parallel: record each once
        known = ledger.latest_entries(spark, settings.lake_root, UNASSIGNED)
        noted = {e.file_path: e.signature for e in known.values()}
        now, entries = _now().replace(microsecond=0), []
        for path, why in unassigned(settings, enabled):
            stat = _stat_or_none(path) or _Stat(0, 0, 0, 0)
            if noted.get(str(path)) == stat.signature(path):
                continue
            entries.append(ledger.Entry(UNASSIGNED, str(path), ledger.NOT_READ, stat.size, ledger.IGNORED, None, 0, 0, 0, now, run_id,
                                        now, stat.mtime_ns, stat.ctime_ns, stat.inode, why))
        ledger.record(spark, settings.lake_root, entries, lake.commit_metadata(JOB, run_id, source=UNASSIGNED, step="ledger"))
    return len(entries)


class AbandonError(ValueError):
    """The batch named is not an unfinished batch of that source (a user mistake)."""


@dataclass(frozen=True)
class Abandoned:
    batch_id: str
    abandoned: list[str]  # files recorded as abandoned
    finished: int  # files of the batch landed as they were


def abandon_files(spark: SparkSession, settings: Settings, source: str, batch_id: str, reason: str, run_id: str) -> Abandoned:
    """Finish an unfinished (stuck) batch without the files that vanished or changed since it started.

    Each such file gets an ``abandoned`` ledger row carrying ``reason`` and the run id (the audit record);
    the batch's other files are then landed under the same batch id and ingest time as the batch began with.
    Rows of an abandoned file that an interrupted run had already written stay in bronze (append-only) and
    the count is said in the record. A changed file's new bytes are a new landing file; a vanished file that
    comes back is landed again as new.
    """
    if not reason.strip():
        raise AbandonError("--reason is required: it is the audit record of why the files were abandoned")
    root = settings.lake_root
    with locks.exclusive(root, f"land_{source}"):
        known = ledger.latest_entries(spark, root, source)
        entries = _pending_batches(known).get(batch_id)
        if not entries:
            pending = sorted(_pending_batches(known))
            raise AbandonError(f"{batch_id!r} is not an unfinished batch of {source} "
                               f"({'unfinished: ' + ', '.join(pending) if pending else 'it has none'})")
        files, problems = _reread_all(entries)
        kept = {str(f.path) for f in files}
        gone = [e for e in entries if e.file_path not in kept]
        already = _rows_by_file(spark, lake.bronze_table(root, source), batch_id, entries[0].ingested_at)
        now, meta = _now(), lake.commit_metadata(JOB, run_id, source=source, batch_id=batch_id, step="abandon")
        ledger.record(spark, root, [ledger.Entry(**{**e.__dict__, "status": ledger.ABANDONED, "run_id": run_id, "recorded_at": now,
                                                    "detail": f"abandoned by the operator: {reason.strip()}; "
                                                              f"{already.get(e.file_path, 0)} of its records were already in bronze"})
                                    for e in gone], meta)
        report = LandingReport(source, batch_id)
        if files:
            _write_batch(spark, settings, source, files, batch_id, entries[0].ingested_at, run_id, report, recovering=True)
        if report.stuck_batches:
            raise AbandonError(f"batch {batch_id} is still not finished: {'; '.join(report.stuck_batches[batch_id])}")
        return Abandoned(batch_id, [e.file_path for e in gone], len(files))


def _rows_by_file(spark: SparkSession, table: Path, batch_id: str, ingested_at: dt.datetime) -> dict[str, int]:
    df = lake.read(spark, table)
    if df is None:
        return {}
    rows = df.where((F.col("_ingest_date") == F.lit(ingested_at.date())) & (F.col("_batch_id") == batch_id)).groupBy("_source_file").count()
    return {r["_source_file"]: r["count"] for r in rows.collect()}


def duplicate_event_ids(rows: DataFrame) -> int:
    """How many records repeat an event id already in the batch (counted by the engine: a batch can be millions)."""
    total, distinct = rows.agg(F.count(F.lit(1)), F.count_distinct("event_id")).first()
    return total - distinct


def append_batch(rows: DataFrame, table: Path, batch_id: str, ingested_at: dt.datetime, metadata: dict[str, str]) -> None:
    """Append a batch's rows to ``table`` unless it holds them already (a run finishing a batch a killed run began).

    The table is looked at on every engine; where the engine honours Delta's idempotent writes, the commit also carries
    the batch id as its ``txnAppId`` (``capabilities.idempotent_writes``), so a second copy is refused by the commit
    itself and the log names the batch. Either alone is not enough: Sail ignores transaction ids, and a batch that Sail
    began and Apache Spark finishes carries none."""
    if not _holds_batch(rows.sparkSession, table, batch_id, ingested_at):
        lake.append(rows, table, metadata, PARTITION, transaction=(batch_id, 0))


def _holds_batch(spark: SparkSession, table: Path, batch_id: str, ingested_at: dt.datetime) -> bool:
    df = lake.read(spark, table)
    if df is None:
        return False
    # The ingest-date predicate prunes to one partition, so this check does not grow with history.
    return df.where((F.col("_ingest_date") == F.lit(ingested_at.date())) & (F.col("_batch_id") == batch_id)).limit(1).count() > 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

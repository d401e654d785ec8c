"""The landing ledger: an append-only Delta table recording each landing file's fate.

A file's state is its latest ledger row for (source, path, checksum):

* ``pending``   -- a batch was started with it; its bronze/quarantine rows may or may not be written.
* ``committed`` -- its records are in bronze and quarantine; re-landing it is a no-op.
* ``duplicate_file`` -- same bytes (checksum) as a file already landed under another name; skipped.
* ``empty``     -- no records; nothing to land.
* ``ignored``   -- present but not landed, with the reason in ``detail``: a file type no contract or mapping
  covers, a symbolic link (never followed). Recorded again only when the file changes.
* ``unreadable`` -- a file or folder the pipeline may not read (permissions); ``detail`` says why. It lands
  as soon as it can be read.
* ``abandoned`` -- taken out of an unfinished batch by ``interaction-lake land --abandon-batch`` (the file
  vanished or changed before the batch could be finished); ``detail`` holds the operator's reason. A file
  abandoned but still present is landed again as a new file.

Landing writes ``pending`` rows before any data and ``committed`` rows after, so a run that died in
between is finished by the next run with the same batch id (see jobs/bronze/land.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import lake

PENDING, COMMITTED, DUPLICATE_FILE, EMPTY = "pending", "committed", "duplicate_file", "empty"
IGNORED, UNREADABLE, ABANDONED = "ignored", "unreadable", "abandoned"
NOT_READ = ""  # the checksum of an ignored or unreadable file, which is never read
SCHEMA = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("file_path", T.StringType(), False),
    T.StructField("file_checksum", T.StringType(), False),
    T.StructField("file_size", T.LongType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("batch_id", T.StringType(), True),
    T.StructField("records_landed", T.LongType(), True),
    T.StructField("records_quarantined", T.LongType(), True),
    T.StructField("blank_lines", T.LongType(), True),
    T.StructField("ingested_at", T.TimestampType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("recorded_at", T.TimestampType(), False),
    # the file's modification time when it was hashed: a file whose size and mtime still match is not hashed
    # again (added after the first release: older rows hold null, and those files are hashed as before)
    T.StructField("file_mtime_ns", T.LongType(), True),
    # with size and mtime, the change signals that copy tools (cp -p, rsync -t, touch -r) cannot carry over:
    # the inode's change time and number (added later still: older rows hold null and are hashed again)
    T.StructField("file_ctime_ns", T.LongType(), True),
    T.StructField("file_inode", T.LongType(), True),
    T.StructField("detail", T.StringType(), True),  # why a file is ignored, unreadable or abandoned
    # native records a feed mapping excluded on purpose (in quarantine as ``excluded``, not counted in
    # records_quarantined); added with feed mappings: older rows hold null
    T.StructField("records_excluded", T.LongType(), True),
])


@dataclass(frozen=True)
class Entry:
    source: str
    file_path: str
    file_checksum: str
    file_size: int
    status: str
    batch_id: str | None
    records_landed: int | None
    records_quarantined: int | None
    blank_lines: int | None
    ingested_at: dt.datetime
    run_id: str
    recorded_at: dt.datetime
    file_mtime_ns: int | None = None
    file_ctime_ns: int | None = None
    file_inode: int | None = None
    detail: str | None = None
    records_excluded: int | None = None

    @property
    def signature(self) -> tuple | None:
        """What says a file is unchanged since this entry without reading it, or None (an older entry)."""
        if self.file_ctime_ns is None or self.file_inode is None:
            return None
        return (self.file_path, self.file_size, self.file_mtime_ns, self.file_ctime_ns, self.file_inode)


_FIELDS = set(SCHEMA.fieldNames())


def latest_entries(spark: SparkSession, lake_root: Path, source: str) -> dict[tuple[str, str], Entry]:
    """Latest ledger entry per (file_path, file_checksum) of one source."""
    return latest_entries_by_source(spark, lake_root, [source]).get(source, {})


def latest_entries_by_source(spark: SparkSession, lake_root: Path, sources=None) -> dict[str, dict[tuple[str, str], Entry]]:
    """``latest_entries`` of several sources (default: every one) in one read, a source with no entry absent: what a
    stage that handles every source reads once, the ledger growing with every file ever landed."""
    table = lake.read(spark, lake.landing_ledger_table(lake_root))
    if table is None:
        return {}
    latest: dict[str, dict[tuple[str, str], Entry]] = {}
    rank = {PENDING: 0, IGNORED: 1, UNREADABLE: 1, EMPTY: 1, DUPLICATE_FILE: 1, ABANDONED: 1, COMMITTED: 2}
    if sources is not None:
        table = table.where(F.col("source").isin(*sources))  # F.col: no round trip for the schema
    for row in table.collect():
        values = {name: value for name, value in row.asDict().items() if name in _FIELDS}
        # Spark hands timestamps back naive, in the session time zone (UTC); make them explicit again.
        for name in ("ingested_at", "recorded_at"):
            values[name] = values[name].replace(tzinfo=dt.timezone.utc)
        entry = Entry(**values)
        key, entries = (entry.file_path, entry.file_checksum), latest.setdefault(entry.source, {})
        current = entries.get(key)
        if current is None or (entry.recorded_at, rank[entry.status]) >= (current.recorded_at, rank[current.status]):
            entries[key] = entry
    return latest


def record(spark: SparkSession, lake_root: Path, entries: list[Entry], metadata: dict[str, str]) -> None:
    if entries:
        df = spark.createDataFrame([tuple(asdict(e).values()) for e in entries], SCHEMA)
        table = lake.landing_ledger_table(lake_root)
        lake.ensure_columns(spark, df, table, metadata)  # a ledger written before a column was added gets it
        lake.append(df, table, metadata)

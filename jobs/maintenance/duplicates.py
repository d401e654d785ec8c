"""Remove the copies of rows that two compactions of one table version left in the tables every run appends to.

Until compactions held a lock (``lake.compact``), two runs that found the same compaction due -- sources landing in
parallel, each appending to the landing ledger -- could both commit it: delta-rs lets a second compaction of one version
through, each with a copy of the rows it rewrote, and a table compacted again doubles its copies. After 60 days the
landing ledger of the 1M benchmark held each early row 64 times (10,608 rows for 514), and landing and the bronze
gate, which read it every run, grew slower every day (bench/README.md).

The tables at risk are those ``lake.append`` compacts (``lake.compacted_on_append``): ``_system``'s and the landing and
silver quarantines. No run writes two rows alike there in every column: each carries its run and its time to the
microsecond, and a quarantined line its file, checksum and line number. ``repair_duplicates`` writes each such table's
distinct rows back in one commit (step ``deduplicate``, through delta-rs: the copies were made by delta-rs'
compaction), while holding every job's lock and the tables' compaction locks (a dry run takes none). A table without
copies is not written; a second run changes nothing. Pure part: ``distinct_rows``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from interaction_lake import lake, storage
from interaction_lake import sources as registry

JOB = "repair_duplicates"
_ORDER = "__row_order__"


@dataclass(frozen=True)
class Deduplicated:
    table: str  # its path under the lake root
    rows: int
    distinct: int

    @property
    def copies(self) -> int:
        return self.rows - self.distinct


def distinct_rows(table: pa.Table) -> pa.Table:
    """Each row of ``table`` once (a null equal to a null), in the order of the rows' first occurrences."""
    if table.num_rows == 0:
        return table
    numbered = table.append_column(_ORDER, pa.array(range(table.num_rows), pa.int64()))
    first = numbered.group_by(table.column_names, use_threads=False).aggregate([(_ORDER, "min")])
    return table.take(first.column(f"{_ORDER}_min").sort())


def repair_duplicates(lake_root: Path, run_id: str, dry_run: bool = False) -> list[Deduplicated]:
    """Find (and unless ``dry_run``, remove) the copies in each table ``lake.appended_tables`` lists; one entry per
    table."""
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    root = storage.location(lake_root)
    found = []
    # A gate's append meanwhile stays: the rewrite removes only the files it read (delta-rs keeps a concurrent append
    # beside an overwrite; checked by hand).
    with contextlib.nullcontext(lake.appended_tables(root)) if dry_run else lake.writers_held(root, registry.known()) as tables:
        for path in tables:
            table = DeltaTable(str(path))
            rows = lake.arrow(table)
            distinct = distinct_rows(rows)
            found.append(Deduplicated(str(path.relative_to(root)), rows.num_rows, distinct.num_rows))
            if dry_run or not found[-1].copies:
                continue
            meta = {**lake.commit_metadata(JOB, run_id), "step": "deduplicate", "copies_removed": str(found[-1].copies)}
            write_deltalake(table, distinct, mode="overwrite", partition_by=list(table.metadata().partition_columns) or None,
                            commit_properties=CommitProperties(custom_metadata={"userMetadata": json.dumps(meta, sort_keys=True)}))
    return found


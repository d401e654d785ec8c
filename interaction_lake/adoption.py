"""Publish a staged table by committing its data files into the published table, not by writing its rows again.

Gold writes each mart to a staging table, gates it, then publishes it (write-audit-publish). Publishing used to read
the staged rows back and write them again (``lake.replace``): at 10M, 3.2 s of a late-month gold build (bench/README.md).
``adopt`` instead makes each staged data file part of the published table -- a hard link on disk (the staging folder
is in the lake, on its file system), a server-side copy on an object store -- and commits them through delta-rs in one
commit that removes the replaced files: the same rows, the same files, the statistics the staging wrote.

It adopts only where the result is what ``lake.replace`` would commit; otherwise it changes nothing and says so (the
caller replaces). The conditions: the staged table is one commit whose files hold its partition columns' values in
the published table's layout; both keep statistics for the same columns (``lake.stage(..., like=)``: the staged
log's are then the ones the published table's would be); the columns are the same (names and types); every staged
file lies in the partitions being replaced; and no column the published table declares NOT NULL holds a null (the
engines refuse such a write: adopting it would slip past that check).

A run killed between the links and the commit leaves files in the table's folder that no version references, as a
killed engine write does: no reader sees them, and ``VACUUM`` removes them.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from urllib.parse import unquote

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from interaction_lake import lake, storage
from interaction_lake.storage import location

log = logging.getLogger(__name__)
FIRST_COMMIT = "00000000000000000000.json"


def adopt(staged: DataFrame, staging: Path, path: Path, metadata: dict[str, str], first: tuple[str, str] | None = None) -> bool:
    """Replace the rows of the defined table at ``path`` (``lake.define``) -- all of them, or with ``first`` = (partition
    column, value) those of that partition and later ones -- with the staged table at ``staging`` (``staged``: its
    frame), by committing the staged files. True if done; False, nothing changed, where the conditions of the module's
    docstring do not hold."""
    from deltalake import CommitProperties, DeltaTable
    from deltalake.transaction import AddAction

    source, target = location(staging), location(path)
    log_files = storage.names(source / "_delta_log")
    if [n for n in log_files if n.endswith(".json")] != [FIRST_COMMIT]:
        return _refused(path, "the staged table has more than one commit")
    actions = [json.loads(line) for line in (source / "_delta_log" / FIRST_COMMIT).read_text().splitlines() if line.strip()]
    adds = [a["add"] for a in actions if "add" in a]
    [staged_meta] = [a["metaData"] for a in actions if "metaData" in a]
    table = DeltaTable(str(target))
    details = table.metadata()
    partitions = list(details.partition_columns)
    if list(staged_meta.get("partitionColumns", [])) != partitions:
        return _refused(path, "its partitioning differs")
    if staged_meta.get("configuration", {}).get(lake.STATS_COLUMNS) != details.configuration.get(lake.STATS_COLUMNS):
        return _refused(path, "its statistics columns differ")
    schema = json.loads(table.schema().to_json())["fields"]
    if sorted(lake.column_shapes(json.loads(staged_meta["schemaString"])["fields"])) != sorted(lake.column_shapes(schema)):
        return _refused(path, "its columns differ")
    if any("://" in a["path"] or a["path"].startswith("/") or a.get("deletionVector") or not a.get("stats") for a in adds):
        return _refused(path, "a staged file is outside its folder, or has no statistics")
    if first is not None and any((a["partitionValues"].get(first[0]) or "") < first[1] for a in adds):
        return _refused(path, f"a staged file lies before {first[0]} {first[1]}")
    required = [c["name"] for c in schema if not c.get("nullable", True)]
    if required and staged.where(functools.reduce(lambda a, b: a | b, [F.col(c).isNull() for c in required])).limit(1).count():
        return _refused(path, f"a NOT NULL column ({', '.join(required)}) holds a null")
    for add in adds:
        relative = unquote(add["path"]).split("/")
        storage.adopt(source.joinpath(*relative), target.joinpath(*relative))
    commit = CommitProperties(custom_metadata={"userMetadata": json.dumps(metadata, sort_keys=True)})
    with lake.committing(staged.sparkSession, target):
        table.create_write_transaction(
            [AddAction(a["path"], a["size"], a["partitionValues"], a["modificationTime"], True, a["stats"]) for a in adds],
            mode="overwrite", schema=table.schema(), partition_by=partitions or None,
            partition_filters=[(first[0], ">=", first[1])] if first else None, commit_properties=commit)
    return True


def _refused(path: Path, why: str) -> bool:
    log.info("%s: publishing by rewriting its rows, not by adopting the staged files (%s)", location(path).name, why)
    return False

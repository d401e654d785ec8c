"""Print what the lake holds: each table's path, Delta version, row count and last writer.

Reads with the ``deltalake`` package (delta-rs), not Spark: the same independent reader an
auditor or a BI tool would use, and quick because it needs no engine.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.config import Settings


def tables(lake_root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(lake_root).glob("*/*/_delta_log"))


def describe(path: Path) -> dict:
    table = DeltaTable(str(path))
    last = table.history(1)[0]
    metadata = json.loads(last.get("userMetadata") or "{}")
    return {"path": str(path), "version": table.version(), "rows": table.to_pyarrow_dataset().count_rows(),
            "last_job": metadata.get("job"), "last_run": metadata.get("run_id")}


def print_summary(settings: Settings) -> None:
    print(f"lake at {settings.lake_root}")
    print(f"  {'table':34} {'version':>7} {'rows':>9}  last written by")
    for path in tables(settings.lake_root):
        info = describe(path)
        name = str(path.relative_to(settings.lake_root))
        print(f"  {name:34} {info['version']:>7} {info['rows']:>9}  {info['last_job']} ({info['last_run']})")
    quarantine = lake.landing_quarantine_table(settings.lake_root)
    if lake.exists(quarantine):
        rows = DeltaTable(str(quarantine)).to_pyarrow_table(columns=["source", "reason"]).to_pylist()
        print("\nquarantined at landing, by source and reason (table quarantine/landing):")
        for (source, reason), n in sorted(Counter((r["source"], r["reason"]) for r in rows).items()):
            print(f"  {source:16} {reason:28} {n:>6}")
    ledger_path = lake.landing_ledger_table(settings.lake_root)
    if lake.exists(ledger_path):
        rows = DeltaTable(str(ledger_path)).to_pyarrow_table(columns=["source", "file_path", "status"]).to_pylist()
        final = {}
        for r in rows:  # committed supersedes pending for the same file
            key = (r["source"], r["file_path"])
            if final.get(key) != "committed":
                final[key] = r["status"]
        print("\nlanding files by fate (table _system/landing_ledger):")
        for (source, status), n in sorted(Counter((s, st) for (s, _), st in final.items()).items()):
            print(f"  {source:16} {status:16} {n:>6}")

"""``repair-duplicates`` on a real lake whose ledger and landing quarantine were given copies of their rows the way
delta-rs gave them (two compactions of one version): counted by ``--dry-run``, removed by the repair -- each table then
holds exactly its rows before the copies, keeps its partitioning and statistics rule -- and a second run changes
nothing; landing goes on exactly once."""

from __future__ import annotations

import json
from collections import Counter

from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.cli import main
from interaction_lake.generator import SOURCES
from jobs.bronze.land import land_source


def rows(path) -> Counter:
    return Counter(tuple(sorted(r.items())) for r in DeltaTable(str(path)).to_pyarrow_table().to_pylist())


def copies_as_delta_rs_made_them(path) -> None:
    """Two runs that found the same compaction due, both committing it (test_lake.py: delta-rs lets them)."""
    first, second = DeltaTable(str(path)), DeltaTable(str(path))
    first.optimize.compact()
    second.optimize.compact()


def test_the_copies_are_counted_then_removed_and_nothing_else_changes(spark, settings, small_bank, capsys):
    for source in SOURCES:
        land_source(spark, settings, source, "r1")
    root = settings.lake_root
    ledger, quarantine = lake.landing_ledger_table(root), lake.landing_quarantine_table(root)
    before = {path: rows(path) for path in (ledger, quarantine)}
    partitions = DeltaTable(str(quarantine)).metadata().partition_columns
    for path in (ledger, quarantine):
        copies_as_delta_rs_made_them(path)
        assert rows(path) == before[path] + before[path]  # every row twice
    versions = {path: lake.version(path) for path in (ledger, quarantine)}

    assert main(["repair-duplicates", "--dry-run", "--lake", str(root)]) == 0
    out = capsys.readouterr().out
    ledger_rows = sum(before[ledger].values())
    assert f"_system/landing_ledger {2 * ledger_rows:,} row(s), {ledger_rows:,} copies (to remove" in " ".join(out.split())
    assert "copies in 2 table(s) found" in out
    assert {path: lake.version(path) for path in versions} == versions  # a dry run changes nothing

    assert main(["repair-duplicates", "--lake", str(root), "--run-id", "repair-1"]) == 0
    assert "copies in 2 table(s) removed" in capsys.readouterr().out
    for path in (ledger, quarantine):
        assert rows(path) == before[path]
        [commit] = DeltaTable(str(path)).history(1)
        assert json.loads(commit["userMetadata"])["step"] == "deduplicate" and lake.version(path) == versions[path] + 1
    table = DeltaTable(str(quarantine))
    assert table.metadata().partition_columns == partitions
    kept = set(table.metadata().configuration[lake.STATS_COLUMNS].split(","))
    log = (quarantine / "_delta_log" / f"{lake.version(quarantine):020d}.json").read_text().splitlines()
    stats = [json.loads(json.loads(line)["add"]["stats"]) for line in log if '"add"' in line]
    assert stats and all(set(s.get("minValues", {})) <= kept for s in stats)  # no raw line nor reference in the log

    assert main(["repair-duplicates", "--lake", str(root)]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert all(lake.version(path) == versions[path] + 1 for path in versions)
    again = land_source(spark, settings, "counter", "r2")  # the repaired ledger still makes landing exactly-once
    assert again.records_landed == 0 and again.files_already_landed > 0


def test_a_lake_that_is_not_there_is_a_one_line_error(tmp_path, capsys):
    assert main(["repair-duplicates", "--lake", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().startswith("interaction-lake: error: no lake at")

"""Table helpers on real Delta tables: cheap version and id look-ups agree with delta-rs, the system tables stay
compact, a compaction is not mistaken for changed data, staged rows make one commit, a materialised frame is computed
once, no identifying statistics."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from interaction_lake import lake, storage

SCHEMA = "id long, day string, customer_ref string"


def test_version_and_table_id_agree_with_delta_rs_across_checkpoints(spark, tmp_path):
    path = tmp_path / "t"
    for i in range(23):  # past two of the engine's checkpoints
        spark.createDataFrame([(i, "2026-11-02", "C1")], SCHEMA).write.format("delta").mode("append").save(str(path))
    table = DeltaTable(str(path))
    assert any(p.name.endswith(".checkpoint.parquet") for p in (path / "_delta_log").iterdir())
    assert lake.version(path) == table.version() == 22
    assert lake.table_id(path) == table.metadata().id


@pytest.mark.parametrize("layer,name", [(lake.SYSTEM, "quality_results"), (lake.QUARANTINE, "landing"), (lake.QUARANTINE, "silver")])
def test_append_only_shared_tables_are_compacted_every_n_commits_and_keep_every_row(spark, tmp_path, monkeypatch, layer, name):
    """``_system``'s tables and the landing and silver quarantines: appended to by every run, compacted by none of them."""
    monkeypatch.setattr(lake, "COMPACT_EVERY", 5)
    path = lake.table_path(tmp_path / "lake", layer, name)
    for i in range(12):
        lake.append(spark.createDataFrame([(i, "2026-11-02", None)], SCHEMA), path, {"job": "test", "run_id": f"r{i}"})
    table = DeltaTable(str(path))
    assert sorted(r["id"] for r in table.to_pyarrow_table().to_pylist()) == list(range(12))
    compactions = [h for h in table.history() if h["operation"] == "OPTIMIZE"]
    assert len(compactions) == 2 and all(json.loads(h["userMetadata"])["step"] == "compact" for h in compactions)
    assert len(table.file_uris()) <= 5  # without compaction: 12, one more every run


@pytest.mark.parametrize("layer,name", [("silver", "t"), (lake.QUARANTINE, "silver_facts")])
def test_data_tables_are_not_compacted_behind_the_jobs_back(spark, tmp_path, monkeypatch, layer, name):
    """Nor is the fact quarantine, which several sources' builds MERGE into."""
    monkeypatch.setattr(lake, "COMPACT_EVERY", 2)
    path = lake.table_path(tmp_path / "lake", layer, name)
    for i in range(4):
        lake.append(spark.createDataFrame([(i, "2026-11-02", None)], SCHEMA), path, {"job": "test", "run_id": "r"})
    assert not [h for h in DeltaTable(str(path)).history() if h["operation"] == "OPTIMIZE"]


def test_delta_rs_commits_two_compactions_of_one_version_each_with_a_copy_of_the_rows(tmp_path):
    """Why ``lake.compact`` holds the table's compact lock. If this fails, delta-rs refuses the second compaction again
    (its PR #3982 let removes with dataChange=false through the conflict check); the lock then only saves the work."""
    import pyarrow as pa
    from deltalake import write_deltalake

    for n in range(4):
        write_deltalake(str(tmp_path), pa.table({"k": [n]}), mode="append")
    first, second = DeltaTable(str(tmp_path)), DeltaTable(str(tmp_path))  # two runs that found the compaction due
    first.optimize.compact()
    second.optimize.compact()
    assert sorted(DeltaTable(str(tmp_path)).to_pyarrow_table().column("k").to_pylist()) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_an_appender_leaves_a_due_compaction_to_the_run_compacting_the_table(spark, tmp_path, monkeypatch):
    """Two appenders finding the same compaction due: the second does not wait for the first, nor compact after it."""
    monkeypatch.setattr(lake, "COMPACT_EVERY", 3)
    path = lake.table_path(tmp_path / "lake", lake.SYSTEM, "quality_results")
    append = lambda i: lake.append(spark.createDataFrame([(i, "2026-11-02", None)], SCHEMA), path, {"job": "test", "run_id": f"r{i}"})  # noqa: E731
    for i in range(3):
        append(i)
    with lake.compactions_held([path]):  # another run is compacting it
        append(3)  # version 3 reaches a multiple of 3: due, and left
        assert [h["operation"] for h in DeltaTable(str(path)).history()].count("OPTIMIZE") == 0
    assert lake.compact_if_due(spark, path, 2, {"job": "test", "run_id": "r3"}) and len(DeltaTable(str(path)).file_uris()) == 1
    assert sorted(r["id"] for r in DeltaTable(str(path)).to_pyarrow_table().to_pylist()) == [0, 1, 2, 3]


def test_a_compaction_changes_no_partition(spark, tmp_path):
    path = tmp_path / "lake" / "silver" / "events"
    for day in ("2026-11-02", "2026-11-02", "2026-11-03"):
        lake.append(spark.createDataFrame([(1, day, None)], SCHEMA), path, {"job": "test", "run_id": "r"}, ("day",))
    before = lake.version(path)
    lake.compact(spark, path, {"job": "test", "step": "compact"})
    assert lake.version(path) == before + 1
    assert lake.changed_partitions(path, before, before + 1, "day") == set()  # gold and the silver gate see nothing new
    assert lake.changed_partitions(path, 0, before, "day") == {"2026-11-02", "2026-11-03"}


def test_staged_rows_read_back_as_one_commit_and_leave_nothing_behind(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(lake, "INLINE_ROWS", 3)
    monkeypatch.setattr(lake, "PART_ROWS", 4)
    root = tmp_path / "lake"
    with lake.StagedRows(spark, spark.createDataFrame([], SCHEMA).schema, root) as staged:
        staged.extend((i, "2026-11-02", f"C{i}") for i in range(10))
        assert len(list(staged.folder.glob("*.parquet"))) == 2  # written as they came: memory holds one part
        lake.append(staged.frame(), root / "bronze" / "t", {"job": "test", "run_id": "r"})
    assert not staged.folder.exists()
    table = DeltaTable(str(root / "bronze" / "t"))
    assert table.version() == 0 and sorted(r["id"] for r in table.to_pyarrow_table().to_pylist()) == list(range(10))


def test_a_materialised_frame_holds_its_rows_once_computed_and_leaves_nothing_behind(spark, tmp_path):
    """lake.materialised: the rows as they were when it was made (its source changing afterwards does not change them),
    every type kept, an empty result read back with its schema, and the staging folder gone on exit, error or not."""
    root, table = tmp_path / "lake", tmp_path / "lake" / "silver" / "t"
    schema = "id long not null, at timestamp, day date, amount decimal(20,4), tags array<string>, detail struct<n: int, s: string>"
    first = spark.createDataFrame([(1, dt.datetime(2026, 11, 2, 9, 30), dt.date(2026, 11, 2), decimal.Decimal("12.3400"), ["a"], (1, "x")),
                                   (2, None, None, None, None, None)], schema)
    lake.append(first, table, {"job": "test", "run_id": "r1"})
    plan = lake.read(spark, table).where("id > 0")
    with lake.materialised(spark, plan, root) as rows:
        lake.overwrite(first.where("id = 2"), table, {"job": "test", "run_id": "r2"})
        assert rows.schema == plan.schema and sorted(rows.collect()) == sorted(first.collect())  # computed once, before the overwrite
        assert plan.count() == 1
    with lake.materialised(spark, plan.where("id > 5"), root) as empty:
        assert empty.collect() == [] and empty.schema == plan.schema
    try:
        with lake.materialised(spark, plan, root):
            raise RuntimeError("the job failed")
    except RuntimeError:
        pass
    assert storage.names(root / "_system" / "staging") == []
    with lake.keeping(spark, root) as keep:  # a job's frames, each computed once, all kept until its block ends
        kept = [keep(plan), keep(plan.select("id"))]
        assert len(storage.names(root / "_system" / "staging")) == 2 and [k.collect()[0].id for k in kept] == [2, 2]
    assert storage.names(root / "_system" / "staging") == []


def test_tables_keep_no_statistics_of_identifying_columns(spark, tmp_path):
    path = tmp_path / "lake" / "bronze" / "t"
    lake.append(spark.createDataFrame([(1, "2026-11-02", "C00000042")], SCHEMA), path, {"job": "test", "run_id": "r"}, ("day",))
    lake.append(spark.createDataFrame([(2, "2026-11-03", "C00000043")], SCHEMA), path, {"job": "test", "run_id": "r"}, ("day",))
    assert DeltaTable(str(path)).metadata().configuration[lake.STATS_COLUMNS] == "id"
    lake.append(spark.createDataFrame([(3, "2026-11-03", "C00000044")], SCHEMA), path, {"job": "test", "run_id": "r"}, ("day",))
    lake.compact(spark, path, {"job": "test"})  # the engine or delta-rs rewrites files under the same rule
    log = "\n".join(p.read_text() for p in Path(path, "_delta_log").glob("*.json"))
    stats = [json.loads(json.loads(line)["add"]["stats"]) for line in log.splitlines() if '"add"' in line]
    assert sorted(s["minValues"]["id"] for s in stats) == [1, 2, 2, 3]  # statistics are still kept for the other columns
    assert "C0000004" not in log


def test_statistics_columns_name_only_types_delta_keeps_statistics_of(spark, tmp_path):
    """delta-spark refuses a table whose statistics columns include a boolean ("Data skipping is not supported for
    column ... of type BooleanType"), found by running silver on Apache Spark; nor are nested or binary columns listed."""
    frame = spark.sql("SELECT 1 AS id, true AS flag, array(1) AS items, named_struct('a', 1) AS nested, DATE'2026-11-02' AS day, "
                      "'x' AS _source_file, 0.5D AS rate, CAST(0.5 AS FLOAT) AS share, 1.5BD AS amount")
    listed = lake.creation_options(frame, tmp_path / "new")[lake.STATS_COLUMNS].split(",")
    # landing paths are not listed either (a file may be named after a customer), nor floating-point numbers
    # (capabilities.exact_doubles_from_statistics); decimals are
    assert listed == ["id", "day", "amount"]


def test_a_table_an_older_release_made_has_its_statistics_limited_once(spark, tmp_path):
    """A table listing a double among its statistics columns, and a mart defined with no list at all (Delta then keeps
    its first 32 columns', a pseudonym among them), keep only what a new table keeps, from their next write on."""
    schema = "k long, customer_key string, rate double, month date"
    old = tmp_path / "lake" / "silver" / "old"
    spark.createDataFrame([(1, "p1", 0.5, dt.date(2026, 11, 1))], schema).write.format("delta").partitionBy("month") \
        .option(lake.STATS_COLUMNS, "k,rate").save(str(old))
    frame = spark.createDataFrame([(2, "p2", 2 / 3, dt.date(2026, 11, 1))], schema)
    lake.add_new_columns(spark, frame, old, {"job": "test"})
    assert DeltaTable(str(old)).metadata().configuration[lake.STATS_COLUMNS] == "k"
    assert DeltaTable(str(old)).history(1)[0]["userMetadata"] == json.dumps({"job": "test", "step": "statistics"})
    assert not lake.limit_statistics(old, {"job": "test"}) and lake.version(old) == 1  # once

    from deltalake import Schema
    mart = tmp_path / "lake" / "gold" / "mart"
    DeltaTable.create(str(mart), schema=Schema.from_json(frame.schema.json()), partition_by=["month"])  # as lake.define did
    lake.define(frame.schema, mart, lake.Definition("a mart", {}), ("month",), {"job": "test"})
    assert DeltaTable(str(mart)).metadata().configuration[lake.STATS_COLUMNS] == "k"
    lake.replace(frame, mart, {"job": "test"})
    stats = [json.loads(json.loads(line)["add"]["stats"]) for p in (mart / "_delta_log").glob("*.json")
             for line in p.read_text().splitlines() if '"add"' in line]
    assert [sorted(s["minValues"]) for s in stats] == [["k"]]
    before = lake.version(mart)
    lake.define(frame.schema, mart, lake.Definition("a mart", {}), ("month",), {"job": "test"})
    assert lake.version(mart) == before  # defined again: nothing to change


def test_remembered_schemas_are_bounded_and_an_evicted_one_is_read_again(spark, tmp_path, monkeypatch):
    """``schema_fields`` remembers few tables (a long-lived process reads new staged paths daily), least recent out."""
    monkeypatch.setattr(lake, "_SCHEMAS", type(lake._SCHEMAS)())
    monkeypatch.setattr(lake, "_SCHEMAS_KEPT", 2)
    tables = [tmp_path / name for name in ("a", "b", "c")]
    for number, table in enumerate(tables):
        lake.append(spark.createDataFrame([(number,)], f"c{number} long"), table, {"job": "test", "run_id": "r"})
    assert [f["name"] for f in lake.schema_fields(tables[0])] == ["c0"]
    lake.schema_fields(tables[1])
    lake.schema_fields(tables[0])  # used again: now the most recent
    lake.schema_fields(tables[2])
    assert list(lake._SCHEMAS) == [str(tables[0]), str(tables[2])]
    assert [f["name"] for f in lake.schema_fields(tables[1])] == ["c1"]
    assert len(lake._SCHEMAS) == 2

"""Each engine capability (interaction_lake.capabilities) is what the engine really does, and the workaround
chosen without it gives what the real feature gives."""

from __future__ import annotations

import datetime as dt
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from interaction_lake import adoption, capabilities, lake, storage

SCHEMA = "k long, v string, month date, at timestamp"


def _history(spark, path: Path, commits: int) -> None:
    """A partitioned table with appends, MERGE updates and deletes: ``commits`` versions, checkpoints included."""
    spark.createDataFrame([(0, "a", dt.date(2026, 1, 1), dt.datetime(2026, 1, 1, 9))], SCHEMA).write.format("delta") \
        .partitionBy("month").save(str(path))
    for i in range(1, commits):
        month = dt.date(2026, 1 + i % 3, 1)
        if i % 3 == 0:
            spark.createDataFrame([(i, f"v{i}", month, dt.datetime(2026, 1, 1, 9))], SCHEMA).write.format("delta").mode("append").save(str(path))
            continue
        spark.createDataFrame([(i % 5, f"m{i}", month, dt.datetime(2026, 2, 1, i % 24))], SCHEMA).createOrReplaceTempView("changes")
        action = "DELETE" if i % 7 == 0 else "UPDATE SET *"
        spark.sql(f"MERGE INTO delta.`{path}` t USING changes s ON t.k = s.k WHEN MATCHED THEN {action} "
                  "WHEN NOT MATCHED THEN INSERT *").collect()


def _rows(frame) -> list[tuple]:
    return sorted(tuple(r) for r in frame.collect())


def test_every_version_reads_as_delta_rs_reads_it_across_checkpoints(spark, tmp_path):
    path = tmp_path / "t"
    _history(spark, path, 27)
    assert lake.version(path) == 26 and (path / "_delta_log" / f"{20:020d}.checkpoint.parquet").exists()
    for version in range(27):
        expected = sorted((r["k"], r["v"], r["month"], r["at"].astimezone(dt.timezone.utc))
                          for r in DeltaTable(str(path), version=version).to_pyarrow_table().to_pylist())
        got = [tuple(v.replace(tzinfo=dt.timezone.utc) if isinstance(v, dt.datetime) else v for v in row)
               for row in _rows(lake.read_version(spark, path, version).select("k", "v", "month", "at"))]
        assert sorted(got) == expected, version


def test_time_travel_behind_a_checkpoint_is_what_the_engine_says(spark, tmp_path):
    """If this fails on the embedded engine, a new Sail can time-travel: drop the workaround in lake.read_version."""
    path = tmp_path / "t"
    _history(spark, path, 12)
    read = lambda v: spark.read.format("delta").option("versionAsOf", v).load(str(path)).count()  # noqa: E731
    if capabilities.time_travel_behind_checkpoint(spark):
        assert read(5) == DeltaTable(str(path), version=5).to_pyarrow_table().num_rows
    else:
        with pytest.raises(Exception, match="Missing commit file"):
            read(5)


def test_a_merge_that_changes_nothing_commits_as_the_engine_says(spark, tmp_path):
    """If this fails on the embedded engine, Sail now commits empty MERGEs too: merge_events' pre-check then applies to both."""
    path = tmp_path / "t"
    spark.createDataFrame([(1, "a")], "k long, v string").write.format("delta").save(str(path))
    spark.createDataFrame([(1, "a")], "k long, v string").createOrReplaceTempView("same")
    spark.sql(f"MERGE INTO delta.`{path}` t USING same s ON t.k = s.k WHEN MATCHED AND t.v <> s.v THEN UPDATE SET * "
              "WHEN NOT MATCHED THEN INSERT *").collect()
    assert lake.version(path) == (1 if capabilities.merge_commits_without_changes(spark) else 0)
    assert _rows(spark.read.format("delta").load(str(path))) == [(1, "a")]


def test_columns_a_writer_adds_reach_the_table_by_the_engine_s_means(spark, tmp_path):
    path = tmp_path / "t"
    spark.createDataFrame([(1, "a")], "k long, v string").write.format("delta").save(str(path))
    wider = spark.createDataFrame([(2, "b", 2.5)], "k long, v string, amount double")
    assert lake.add_new_columns(spark, wider, path, {"job": "test"}) == ["amount"]
    assert [(f.name, str(f.type)) for f in DeltaTable(str(path)).schema().fields] == [
        ("k", "PrimitiveType(\"long\")"), ("v", "PrimitiveType(\"string\")"), ("amount", "PrimitiveType(\"double\")")]
    assert _rows(spark.read.format("delta").load(str(path))) == [(1, "a", None)]
    if not capabilities.delta_sql_maintenance(spark):  # the reason for the delta-rs path: the statement itself fails
        with pytest.raises(Exception):
            spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS (more string)").collect()


def test_vacuum_and_compaction_keep_the_rows_and_drop_the_files_by_the_engine_s_means(spark, tmp_path):
    from jobs.privacy.erase import vacuum

    path = tmp_path / "t"
    for n in range(3):
        spark.createDataFrame([(n, "a")], "k long, v string").write.format("delta").mode("append").save(str(path))
    small = len(list(path.glob("*.parquet")))
    lake.compact(spark, path, {"job": "test", "step": "compact"})
    table = DeltaTable(str(path))
    assert len(table.file_uris()) == 1 and table.history(1)[0]["operation"] == "OPTIMIZE"
    assert _rows(spark.read.format("delta").load(str(path))) == [(0, "a"), (1, "a"), (2, "a")]
    assert len(list(path.glob("*.parquet"))) == small + 1  # the small files stay until vacuumed
    vacuum(spark, path, 0)
    assert sorted(p.name for p in path.glob("*.parquet")) == sorted(Path(u).name for u in DeltaTable(str(path)).file_uris())
    assert _rows(spark.read.format("delta").load(str(path))) == [(0, "a"), (1, "a"), (2, "a")]
    if not capabilities.delta_sql_maintenance(spark):
        with pytest.raises(Exception):
            spark.sql(f"VACUUM delta.`{path}` RETAIN 0 HOURS").collect()


def test_an_idempotent_write_is_skipped_as_the_engine_says_and_a_batch_lands_once_either_way(spark, tmp_path):
    """If the first half fails on the embedded engine, Sail now honours txnAppId: the capability can hold for both."""
    from jobs.bronze.land import append_batch

    rows = lambda n: spark.createDataFrame([(n, dt.date(2026, 1, 2), "b-1")], "k long, _ingest_date date, _batch_id string")  # noqa: E731
    raw = tmp_path / "raw"
    for n in (1, 2):
        rows(n).write.format("delta").mode("append").option("txnAppId", "b-1").option("txnVersion", "0").save(str(raw))
    assert _rows(spark.read.format("delta").load(str(raw)).select("k")) == ([(1,)] if capabilities.idempotent_writes(spark) else [(1,), (2,)])

    landed, at = tmp_path / "landed", dt.datetime(2026, 1, 2, 1, tzinfo=dt.timezone.utc)
    for n in (1, 2):  # a killed run's batch, finished again by the next run
        append_batch(rows(n), landed, "b-1", at, {"job": "test"})
    lake.append(rows(3), landed, {"job": "test"}, transaction=("b-1", 0))  # past the look at the table: the commit decides
    assert _rows(spark.read.format("delta").load(str(landed)).select("k")) == (
        [(1,)] if capabilities.idempotent_writes(spark) else [(1,), (3,)])
    transactions = [a["txn"] for f in sorted((landed / "_delta_log").glob("*.json")) for line in f.read_text().splitlines()
                    for a in [json.loads(line)] if "txn" in a]
    assert [t["appId"] for t in transactions] == (["b-1"] if capabilities.idempotent_writes(spark) else [])


def test_a_mean_has_the_same_bits_on_every_engine(spark, tmp_path):
    """``jobs.gold.measures.exact_mean`` equals an exact rational computation, so it is the same on both engines (whose
    own decimal averages differ in the last digit: 272.7666666666666 here, 272.7666666666667 there)."""
    import random
    from decimal import ROUND_HALF_UP
    from fractions import Fraction

    from jobs.gold.measures import MEAN_UNITS, exact_mean

    draw = random.Random(7)
    groups = {0: [272.7, 272.8, 272.8], 1: [1.0, 2.0], 2: [-0.3, 0.1, 0.1], 3: [None], 4: [123456.789012345, 0.000001, 7.5]}
    groups |= {g: [round(draw.uniform(-50, 5000), draw.choice((0, 2, 3))) for _ in range(draw.randint(1, 9))] for g in range(5, 60)}
    rows = [(g, v) for g, values in groups.items() for v in values]
    got = dict(spark.createDataFrame(rows, "g int, v double").groupBy("g").agg(exact_mean("v").alias("m")).collect())

    def reference(values: list) -> float | None:
        units = [int(Decimal(v * MEAN_UNITS).quantize(Decimal(1), ROUND_HALF_UP)) for v in values if v is not None]
        if not units:
            return None
        mean = Fraction(sum(units), len(units))
        rounded = mean.numerator // mean.denominator + (1 if 2 * (mean - mean.numerator // mean.denominator) >= 1 else 0)
        return rounded / MEAN_UNITS

    assert got == {g: reference(values) for g, values in groups.items()}
    assert got[0] == 272.766667 and got[3] is None


def test_a_staged_table_keeps_its_row_counts_and_no_column_statistics(spark, tmp_path):
    """``lake.stage``'s tables (gold's staged marts) keep no values in their log, on each engine, and read back whole."""
    path = tmp_path / "staged"
    rows = [(1, "C00000042", dt.date(2026, 11, 1)), (2, "C00000043", dt.date(2026, 12, 1)), (3, "C00000044", dt.date(2026, 12, 1))]
    lake.stage(spark.createDataFrame(rows[:1], "k long, customer_key string, month date"), path, {"job": "test"}, ("month",))
    lake.stage(spark.createDataFrame(rows, "k long, customer_key string, month date"), path, {"job": "test"}, ("month",))
    assert _rows(spark.read.format("delta").load(str(path))) == rows  # staged again: replaced
    log = "\n".join(p.read_text() for p in (path / "_delta_log").glob("*.json"))
    stats = [json.loads(json.loads(line)["add"]["stats"]) for line in log.splitlines() if '"add"' in line]
    assert sorted(s["numRecords"] for s in stats) == [1, 1, 2]
    assert not [s for s in stats if s.get("minValues") or s.get("maxValues") or s.get("nullCount")], stats
    assert "C0000004" not in log


def _statistics(path: Path) -> list[dict]:
    log = "\n".join(p.read_text() for p in (path / "_delta_log").glob("*.json"))
    return [json.loads(json.loads(line)["add"]["stats"]) for line in log.splitlines() if '"add"' in line]


def test_a_double_reads_back_from_its_file_s_statistics_as_the_engine_says_and_the_lake_keeps_none(spark, tmp_path):
    """One-row files (min = max) whose log keeps the double's statistics read back exact only where the engine says;
    the lake's own writes (an append, a mart's definition and its rows) keep none, so they read back exact on both."""
    from pyspark.sql import types as T

    # 17 significant digits each; the first is the mart value found read back one unit in the last place off
    values = [-28.712742334794818, 0.30000000000000004, 2 / 3 * 100, 1234.5678901234567]
    listed = tmp_path / "listed"
    for v in values:
        spark.createDataFrame([(v,)], "d double").write.format("delta").mode("append").option(lake.STATS_COLUMNS, "d").save(str(listed))
    assert len(_statistics(listed)) == len(values) and all("d" in s["minValues"] for s in _statistics(listed))
    read = sorted(r.d for r in spark.read.format("delta").load(str(listed)).collect())
    assert (read == sorted(values)) == capabilities.exact_doubles_from_statistics(spark)
    # the types the lake does keep statistics of read back exact from them on both engines
    from decimal import Decimal

    kept = (9007199254740993, Decimal("12345678901234567890123456.123457"), dt.datetime(2026, 1, 2, 3, 4, 5, 678901), dt.date(2026, 12, 4))
    exact = tmp_path / "exact"
    spark.createDataFrame([kept], "l long, m decimal(38,6), t timestamp, day date").write.format("delta") \
        .option(lake.STATS_COLUMNS, "l,m,t,day").save(str(exact))
    assert sorted(_statistics(exact)[0]["minValues"]) == ["day", "l", "m", "t"]
    assert [tuple(r) for r in spark.read.format("delta").load(str(exact)).collect()] == [kept]

    schema = T.StructType([T.StructField("k", T.LongType()), T.StructField("d", T.DoubleType())])
    appended, defined = tmp_path / "appended", tmp_path / "defined"
    for n, v in enumerate(values):
        lake.append(spark.createDataFrame([(n, v)], schema), appended, {"job": "test"})
    lake.define(schema, defined, lake.Definition("a mart", {"d": "a double"}), (), {"job": "test"})
    for n, v in enumerate(values):  # a snapshot mart replaced by one row each time: the file the fault was found in
        lake.replace(spark.createDataFrame([(n, v)], schema), defined, {"job": "test"})
        assert [r.d for r in spark.read.format("delta").load(str(defined)).collect()] == [v]
    assert sorted(r.d for r in spark.read.format("delta").load(str(appended)).collect()) == sorted(values)
    for path in (appended, defined):
        assert [sorted(s.get("minValues", {})) for s in _statistics(path)] == [["k"]] * len(values)


def test_an_amount_of_money_reads_exactly_from_a_canonical_record_by_the_engine_s_means(spark, tmp_path):
    """``get_json_object`` keeps a number's text only where the engine says; silver's money column
    (``conform.money_column``) reads every amount the canonical record can carry exactly on both engines: up to 22
    significant digits, fixed point and exponent form, rounded half up to six places."""
    from decimal import ROUND_HALF_UP, Decimal

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from interaction_lake import contracts
    from jobs.silver.conform import money_column

    texts = ["99999999999999.990000", "9999999999.999999", "9999999999999998.999999", "12345678901234.567892", "1e-07", "2.5E-6",
             "1E+15", "1234.5600000000002", "2.0000005", "-2.0000005", "0.9999999999999999999", "-0.0000005", "7", "-12.5", "null"]
    kind = contracts.money_type()
    frame = spark.createDataFrame([(n, f'{{"a":{t}}}') for n, t in enumerate(texts)], "n int, record_json string")
    parsed = F.from_json("record_json", T.StructType([T.StructField("a", kind)])).getField("a")
    rows = frame.select("n", F.get_json_object("record_json", "$.a").alias("text"),
                        money_column("a", kind, parsed, capabilities.json_number_text_kept(spark)).alias("amount")).collect()
    got = {r.n: r for r in rows}
    kept = [got[n].text == t for n, t in enumerate(texts) if t != "null"]
    assert all(kept) == capabilities.json_number_text_kept(spark)
    for n, text in enumerate(texts):
        want = None if text == "null" else Decimal(text).quantize(Decimal("0.000001"), ROUND_HALF_UP)
        assert got[n].amount == want, (text, got[n].amount)


def test_jobs_run_at_once_each_on_a_session_of_its_own_and_append_to_a_new_shared_table(spark, tmp_path):
    """``interaction_lake.concurrently`` on this engine: two jobs run at once (they meet at a barrier), each on a session
    of its own (the same temporary view name holds each job's own row), and jobs appending at once to a table none has
    made yet leave every row in it (``lake.creating``: one creates it, the others append)."""
    import threading

    from interaction_lake import concurrently
    from interaction_lake.config import Settings

    table, met = tmp_path / "lake" / "silver" / "shared", threading.Barrier(2, timeout=120)

    def job(session, i: int) -> tuple[int, int]:
        session.createDataFrame([(i,)], "i long").createOrReplaceTempView("mine")
        if i < 2:
            met.wait()  # the first two are running at the same time, each with its view made
        lake.append(session.sql("SELECT i, 'x' AS v FROM mine"), table, {"job": "test"})
        return id(session), session.sql("SELECT i FROM mine").collect()[0]["i"]

    done = concurrently.each(spark, Settings(), job, range(6), workers=2)
    assert [i for _, i in done] == list(range(6))
    assert len({session for session, _ in done}) == 2 and id(spark) not in {session for session, _ in done}
    assert sorted(r["i"] for r in lake.read(spark, table).collect()) == list(range(6))
    assert "mine" not in [t.name for t in spark.catalog.listTables() if t.isTemporary]  # the caller's session untouched


def test_compactions_of_one_table_at_once_take_turns_and_keep_each_row_once(spark, tmp_path):
    """delta-rs commits two compactions of one version, each with a copy of the rows (test_lake.py shows it): ``lake.compact``
    makes them take turns, whichever engine compacts. Several appenders finding a compaction due at once is a daily
    event (sources land in parallel, each appending to the ledger)."""
    path = lake.table_path(tmp_path / "lake", lake.SYSTEM, "t")
    for n in range(6):
        spark.createDataFrame([(n, "a")], "k long, v string").write.format("delta").mode("append").save(str(path))
    # a compacted table is compacted again: each round rewrites the files of the last. Where the engine compacts by SQL
    # (Apache Spark: delta-spark checks conflicts itself) one round shows the lock leaves its compaction whole; each
    # is a few seconds there, and the capability probe runs every test twice (disk, S3) under one timeout.
    rounds = 1 if capabilities.delta_sql_maintenance(spark) else 3
    for round_ in range(rounds):
        start = threading.Barrier(4)

        def compact(_):
            start.wait()
            lake.compact(spark, path, {"job": "test", "step": "compact"})

        with ThreadPoolExecutor(4) as pool:
            errors = [e for e in (f.exception() for f in [pool.submit(compact, n) for n in range(4)]) if e]
        spark.createDataFrame([(6 + round_, "a")], "k long, v string").write.format("delta").mode("append").save(str(path))
        assert (_rows(spark.read.format("delta").load(str(path))), errors) == ([(n, "a") for n in range(7 + round_)], []), round_
    assert [h["operation"] for h in DeltaTable(str(path)).history()].count("OPTIMIZE") >= rounds


MART = "k long, customer_key string, amount decimal(12,2), month date"
MART_DEFINITION = lake.Definition("a mart", {"k": "the key", "amount": "an amount"}, frozenset({"k", "month"}))
BEFORE = [(1, "C00000071", Decimal("1.00"), dt.date(2026, 10, 1)), (2, "C00000072", Decimal("2.00"), dt.date(2026, 11, 1))]
AFTER = [(3, "C00000073", Decimal("3.50"), dt.date(2026, 11, 1)), (4, "C00000074", None, dt.date(2026, 12, 1)),
         (5, None, Decimal("-0.01"), dt.date(2026, 12, 1))]


def _mart(spark, path: Path, rows: list[tuple]) -> Path:
    frame = spark.createDataFrame(rows, MART)
    lake.define(frame.schema, path, MART_DEFINITION, ("month",), {"job": "test"})
    lake.replace(frame, path, {"job": "test"})
    return path


def _data_files(path: Path) -> set[str]:
    """Every data file under the table's partition folders, referenced or not."""
    return {f"{part}/{name}" for part in storage.names(path) if part.startswith("month=") for name in storage.names(path / part)}


def _current_statistics(path: Path) -> list[tuple]:
    table = pa.table(DeltaTable(str(path)).get_add_actions(flatten=True))
    columns = sorted(c for c in table.column_names if c.split(".")[0] in ("num_records", "null_count", "min", "max", "partition"))
    return sorted(tuple(str(v) for v in row.values()) for row in table.select(columns).to_pylist())


def test_a_staged_table_published_by_adopting_its_files_equals_one_whose_rows_are_written_again(spark, tmp_path):
    """``adoption.adopt`` commits gold's staged files into the mart, on each engine, on disk and on S3: the same rows,
    file statistics and definition as ``lake.replace`` gives, no one's values in the log, and the files outlive their
    staging folder."""
    adopted, rewritten = _mart(spark, tmp_path / "a" / "m", BEFORE), _mart(spark, tmp_path / "r" / "m", BEFORE)
    staged = tmp_path / "a" / "_staging" / "m"
    lake.stage(spark.createDataFrame(AFTER, MART), staged, {"job": "test"}, ("month",), like=adopted)
    meta = {"job": "test", "step": "published"}
    assert adoption.adopt(lake.read(spark, staged), staged, adopted, meta, ("month", "2026-11-01"))
    lake.replace(spark.createDataFrame(AFTER, MART), rewritten, meta, "month >= DATE'2026-11-01'")
    storage.remove_tree(staged)  # as gold does once published
    assert _rows(lake.read(spark, adopted)) == _rows(lake.read(spark, rewritten)) == sorted([BEFORE[0], *AFTER], key=str)
    assert _current_statistics(adopted) == _current_statistics(rewritten)
    table = DeltaTable(str(adopted))
    assert json.loads(table.history(1)[0]["userMetadata"]) == meta and table.metadata().description == "a mart"
    fields = {f["name"]: f for f in json.loads(table.schema().to_json())["fields"]}
    assert (fields["k"]["nullable"], fields["k"]["metadata"], fields["customer_key"]["nullable"]) == (False, {"comment": "the key"}, True)
    assert "C0000007" not in "".join((adopted / "_delta_log" / n).read_text() for n in storage.names(adopted / "_delta_log") if n.endswith(".json"))


def test_adoption_refuses_what_a_rewrite_would_refuse_or_change_and_leaves_the_table_as_it_was(spark, tmp_path):
    """A null in a NOT NULL column, a staged row before the months replaced, a staging without the mart's statistics:
    ``adopt`` says no and commits nothing, links nothing (its caller then rewrites the rows, as before)."""
    path = _mart(spark, tmp_path / "m", BEFORE)
    version, files = lake.version(path), _data_files(path)
    cases = {"null key": ([(None, "C1", Decimal("1"), dt.date(2026, 11, 1))], path),
             "a month before": ([(6, "C1", Decimal("1"), dt.date(2026, 10, 1))], path),
             "no statistics": ([(6, "C1", Decimal("1"), dt.date(2026, 11, 1))], None)}
    for case, (rows, like) in cases.items():
        staged = tmp_path / "_staging" / case.replace(" ", "_")
        lake.stage(spark.createDataFrame(rows, MART), staged, {"job": "test"}, ("month",), like=like)
        assert not adoption.adopt(lake.read(spark, staged), staged, path, {"job": "test"}, ("month", "2026-11-01")), case
        assert (lake.version(path), _data_files(path)) == (version, files), case
    assert _rows(lake.read(spark, path)) == sorted(BEFORE, key=str)

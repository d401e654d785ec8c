"""Bronze tables are real Delta tables: readable without Spark, by delta-rs and by DuckDB over Arrow."""

from __future__ import annotations

import duckdb
from deltalake import DeltaTable

from interaction_lake import contracts, lake
from jobs.bronze.land import land_source


def test_bronze_reads_with_deltalake_and_duckdb(spark, settings, small_bank):
    report = land_source(spark, settings, "callcentre", "reader-test")
    path = lake.bronze_table(settings.lake_root, "callcentre")
    assert (path / "_delta_log" / "00000000000000000000.json").is_file()

    table = DeltaTable(str(path))
    assert table.metadata().partition_columns == ["_ingest_date"]
    names = [field.name for field in table.schema().fields]
    assert names[:6] == list(contracts.ENVELOPE_FIELDS)
    assert {"raw_line", "record_json", "_source_file", "_file_checksum", "_line_number", "_batch_id", "_run_id", "_ingested_at"} <= set(names)

    arrow = table.to_pyarrow_table()
    assert arrow.num_rows == report.records_landed
    by_type = dict(duckdb.sql("select event_type, count(*) from arrow group by 1").fetchall())
    assert sum(by_type.values()) == report.records_landed
    assert set(by_type) <= set(contracts.latest("callcentre").event_types)
    tz = duckdb.sql("select min(occurred_at) >= timestamptz '2026-11-02 00:00:00+00' from arrow").fetchall()[0][0]
    assert tz is True

"""``summary`` names who wrote each table's latest version, whatever the commit was."""

from __future__ import annotations

from interaction_lake import lake, summary


def test_the_last_writer_of_a_merge_and_of_a_statement_that_changed_nothing(spark, tmp_path):
    """The embedded engine drops a MERGE's userMetadata: the commit log names the job. A statement that made no commit
    names nobody, so the earlier writer stays the last one."""
    path = lake.table_path(tmp_path / "lake", "silver", "t")
    lake.append(spark.createDataFrame([(1, "a")], "k long, v string"), path, lake.commit_metadata("silver.build", "run-1"))
    spark.createDataFrame([(1, "b")], "k long, v string").createOrReplaceTempView("changes")
    merge = f"MERGE INTO delta.`{path}` t USING changes s ON t.k = s.k WHEN MATCHED AND t.v <> s.v THEN UPDATE SET *"
    lake.sql_write(spark, merge, path, lake.commit_metadata("privacy.erase", "run-2"))
    assert (summary.describe(path)["last_job"], summary.describe(path)["last_run"], summary.describe(path)["version"]) == (
        "privacy.erase", "run-2", 1)
    lake.sql_write(spark, merge, path, lake.commit_metadata("privacy.erase", "run-3"))  # nothing differs now
    assert summary.describe(path)["last_run"] == "run-2"

"""What each engine can do, decided in one place: the embedded engine (Sail) and Apache Spark + delta-spark.

Job code asks here instead of testing for an engine itself, so each workaround for one engine has one
switch, one stated reason and one test on both engines (``tests/integration/interaction_lake/test_capabilities.py``).
The engine of a session is the one ``interaction_lake.engine`` built it with.

| capability | embedded (Sail 0.7.2) | Apache Spark + delta-spark |
|---|---|---|
| ``time_travel_behind_checkpoint`` | no | yes |

``time_travel_behind_checkpoint``: reading ``versionAsOf`` a version older than the table's latest
checkpoint. Sail 0.7.2 fails for every such version from 2 up ("Missing commit file: expected version 0,
found N-1") although every commit file is on disk: it does not replay the log from version 0 when no
checkpoint precedes the version asked for. Measured: a table with 12 MERGE commits (checkpoint at 10)
reads versions 0, 1 and 10-12 and fails on 2-9. Without it ``lake.read_version`` reads that version's
data files, as listed by delta-rs, itself.
"""

from __future__ import annotations

from pyspark.sql import SparkSession


def time_travel_behind_checkpoint(spark: SparkSession) -> bool:
    from interaction_lake.engine import kind_of

    return kind_of(spark) != "embedded"

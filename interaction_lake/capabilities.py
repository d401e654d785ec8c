"""What each engine can do, decided in one place: the embedded engine (Sail) and Apache Spark + delta-spark.

Job code asks here instead of testing for an engine itself, so each workaround for one engine has one
switch, one stated reason and one test on both engines (``tests/integration/interaction_lake/test_capabilities.py``).
The engine of a session is the one ``interaction_lake.engine`` built it with.

| capability | embedded (Sail 0.7.2) | Apache Spark + delta-spark |
|---|---|---|
| ``time_travel_behind_checkpoint`` | no | yes |
| ``merge_commits_without_changes`` | no | yes |
| ``delta_sql_maintenance`` | no | yes |
| ``exclusive_commits_on_object_stores`` | yes | no |
| ``idempotent_writes`` | no | yes |
| ``exact_doubles_from_statistics`` | no | yes |
| ``json_number_text_kept`` | yes | no |

``time_travel_behind_checkpoint``: reading ``versionAsOf`` a version older than the table's latest
checkpoint. Sail 0.7.2 fails for every such version from 2 up ("Missing commit file: expected version 0,
found N-1") although every commit file is on disk: it does not replay the log from version 0 when no
checkpoint precedes the version asked for. Measured: a table with 12 MERGE commits (checkpoint at 10)
reads versions 0, 1 and 10-12 and fails on 2-9. Without it ``lake.read_version`` reads that version's
data files, as listed by delta-rs, itself.

``merge_commits_without_changes``: a MERGE that inserts, updates and deletes nothing still writes a table version.
delta-spark commits it (an empty version, which the silver gate would then validate and the commit log attribute);
Sail 0.7.2 writes nothing. Measured by the conformance test (tests/integration/conformance), where a resent file's
events made silver's version numbers differ between the engines. ``jobs.silver.build.merge_events`` therefore first
asks whether the MERGE would change anything, on both engines (the question costs less than a MERGE on either), so a
table's versions are the same on both; no job needs to branch on this one.

``delta_sql_maintenance``: Delta's SQL for a table's upkeep -- ``ALTER TABLE delta.`path` ADD COLUMNS``, ``VACUUM`` and
``OPTIMIZE``. Sail 0.7.2 parses none of them; delta-spark runs all three. Where it holds the engine's own statement
runs (``lake.add_new_columns``, ``lake.compact``, ``jobs.privacy.erase.vacuum``); where not, delta-rs commits the same
Delta operation on the same table. Either way the table's rows, schema and files are what the capability tests check,
on both engines.

``exclusive_commits_on_object_stores``: two processes committing to one Delta table on S3 at once can never both write
the same version. Sail (like delta-rs) writes a commit file with a conditional PUT (``If-None-Match``), retrying on
conflict: measured, two processes appending 15 times each to one table on the S3 server lost nothing (Sail logs "the
underlying table has been updated" and retries). delta-spark documents its S3 log store as single-driver (commits
serialised within one driver; DynamoDB for several). Measured here, its commit is a ``create(overwrite=false)``, which
the S3A of Hadoop 3.4.2 sends as a conditional PUT (``fs.s3a.create.conditional.enabled``, on by default): two drivers
appending 10 times each without any lock lost nothing, and two creating one table at once got a
``ProtocolChangedException``, not a silent overwrite. That is Hadoop's behaviour, not a promise of Delta's, and it
depends on the store honouring ``If-None-Match``; so where this capability does not hold, ``lake``'s writes to a table
on an object store hold that table's commit lease (``interaction_lake.locks``) for the commit, and landing tasks
running in parallel append to the shared ledger and quarantine one at a time.

``idempotent_writes``: Delta's idempotent writes -- a write carrying the writer options ``txnAppId`` and ``txnVersion``
is skipped when the table's log already records that version (or a later one) for that app id. delta-spark honours
them; Sail 0.7.2 ignores them and appends again (measured by the capability test). Landing's exactly-once rests on its
ledger and a look at the batch's partition on both engines (a lake may change engines between a crash and its
recovery, and a batch landed by Sail carries no transaction id); where this holds, a batch's bronze and quarantine
appends also carry the batch id as their ``txnAppId``, so the commit itself refuses a second copy and the Delta log says
which batch each commit is (``jobs.bronze.land.append_batch``).

``exact_doubles_from_statistics``: a double column reads back as written from a file whose Delta statistics keep it.
Sail 0.7.2 takes a column's value from the file's statistics when their minimum equals their maximum (a one-row file,
a constant column) and parses a JSON double of 17 significant digits up to one unit in the last place off: a gold
build wrote ``balance_change_pct`` -28.712742334794818 into a one-row file, and every read of the mart on the embedded
engine gave -28.712742334794815 (found when ``audit as-of --rebuild`` differed from the mart it rebuilt; the Parquet
file holds the right bits, and a copy of the log without statistics reads right). delta-spark reads the data. The
lake's tables therefore keep no statistics of floating-point columns, written by either engine
(``lake.creation_options``, ``lake.define``; ``lake.limit_statistics`` for a table an older release made): no job
prunes on a double, and no job needs to branch on this one.

``json_number_text_kept``: ``get_json_object`` returns a JSON number's text as written. Sail 0.7.2 does; Apache Spark
reads it as a double and writes the double (``99999999999999.99`` comes back ``9.999999999999998E13``). Silver reads an
amount of money (``DECIMAL(22,6)``) from the canonical record's text, which carries an amount of more significant digits
than a double holds as written (``contracts.canonical_json``): where the text is kept, silver casts it; where not, it
takes ``from_json``'s decimal, which Spark reads from the text exactly -- and Sail reads through a double
(``jobs.silver.conform.money_column``). Measured both ways on amounts of 15 to 22 significant digits, in fixed point and
exponent form, by the capability test.
"""

from __future__ import annotations

from pyspark.sql import SparkSession


def _apache_spark(spark: SparkSession) -> bool:
    from interaction_lake.engine import kind_of

    return kind_of(spark) != "embedded"


def time_travel_behind_checkpoint(spark: SparkSession) -> bool:
    return _apache_spark(spark)


def merge_commits_without_changes(spark: SparkSession) -> bool:
    return _apache_spark(spark)


def delta_sql_maintenance(spark: SparkSession) -> bool:
    return _apache_spark(spark)


def exclusive_commits_on_object_stores(spark: SparkSession) -> bool:
    return not _apache_spark(spark)


def idempotent_writes(spark: SparkSession) -> bool:
    return _apache_spark(spark)


def exact_doubles_from_statistics(spark: SparkSession) -> bool:
    return _apache_spark(spark)


def json_number_text_kept(spark: SparkSession) -> bool:
    return not _apache_spark(spark)

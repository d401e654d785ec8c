"""``versions_held`` finds which arriving ids silver holds from two narrow columns first, then reads only those ids'
dates: a differential test against the plain join of every stored row with the arriving events, on generated tables
with re-sends, corrections, new ids, ids held on several dates, null contents and null keys."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st
from pyspark.sql import functions as F

from interaction_lake import lake
from jobs.silver.build import _present, composite_key, versions_held
from jobs.silver.conform import CONTENT
from jobs.silver.lifecycles import FACTS

FACT = [f for f in FACTS if f.name == "counter_visit"]  # a two-column key: the composite key's path
STORED = f"event_id string, {CONTENT} string, branch_id string, ticket_id string, event_date date"
ARRIVING = f"event_id string, {CONTENT} string"
IDS, CONTENTS = st.sampled_from([f"e{n}" for n in range(4)]), st.one_of(st.none(), st.sampled_from("abc"))
DATES = st.dates(dt.date(2026, 10, 30), dt.date(2026, 11, 3))
KEY_PART = st.one_of(st.none(), st.sampled_from(["b1", "b2"]))


def reference(spark, target, events, facts) -> list[dict]:
    """The plain join: every stored row against the arriving events (what versions_held did before)."""
    held = lake.read(spark, target).join(events.select("event_id", F.col(CONTENT).alias("_arriving")), "event_id")
    held = held.where(~F.col(CONTENT).eqNullSafe(F.col("_arriving")))
    columns = [F.col("event_id"), F.col("event_date"), F.col(CONTENT)]
    columns += [F.when(_present(f.key_columns), composite_key(f.key_columns)).alias(f"_key_{f.name}") for f in facts]
    return [r.asDict() for r in held.select(*columns).collect()]


def ordered(found: list[dict]) -> list[tuple]:
    return sorted(tuple(str(v) for v in row.values()) for row in found)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(stored=[("e1", "a", "b1", "t1", dt.date(2026, 11, 1)), ("e1", "b", "b2", None, dt.date(2026, 11, 2))],
         arriving=[("e1", "c")])  # an id held on two dates (a stale copy beside its correction): both are found
@given(stored=st.lists(st.tuples(IDS, CONTENTS, KEY_PART, KEY_PART, DATES), min_size=1, max_size=12),
       arriving=st.lists(st.tuples(st.one_of(IDS, st.sampled_from(["new1", "new2"])), CONTENTS), max_size=8))
def test_versions_held_equals_the_plain_join_of_every_stored_row(spark, tmp_path_factory, stored, arriving):
    target = tmp_path_factory.mktemp("held") / "events"
    spark.createDataFrame(stored, STORED).write.format("delta").partitionBy("event_date").save(str(target))
    events = spark.createDataFrame(arriving, ARRIVING)
    found = versions_held(spark, target, events, FACT)
    assert ordered(found) == ordered(reference(spark, target, events, FACT))
    assert all(set(row) == {"event_id", "event_date", CONTENT, "_key_counter_visit"} for row in found)


def test_no_arriving_id_held_finds_nothing_and_a_correction_its_stored_version(spark, tmp_path):
    target = tmp_path / "events"
    spark.createDataFrame([("e1", "a", "b1", "t1", dt.date(2026, 11, 1)), ("e2", "a", "b1", "t2", dt.date(2026, 11, 2))],
                          STORED).write.format("delta").partitionBy("event_date").save(str(target))
    assert versions_held(spark, target, spark.createDataFrame([("n1", "a")], ARRIVING), FACT) == []
    assert versions_held(spark, target, spark.createDataFrame([("e2", "a")], ARRIVING), FACT) == []  # an exact re-send
    assert versions_held(spark, target, spark.createDataFrame([("e2", "b"), ("n1", "a")], ARRIVING), FACT) == [
        {"event_id": "e2", "event_date": dt.date(2026, 11, 2), CONTENT: "a", "_key_counter_visit": "b1\u0001t2"}]

"""Bronze rows -> silver events: typed by the contract, PII removed, customer pseudonymised, deduplicated.

Pure DataFrame functions. The contract's derived Spark schema parses bronze's ``record_json``; fields marked
``x-pii: true`` are dropped; free text (``x-pii: free-text``) never leaves bronze either: silver keeps only
``has_<field>`` (whether the customer wrote anything); ``customer_ref`` becomes ``customer_key`` (keyed hash),
and so does any other identifier marked ``x-pii: pseudonym`` (``account_ref`` -> ``account_key``): joinable,
never readable. Bronze lineage columns are kept so any silver row traces back to its file and line.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import capabilities, contracts
from interaction_lake.business_calendar import UTC, local_date
from interaction_lake.privacy import pseudonym

LINEAGE = ("_source_file", "_file_checksum", "_line_number", "_batch_id", "_ingested_at")
FREE_TEXT = "free-text"
PSEUDONYM = "pseudonym"


def pseudonym_column(name: str) -> str:
    """The silver column of an ``x-pii: pseudonym`` field: ``account_ref`` -> ``account_key``."""
    return name.removesuffix("_ref") + "_key"
ENVELOPE_KEPT = ("event_id", "event_type", "schema_version", "occurred_at", "source_system")


def payload_schema(source: str) -> T.StructType:
    """Union of payload fields over all contract versions (a later version may add optional fields).

    Timestamps are read as strings: occurred_at is taken already typed from bronze.
    """
    fields: dict[str, T.StructField] = {}
    for contract in contracts.contracts(source).values():
        for field in contract.spark_schema().fields:
            if field.name not in contracts.ENVELOPE_FIELDS:
                fields[field.name] = T.StructField(field.name, _nullable(field.dataType), True)
    return T.StructType(list(fields.values()))


def _nullable(data_type: T.DataType) -> T.DataType:
    """Parsing schemas are nullable all the way down: a null object must not break its required sub-fields."""
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, _nullable(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(_nullable(data_type.elementType), True)
    return data_type


PARITY_GAPS = "_parity_gaps"
CONTENT, VERSION, LAST_OTHER = "_content_key", "_version_key", "_last_other_version"


def parity_gaps(schema: T.StructType, payload: str = "_payload", json: str = "record_json") -> Column:
    """The contract fields present in bronze's ``record_json`` that the engine's parse left null, as one
    comma-separated string ("" when none): the bronze-to-silver parity invariant, checked on every event.

    Landing writes ``record_json`` in canonical form, so this should never find anything; it is what makes
    a gap -- an engine whose JSON reader drops a value it cannot hold -- a quarantined event with a reason
    instead of a silently emptier payload. Nested objects are checked leaf by leaf."""
    checks = []

    def walk(fields, path: str, column: Column) -> None:
        for field in fields:
            here, value = f"{path}.{field.name}", column.getField(field.name)
            checks.append(F.when(F.get_json_object(F.col(json), f"${here}").isNotNull() & value.isNull(), F.lit(here[1:])))
            if isinstance(field.dataType, T.StructType):
                walk(field.dataType.fields, here, value)

    walk(schema.fields, "", F.col(payload))
    return F.concat_ws(",", *checks) if checks else F.lit("")


def conform(bronze: DataFrame, source: str, secret: bytes, with_parity: bool = False, tz: str = UTC) -> DataFrame:
    """Bronze rows as silver events, dated on the bank's calendar ``tz``; ``with_parity`` adds ``_parity_gaps`` (see
    ``parity_gaps``) for the build to split on."""
    contract = contracts.latest(source)
    schema = payload_schema(source)
    parsed = bronze.withColumn("_payload", F.from_json("record_json", schema))
    text_kept = capabilities.json_number_text_kept(bronze.sparkSession)
    columns = {
        # a branch on its own clock dates its events by its zone (business_calendar: branch_timezones)
        "event_date": local_date("occurred_at", tz, F.col("_payload").getField("branch_id") if "branch_id" in schema.fieldNames() else None),
        "customer_key": pseudonym(F.col("customer_ref"), secret),
    }
    for name in schema.fieldNames():
        marking = contract.properties.get(name, {}).get("x-pii")
        if marking is True:
            continue
        value = F.col("_payload").getField(name)
        if isinstance(schema[name].dataType, T.DecimalType):
            value = money_column(name, schema[name].dataType, value, text_kept)
        elif isinstance(schema[name].dataType, T.DoubleType):
            # the number's own text, cast: the embedded engine's JSON reader rounds some doubles to a neighbour
            # (4.704077414966889e+84 read as 4.70407741496689e+84; found by tests/integration/jobs/silver/test_parity.py),
            # while a double's text cast is exact on every engine
            value = F.get_json_object(F.col("record_json"), f"$.{name}").try_cast("double")
        if marking == FREE_TEXT:
            columns[f"has_{name}"] = F.coalesce(F.length(F.trim(value)) > 0, F.lit(False))
            continue
        if marking == PSEUDONYM:
            columns[pseudonym_column(name)] = pseudonym(value, secret)
            continue
        columns[name] = value
    extra = [parity_gaps(schema).alias(PARITY_GAPS)] if with_parity else []
    # the record's content, keyed like a pseudonym (the record holds personal data): tells a correction from a re-send
    content = pseudonym(F.col("record_json"), secret).alias(CONTENT)
    return parsed.select(*ENVELOPE_KEPT, *[expr.alias(name) for name, expr in columns.items()], *LINEAGE, content, *extra)


def money_column(name: str, kind: T.DecimalType, parsed: Column, text_kept: bool) -> Column:
    """An amount of money, exactly as the canonical record writes it (up to 22 significant digits: ``contracts.
    canonical_json``), on each engine (``capabilities.json_number_text_kept``): the number's text cast where the engine
    keeps it ("1e-07": the embedded engine casts no exponent to decimal, so that form goes through a double, which
    carries every such short amount), else the decimal ``from_json`` read from the text (``parsed``)."""
    if not text_kept:
        return parsed
    text = F.get_json_object(F.col("record_json"), f"$.{name}")
    return F.coalesce(text.try_cast(kind.simpleString()), text.try_cast("double").cast(kind.simpleString()))


def version_key() -> Column:
    """A copy's place among the copies of its event, as text that sorts in order: revision (absent = 0), then
    delivery (ingest time, file, line). The highest wins (docs/silver.md, "Corrections")."""
    return F.concat_ws("|", F.lpad(F.coalesce(F.col("revision"), F.lit(0)).cast("string"), 19, "0"),
                       F.date_format("_ingested_at", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"), F.col("_source_file"),
                       F.lpad(F.coalesce(F.col("_line_number"), F.lit(0)).cast("string"), 19, "0"))


def winning_versions(events: DataFrame) -> DataFrame:
    """One row per event_id among ``events`` (conformed): the content of its highest version
    (``version_key``), carried by the first copy of that content's final run -- an exact re-send does not move an event's
    lineage, a correction does. Adds ``_version_key`` and ``_last_other_version``: the
    highest version of a different content among the copies (null if none), which the MERGE into silver needs to
    decide the same way a replay of every copy would."""
    keyed = events.withColumn(VERSION, version_key())
    by_event = Window.partitionBy("event_id")
    winner = F.max_by(F.col(CONTENT), F.col(VERSION)).over(by_event)
    keyed = keyed.withColumn("_winner", winner)
    last_other = F.max(F.when(F.col(CONTENT) != F.col("_winner"), F.col(VERSION))).over(by_event)
    keyed = keyed.withColumn(LAST_OTHER, last_other)
    final_run = (F.col(CONTENT) == F.col("_winner")) & (F.col(LAST_OTHER).isNull() | (F.col(VERSION) > F.col(LAST_OTHER)))
    first = Window.partitionBy("event_id").orderBy(F.col(VERSION))
    return (keyed.where(final_run).withColumn("_copy", F.row_number().over(first)).where("_copy = 1")
            .drop("_copy", "_winner"))

"""Two lakes compared table by table: every Delta table of one is in the other with the same rows.

Read with delta-rs (the independent reader), so neither engine judges its own output. Columns that say when
or in which run something happened, or that embed those, differ by nature and are left out; the lake and
landing roots inside lineage strings are replaced by placeholders. Nullability is not compared: Spark and
the embedded engine infer it differently for the same expression, and no reader of the lake depends on it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from deltalake import DeltaTable

from interaction_lake import lake

# when, and in which run: wall-clock times, run ids, durations, generated table ids
RUN_COLUMNS = {
    "_run_id", "run_id", "_ingested_at", "ingested_at", "recorded_at", "processed_at", "validated_at", "quarantined_at",
    "erased_at", "built_at", "published_at", "started_at", "finished_at", "gate_seconds", "table_id", "user_metadata",
    "_version_key",  # the delivery's ingestion time, then file and line: ordered the same way on both engines
    "silver_table_id",  # a Delta table's generated id
    "file_ctime_ns", "file_inode",  # where each lake's own copy of the landing zone sits on disk
    # the compiled evaluator's whole result, kept for Data Docs; null where Great Expectations evaluated the suite, as
    # one of each compared pair of runs does (the verdicts and figures beside it are compared)
    "gx_result",
}


# JSON columns whose entries may embed a run's time: compared with those keys left out (a failing row's arrival lag
# is measured from when that lake's landing ran).
RUN_KEYS = {"unexpected_sample": {"_arrival_lag_hours", "_ingested_at"}}


def _without_run_keys(name: str, values: list) -> list:
    if name not in RUN_KEYS:
        return values
    drop = RUN_KEYS[name]
    return [v if v is None else json.dumps([{k: x for k, x in row.items() if k not in drop} for row in json.loads(v)], sort_keys=True)
            for v in values]


def delta_tables(root: Path) -> list[str]:
    """Every Delta table under ``root`` (staging left by a failed run aside), as paths relative to it."""
    return sorted(str(log.parent.relative_to(root)) for log in root.rglob("_delta_log") if "_staging" not in log.parts)


def table_rows(root: Path, table: str, placeholders: dict[str, str]) -> tuple[list[tuple[str, str]], Counter]:
    """The table's (column, type) list and its rows as a multiset, run columns left out, columns in name order
    (the engines may order the columns a MERGE adds differently)."""
    data = lake.arrow(DeltaTable(str(root / table)))
    columns = sorted((field for field in data.schema if field.name not in RUN_COLUMNS), key=lambda field: field.name)
    rows = zip(*(_without_run_keys(field.name, data.column(field.name).to_pylist()) for field in columns)) if columns else iter(())
    return [(field.name, str(field.type)) for field in columns], Counter(_normal(row, placeholders) for row in rows)


def differences(left: Path, right: Path, left_places: dict[str, str], right_places: dict[str, str]) -> list[str]:
    """One line per table that is missing from one lake, typed differently, or holds other rows."""
    found = []
    for table in sorted(set(delta_tables(left)) | set(delta_tables(right))):
        if not ((left / table / "_delta_log").is_dir() and (right / table / "_delta_log").is_dir()):
            found.append(f"{table}: only in {'left' if (left / table).is_dir() else 'right'}")
            continue
        (left_columns, left_rows), (right_columns, right_rows) = (table_rows(left, table, left_places),
                                                                  table_rows(right, table, right_places))
        if left_columns != right_columns:
            found.append(f"{table}: columns {sorted(set(left_columns) ^ set(right_columns))}")
        elif left_rows != right_rows:
            only_left, only_right = left_rows - right_rows, right_rows - left_rows
            found.append(f"{table}: {sum(only_left.values())} row(s) only left, e.g. {_sample(only_left, left_columns)}; "
                         f"{sum(only_right.values())} only right, e.g. {_sample(only_right, right_columns)}")
    return found


def _normal(value, placeholders: dict[str, str]):
    if isinstance(value, str):
        for path, placeholder in placeholders.items():
            value = value.replace(path, placeholder)
        return value
    if isinstance(value, float):  # sums of doubles may be added in another order: equal to 12 significant digits
        return float(f"{value:.12g}")
    if isinstance(value, (list, tuple)):
        return tuple(_normal(item, placeholders) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _normal(item, placeholders)) for key, item in value.items() if key not in RUN_COLUMNS))
    return value


def _sample(rows: Counter, columns: list[tuple[str, str]]) -> str:
    if not rows:
        return "none"
    row = next(iter(rows))
    return str({name: value for (name, _), value in zip(columns, row)})[:600]

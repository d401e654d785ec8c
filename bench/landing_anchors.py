"""Anchors for landing's throughput (issue 19): what readers that do less than landing do with the same files.

Given a folder of landing files as the generator writes them (``<source>/<day>/*.jsonl|*.csv``), times, in this
process, one after the other:

* ``python_json_parse``: the standard library's ``json.loads`` on every JSON line (CSV rows are split by ``csv``):
  parsing alone, no checks, nothing written -- the floor of any per-record Python path;
* ``pyarrow_read_write_parquet``: pyarrow's JSON and CSV readers (types inferred) and a Parquet write of each file:
  a columnar reader and writer, no contract;
* ``embedded_read_with_contract_schema_to_delta``: the embedded engine reading each source's files with its
  contract's schema (``read.json`` / ``read.csv``) and appending them to a Delta table -- typed, but without
  landing's checks (enums, patterns, dates, time window), reasons, raw bytes or ledger.

Beside them, ``landing_all_at_once``: ``interaction-lake land`` itself (every source's ``land_source``) landing the
original files, hostile records included, in one batch per source into a fresh lake -- the same work as the
anchors' one pass over every file, where the benchmark's per-day figure also pays each day's fixed costs (ledger,
commits, locks) thirty times. Its events are every record it landed or quarantined. And
``landing_all_at_once_every_core``: the same with ``interaction-lake land --jobs <cores>`` (``land_sources``: a
process per source, as Airflow's per-source tasks run): the pyarrow and engine anchors use every core as well.

The generator's files carry hostile records on purpose (control characters, wrong types), on which these readers
stop: the anchors read a copy of the files holding only the records landing accepts (made first, not timed; the
records left out are counted). Readers are given the contract's column types (they would infer them otherwise).
Each prints events/s, counted as records (JSON lines; CSV rows without their header). Run by
``interaction-lake bench --compare-classic`` on the run's own files (so the ratios are taken in the same run, on a
shared machine), or alone: ``python bench/landing_anchors.py <folder>``. DuckDB and orjson, which the issue's first
table also names, are not dependencies of the project and are not measured here.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

SUFFIXES = (".jsonl", ".csv")


def landing_files(folder: Path) -> dict[str, list[Path]]:
    """Source -> its landing files (uncompressed JSON lines and CSV; the generator writes no other kind)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*/*/*")):
        if path.is_file() and path.suffix in SUFFIXES and path.stat().st_size:
            found.setdefault(path.parts[-3], []).append(path)
    return found


def accepted_copy(by_source: dict[str, list[Path]], out: Path) -> tuple[dict[str, list[Path]], int]:
    """Copies of the files holding only the lines (JSON) or rows (CSV) that the source's latest contract accepts, and
    how many records were left out."""
    from interaction_lake import contracts
    from interaction_lake.landing_files import cell_kinds, coerce_csv_row

    copies: dict[str, list[Path]] = {}
    left_out = 0
    for source, files in by_source.items():
        contract = contracts.latest(source)
        kinds = cell_kinds(contract.properties)

        def accepts(record) -> bool:
            return isinstance(record, dict) and contract.fast_accepts(record) and contract.canonical(record)[1] is None

        for number, path in enumerate(files):
            target = out / source / f"{number}{path.suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            with path.open(encoding="utf-8", errors="replace", newline="") as src, target.open("w", encoding="utf-8", newline="") as dst:
                if path.suffix == ".csv":
                    rows = csv.DictReader(src)
                    writer = csv.DictWriter(dst, fieldnames=rows.fieldnames or [])
                    writer.writeheader()
                    kept = [row for row in rows if None not in row and accepts(coerce_csv_row(row, kinds))]
                    left_out += rows.line_num - 1 - len(kept)
                    writer.writerows(kept)
                else:
                    lines = [line for line in src if line.strip()]
                    kept = [line for line in lines if accepts(_parsed(line))]
                    left_out += len(lines) - len(kept)
                    dst.writelines(line if line.endswith("\n") else line + "\n" for line in kept)
            copies.setdefault(source, []).append(target)
    return copies, left_out


def _parsed(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def arrow_types(source: str) -> dict:
    """The contract's scalar columns as pyarrow types (times and dates as text); objects and arrays are inferred."""
    import pyarrow as pa

    from interaction_lake import contracts

    kinds = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(), "string": pa.string()}
    return {name: kinds[kind] for name, spec in contracts.latest(source).properties.items()
            if (kind := contracts.base_type(spec)) in kinds}


def python_json_parse(files: list[Path]) -> int:
    records = 0
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            if path.suffix == ".csv":
                records += sum(1 for _ in csv.DictReader(handle))
            else:
                records += sum(1 for line in handle if line.strip() and json.loads(line) is not None)
    return records


def pyarrow_read_write_parquet(by_source: dict[str, list[Path]]) -> int:
    import pyarrow as pa
    from pyarrow import csv as pa_csv, json as pa_json, parquet as pq

    records = 0
    with tempfile.TemporaryDirectory(prefix="anchor-parquet-") as out:
        for source, files in by_source.items():
            types = arrow_types(source)
            as_json = pa_json.ParseOptions(explicit_schema=pa.schema(list(types.items())), unexpected_field_behavior="infer")
            as_csv = pa_csv.ConvertOptions(column_types=types)
            for number, path in enumerate(files):
                if path.suffix == ".csv":
                    table = pa_csv.read_csv(path, convert_options=as_csv)
                else:
                    table = pa_json.read_json(path, parse_options=as_json)
                pq.write_table(table, Path(out) / f"{source}-{number}.parquet")
                records += table.num_rows
    return records


def embedded_read_with_contract_schema_to_delta(by_source: dict[str, list[Path]]) -> int:
    from interaction_lake import contracts
    from interaction_lake.config import Settings
    from interaction_lake.engine import get_spark
    from pyspark.sql import types as T

    spark = get_spark(Settings())
    records = 0
    with tempfile.TemporaryDirectory(prefix="anchor-delta-") as out:
        for source, files in sorted(by_source.items()):
            schema = contracts.latest(source).spark_schema()
            jsonl = [str(p) for p in files if p.suffix == ".jsonl"]
            if jsonl:
                spark.read.json(jsonl, schema=schema).write.format("delta").mode("append").save(f"{out}/{source}/jsonl")
            for number, path in enumerate(p for p in files if p.suffix == ".csv"):  # a CSV's columns are its header's
                with path.open(encoding="utf-8", newline="") as handle:
                    header = next(csv.reader(handle), [])
                columns = T.StructType([schema[name] if name in schema.names else T.StructField(name, T.StringType()) for name in header])
                (spark.read.csv(str(path), schema=columns, header=True).write.format("delta").mode("append")
                 .save(f"{out}/{source}/csv{number}"))
            for table in Path(out, source).iterdir():
                records += spark.read.format("delta").load(str(table)).count()
    return records


def landing_all_at_once(folder: Path, jobs: int = 1) -> int:
    from interaction_lake import sources
    from interaction_lake.config import Settings
    from jobs.bronze.land import land_sources

    with tempfile.TemporaryDirectory(prefix="anchor-landing-") as lake:
        settings = Settings().with_paths(lake_root=Path(lake), landing_root=folder)
        reports = land_sources(settings, sources.enabled(), "anchor", jobs)
    return sum(r.records_landed + r.records_quarantined + r.records_excluded for r in reports)


def measure(folder: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="anchor-accepted-") as copies:
        by_source, left_out = accepted_copy(landing_files(folder), Path(copies))
        every = [path for files in by_source.values() for path in files]
        results: dict = {"files": len(every), "bytes": sum(p.stat().st_size for p in every), "records_left_out": left_out}
        results.update(_timed(by_source, every, folder))
    return results


def _timed(by_source: dict[str, list[Path]], every: list[Path], folder: Path) -> dict:
    results: dict = {}
    cores = os.cpu_count() or 1
    for name, run in (("landing_all_at_once", lambda: landing_all_at_once(folder)),
                      ("landing_all_at_once_every_core", lambda: landing_all_at_once(folder, cores)),
                      ("python_json_parse", lambda: python_json_parse(every)),
                      ("pyarrow_read_write_parquet", lambda: pyarrow_read_write_parquet(by_source)),
                      ("embedded_read_with_contract_schema_to_delta", lambda: embedded_read_with_contract_schema_to_delta(by_source))):
        start = time.perf_counter()
        try:
            records = run()
        except Exception as error:  # an anchor that cannot run is reported, not fatal to the benchmark
            results[name] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
            continue
        seconds = time.perf_counter() - start
        results[name] = {"records": records, "seconds": round(seconds, 2), "events_per_s": int(records / seconds) if seconds else None}
    return results


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/landing_anchors.py <folder of landing files>")
    print(json.dumps(measure(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()

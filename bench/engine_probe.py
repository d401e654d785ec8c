"""Measure the engine candidates for docs/adr/0001-engine.md: startup, Delta write/read, MERGE.

Prints a table and writes bench/results/engine_probe.json. Candidates:
  * embedded: Sail in-process (Spark Connect) writing Delta;
  * classic: local PySpark (JVM) with Delta jars from INTERACTION_LAKE_DELTA_JARS_DIR, if set,
    else its attempt to resolve Delta from Maven is recorded (it fails where Maven is unreachable),
    and its plain Parquet write is timed for a like-for-like throughput figure.
Run: make bench-engine  (ROWS=500000 to change the size)

With LANDING_DIR set (bench/pipeline.py --compare-classic does this), each engine instead copies the same
landing files, line by line, into a table: embedded into Delta, classic into Parquet (and Delta when its
jars are configured). That is raw copy throughput, without landing's parsing, validation and lineage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = int(os.environ.get("ROWS", "500000"))
LANDING_DIR = os.environ.get("LANDING_DIR")
OUT = Path(__file__).parent / "results" / "engine_probe.json"


def rows(n: int):
    base = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)
    return [(f"evt-{i:012d}", "call_offered", 1, base + dt.timedelta(seconds=i), "genesys-acd", f"C{i % 50000:08d}", "{}" * 40) for i in range(n)]


SCHEMA = "event_id string, event_type string, schema_version long, occurred_at timestamp, source_system string, customer_ref string, raw_line string"


def copy_landing(spark, fmt: str) -> dict:
    files = sorted(str(f) for f in Path(LANDING_DIR).rglob("*") if f.is_file() and f.stat().st_size)
    path = tempfile.mkdtemp(prefix=f"copy-{fmt}-")
    t = time.perf_counter()
    spark.read.text(files).write.format(fmt).mode("append").save(path)
    write = time.perf_counter() - t
    n = spark.read.format(fmt).load(path).count()
    return {"files": len(files), "lines": n, "write_s": round(write, 2), "lines_per_s": int(n / write)}


def measure(spark, fmt: str) -> dict:
    return copy_landing(spark, fmt) if LANDING_DIR else probe(spark, fmt, rows(ROWS))


def probe(spark, fmt: str, data) -> dict:
    path = tempfile.mkdtemp(prefix=f"probe-{fmt}-")
    t = time.perf_counter()
    df = spark.createDataFrame(data, SCHEMA)
    df.write.format(fmt).mode("append").save(path)
    write = time.perf_counter() - t
    t = time.perf_counter()
    n = spark.read.format(fmt).load(path).groupBy("customer_ref").count().count()
    read = time.perf_counter() - t
    result = {"write_s": round(write, 2), "write_rows_per_s": int(len(data) / write), "read_aggregate_s": round(read, 2), "groups": n}
    if fmt == "delta":
        spark.createDataFrame(data[:10000], SCHEMA).createOrReplaceTempView("src")
        t = time.perf_counter()
        spark.sql(f"MERGE INTO delta.`{path}` t USING src s ON t.event_id = s.event_id WHEN NOT MATCHED THEN INSERT *")
        result["merge_10k_into_s"] = round(time.perf_counter() - t, 2)
    return result


def embedded() -> dict:
    t = time.perf_counter()
    from interaction_lake.config import Settings
    from interaction_lake.engine import get_spark, stop_spark

    spark = get_spark(Settings())
    spark.range(1).count()
    result = {"startup_s": round(time.perf_counter() - t, 2), **measure(spark, "delta")}
    stop_spark()
    return result


def classic() -> dict:
    from pyspark.sql import SparkSession

    from interaction_lake.config import ConfigError, Settings
    from interaction_lake.engine import classic_spark_conf

    result: dict = {}
    settings = Settings.from_env()
    t = time.perf_counter()
    builder = SparkSession.builder.master("local[2]").config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
    try:
        conf = classic_spark_conf(settings)
    except ConfigError as error:
        conf, result["delta"] = {}, f"not configured: {error}"
    delta_ready = "spark.jars" in conf
    if not delta_ready:
        result.setdefault("delta", "no local Delta jars (INTERACTION_LAKE_DELTA_JARS_DIR unset); Maven resolution probed in a subprocess")
        result["maven_probe"] = maven_probe(settings.delta_package)
    for key, value in (conf.items() if delta_ready else ()):
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.range(1).count()
    result["startup_s"] = round(time.perf_counter() - t, 2)
    result["parquet"] = measure(spark, "parquet")
    if delta_ready:
        result["delta"] = measure(spark, "delta")
    spark.stop()
    return result


def maven_probe(package: str) -> str:
    code = ("from pyspark.sql import SparkSession\n"
            f"SparkSession.builder.master('local[1]').config('spark.jars.packages', '{package}').getOrCreate().range(1).count()\n")
    t = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        return "timed out after 240 s"
    tail = [line for line in (done.stderr or "").splitlines() if "Exception" in line or "unresolved" in line.lower() or "Error" in line][:2]
    return f"exit {done.returncode} after {time.perf_counter() - t:.0f} s: {' | '.join(tail)[:300]}"


def main() -> None:
    if len(sys.argv) == 2:  # child: one candidate per process (a Connect and a classic session cannot share one)
        print(json.dumps({"embedded": embedded, "classic": classic}[sys.argv[1]]()))
        return
    results = {"rows": ROWS, "machine": f"{platform.machine()} {os.cpu_count()} cpus"}
    for name, key in (("embedded", "embedded_sail"), ("classic", "classic_local_spark")):
        done = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, timeout=900)
        try:
            results[key] = json.loads(done.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):  # report what failed rather than hiding it
            results[key] = {"error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

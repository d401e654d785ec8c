"""``interaction-lake serve``: a BI tool's JDBC driver and a Spark Connect client find every mart by name, with the
glossary's comments, and read the same figures as the Delta tables hold; a table built later appears without a restart.

The JDBC client is the Hive JDBC driver through Beeline -- the driver DBeaver, Metabase and Tableau's Spark SQL
connector use -- from the pyspark wheel's jars; catalog browsing goes through JDBC's DatabaseMetaData
(``!tables``/``!columns``), as a BI tool's table picker does.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyspark
import pytest
from deltalake import DeltaTable, write_deltalake

from interaction_lake import glossary
from interaction_lake.config import Settings
from jobs.gold.build import MARTS, mart_table
from tests.integration.conformance.cluster import free_port

pytestmark = pytest.mark.spark
JARS = Path(pyspark.__file__).parent / "jars"


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory) -> Settings:
    """A small bank landed, built to gold by the command line (embedded engine)."""
    root = tmp_path_factory.mktemp("served")
    settings = Settings().with_paths(lake_root=root / "lake", landing_root=root / "landing")
    env = {**os.environ, "INTERACTION_LAKE_LAKE_ROOT": str(settings.lake_root),
           "INTERACTION_LAKE_LANDING_ROOT": str(settings.landing_root), "INTERACTION_LAKE_PROGRESS": "0"}
    for args in (["generate", "--customers", "200", "--days", "3", "--out", str(settings.landing_root)], ["land"],
                 ["build-silver"], ["build-marts"]):
        done = subprocess.run([sys.executable, "-m", "interaction_lake", *args], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    return settings


@pytest.fixture(scope="module")
def endpoint(built_lake, tmp_path_factory):
    hive, connect = free_port(), free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    here = tmp_path_factory.mktemp("cwd")  # where it is started: it must leave nothing there (no derby.log, no warehouse)
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "interaction_lake", "serve", "--lake", str(built_lake.lake_root),
                                    "--port", str(hive), "--connect-port", str(connect), "--refresh-seconds", "1"],
                                   stdout=out, stderr=subprocess.STDOUT, text=True, cwd=here)
    process.cwd = here
    deadline = time.monotonic() + 240
    while "stop with Ctrl-C" not in log.read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
    yield hive, connect, process, log
    if process.poll() is None:
        process.kill()


def beeline(port: int, script: str) -> str:
    """Run ``script`` through the Hive JDBC driver; its CSV output."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"beeline-{port}-{time.monotonic_ns()}.sql"
    path.write_text(script)
    done = subprocess.run(["java", "-cp", f"{JARS}/*", "org.apache.hive.beeline.BeeLine", "-u", f"jdbc:hive2://127.0.0.1:{port}/gold",
                           "--silent=true", "--outputformat=csv2", "-f", str(path)], capture_output=True, timeout=300)
    path.unlink()
    text = done.stdout.decode("utf-8", errors="replace")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return text


def csv_blocks(text: str) -> list[list[dict]]:
    """Beeline's csv2 output, one list of rows per statement (blocks are separated by blank lines)."""
    blocks = [b for b in text.replace("\r", "").split("\n\n") if b.strip()]
    return [list(csv.DictReader(io.StringIO(b.strip()), quotechar="\x00")) for b in blocks]  # Beeline quotes with NUL


def test_a_jdbc_client_browses_the_catalog_and_reads_the_marts(built_lake, endpoint):
    hive, _, process, _ = endpoint
    tables, columns, tiers = csv_blocks(beeline(hive, "!tables\n!columns customer_value\n"
                                                      "SELECT value_tier, count(*) AS n FROM gold.customer_value GROUP BY value_tier;\n"))
    docs = glossary.marts()
    gold = {r["TABLE_NAME"]: r["REMARKS"].strip() for r in tables if r["TABLE_SCHEM"] == "gold"}
    assert gold == {m: docs[m].description() for m in MARTS}
    silver = {r["TABLE_NAME"]: r["REMARKS"].strip() for r in tables if r["TABLE_SCHEM"] == "silver"}
    assert {"call", "counter_visit", "customer_dim", "callcentre_events"} <= set(silver)
    assert silver["call"].startswith("One row per call_id; built from call-centre events")
    assert silver["callcentre_events"].startswith("One row per event_id;")

    stored = DeltaTable(str(mart_table(built_lake.lake_root, "customer_value"))).to_pyarrow_table()
    assert [r["COLUMN_NAME"] for r in columns] == stored.column_names
    assert {r["COLUMN_NAME"]: r["REMARKS"] for r in columns} == {c: docs["customer_value"].columns[c] for c in stored.column_names}
    assert {r["value_tier"]: int(r["n"]) for r in tiers} == Counter(stored.column("value_tier").to_pylist())
    assert process.poll() is None


def test_a_spark_connect_client_reads_the_same_and_sees_tables_built_later(built_lake, endpoint):
    _, connect, process, log = endpoint
    extra = built_lake.lake_root / "gold" / "extra_mart"
    client = f"""
import sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote("sc://127.0.0.1:{connect}").getOrCreate()
print("sq", spark.table("gold.service_quality").count())
print("dim", spark.sql("SELECT count(*) FROM silver.customer_dim").first()[0])
sys.stdin.readline()  # the test has written a new table
for _ in range(60):
    names = {{t.name for t in spark.catalog.listTables("gold")}}
    if "extra_mart" in names:
        break
    time.sleep(1)
print("extra", spark.table("gold.extra_mart").count())
"""
    reader = subprocess.Popen([sys.executable, "-c", client], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")})
    first = [reader.stdout.readline().split() for _ in range(2)]
    write_deltalake(str(extra), pa.table({"k": ["a", "b", "c"]}))
    reader.stdin.write("\n")
    reader.stdin.flush()
    out, err = reader.communicate(timeout=180)
    assert reader.returncode == 0, err[-2000:]
    counts = dict(first) | dict(line.split() for line in out.splitlines())
    assert int(counts["sq"]) == DeltaTable(str(mart_table(built_lake.lake_root, "service_quality"))).to_pyarrow_table().num_rows
    assert int(counts["dim"]) == DeltaTable(str(built_lake.lake_root / "silver" / "customer_dim")).to_pyarrow_table().num_rows
    assert int(counts["extra"]) == 3

    process.send_signal(signal.SIGTERM)  # stops cleanly
    assert process.wait(timeout=120) == 0, log.read_text(errors="replace")[-3000:]
    assert list(process.cwd.iterdir()) == []

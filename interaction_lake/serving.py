"""The SQL endpoint over the lake (``interaction-lake serve``): every gold mart and silver table by name, for BI tools.

One Spark session with Delta serves two protocols from one catalog:

* **HiveServer2** (Spark's Thrift server): what Tableau, Power BI, Superset, Metabase and DBeaver connect to with
  their Spark SQL / Hive JDBC or ODBC driver (``jdbc:hive2://host:10000/gold``); catalog browsing (JDBC
  ``getTables``/``getColumns``) works, with the glossary's comments as remarks.
* **Spark Connect** (``sc://host:15002``): PySpark and notebooks, as the pipeline itself connects to a cluster.

Why Spark and not the embedded engine: Sail 0.7.2 keeps a catalog per client session (measured: a table one client
registers is not there for the next), so it cannot offer tables by name to every client; Spark's Thrift server and
Connect service share one catalog. Everything comes from the pyspark wheel (it ships the Thrift server's and
Connect's jars) and the Delta jars ``make jars`` pinned, so nothing else is installed.

Tables are registered as views ``gold.<mart>`` and ``silver.<table>`` over the Delta paths. Views, not catalog
tables: the Thrift server answers ``getColumns`` from the catalog's stored schema, which is empty for a Delta table
registered by location (its schema lives in the Delta log), so a BI tool would list tables without columns. A view
stores its columns and comments, and each query still reads the table's latest version. Registration is repeated
every ``refresh`` seconds, so a mart built after the endpoint started, or a new column, appears without a restart.
The endpoint reads only: nothing it registers is written to the lake.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from interaction_lake import glossary, lake
from interaction_lake.config import ConfigError, Settings
from interaction_lake.storage import location

DATABASES = ("gold", "silver")
HIVE_PORT = 10000  # HiveServer2's usual port
CONNECT_PORT = 15002  # Spark Connect's usual port


@dataclass(frozen=True)
class ServedTable:
    database: str
    name: str
    path: Path
    columns: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"


def served_tables(lake_root: Path) -> list[ServedTable]:
    """Every Delta table the endpoint offers: the gold marts and the silver tables (their own ``_`` state aside)."""
    found = []
    for database in DATABASES:
        layer = location(lake_root) / database
        for path in sorted(layer.iterdir()) if layer.is_dir() else ():
            if not path.name.startswith("_") and lake.exists(path):
                found.append(ServedTable(database, path.name, path, tuple(lake.column_names(path))))
    return found


def view_statement(table: ServedTable) -> str:
    """``CREATE OR REPLACE VIEW`` for one table, with the glossary's table and column comments for a mart."""
    doc = glossary.marts().get(table.name) if table.database == "gold" else None
    comments = doc.columns if doc else {}
    columns = ", ".join(_ident(c) + (f" COMMENT {_literal(comments[c])}" if c in comments else "") for c in table.columns)
    description = doc.description() if doc else glossary.silver_description(table.name)
    return (f"CREATE OR REPLACE VIEW {_ident(table.database)}.{_ident(table.name)} ({columns}) COMMENT {_literal(description)} "
            f"AS SELECT {', '.join(_ident(c) for c in table.columns)} FROM delta.{_ident(str(table.path))}")


def register(spark, lake_root: Path, known: dict[str, tuple[str, ...]] | None = None) -> dict[str, tuple[str, ...]]:
    """Create or replace the views of tables that are new or whose columns changed since ``known`` (name -> columns);
    drop the views of tables that are gone. Returns what is registered now."""
    known = dict(known or {})
    for database in DATABASES:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    tables = {t.qualified: t for t in served_tables(lake_root)}
    for name in set(known) - set(tables):
        spark.sql(f"DROP VIEW IF EXISTS {name}")
        del known[name]
    for name, table in tables.items():
        if known.get(name) != table.columns:
            spark.sql(view_statement(table))
            known[name] = table.columns
    return known


def session_conf(host: str, hive_port: int, connect_port: int, work: Path) -> dict[str, str]:
    """The serving session's own settings: its ports on ``host``, an in-memory catalog (the views are registered at
    every start; nothing needs a metastore), its scratch space outside the lake."""
    return {
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(work / "warehouse"),
        "spark.hadoop.hive.server2.thrift.bind.host": host,
        "spark.hadoop.hive.server2.thrift.port": str(hive_port),
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(connect_port),
        "spark.ui.enabled": "false",
        # Hive's execution client starts an embedded Derby, which writes derby.log where it runs: keep it in scratch
        "spark.driver.extraJavaOptions": f"-Dderby.stream.error.file={work / 'derby.log'}",
    }


def serve(settings: Settings, host: str = "127.0.0.1", hive_port: int = HIVE_PORT, connect_port: int = CONNECT_PORT,
          refresh_seconds: float = 60.0, ready=print, stop: threading.Event | None = None) -> None:
    """Start the endpoint and serve until ``stop`` is set or the process gets SIGINT/SIGTERM."""
    from interaction_lake.engine import classic_session, classic_spark_conf

    stop = stop or threading.Event()
    base = dataclasses.replace(settings, engine="spark", spark_remote=None)
    jars = classic_spark_conf(base).get("spark.jars")
    if not jars:
        raise ConfigError("the SQL endpoint needs Delta's jars on disk: run 'make jars' (or set INTERACTION_LAKE_DELTA_JARS_DIR)")
    with tempfile.TemporaryDirectory(prefix="interaction-lake-serve-") as work:
        conf = session_conf(host, hive_port, connect_port, Path(work))
        # The Thrift server's sessions load classes from the JVM's own class path, not from spark.jars: Delta's
        # catalog must be on it too (without, every connection fails: ClassNotFoundException DeltaCatalog).
        conf["spark.driver.extraClassPath"] = jars.replace(",", os.pathsep)
        spark = classic_session(base, conf, app_name="interaction-lake-serve")
        known = register(spark, settings.lake_root)
        jvm = spark._jvm
        jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithSparkSession(spark._jsparkSession, False)
        jvm.org.apache.spark.sql.connect.service.SparkConnectService.start(spark._jsc.sc())
        ready(endpoint_text(settings.lake_root, host, hive_port, connect_port, known))
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(refresh_seconds):
                known = register(spark, settings.lake_root, known)
        finally:
            jvm.org.apache.spark.sql.connect.service.SparkConnectService.stop(jvm.scala.Option.empty(), jvm.scala.Option.empty())
            spark.stop()


def endpoint_text(lake_root: Path, host: str, hive_port: int, connect_port: int, known: dict[str, tuple[str, ...]]) -> str:
    per_db = {db: sum(1 for n in known if n.startswith(f"{db}.")) for db in DATABASES}
    return "\n".join([
        f"serving {lake_root}: {per_db['gold']} gold mart(s), {per_db['silver']} silver table(s)"
        + ("" if known else " (nothing built yet: tables appear as they are built)"),
        f"  HiveServer2 (JDBC/ODBC, Spark SQL): jdbc:hive2://{host}:{hive_port}/gold   (no authentication: keep it on a trusted network)",
        f"  Spark Connect:                      sc://{host}:{connect_port}",
        "  stop with Ctrl-C",
    ])


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

"""The single Spark session factory: picks the engine from configuration.

``embedded`` (default) starts Sail -- a Rust engine that speaks Spark Connect and reads and
writes Delta natively -- inside this process and connects a PySpark Connect client to it. It
needs nothing but PyPI packages (no JVM, no Maven). ``spark`` connects to a real Apache Spark
with delta-spark: either a Spark Connect endpoint (``sc://...``) or a classic session whose
Delta jars come from a local directory (air-gapped banks) or from Maven coordinates.
Why Sail is the default is recorded in docs/adr/0001-engine.md.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from pyspark.sql import SparkSession

from interaction_lake.config import ConfigError, Settings

# Event time is UTC everywhere; the session must not reinterpret timestamps in local time.
# PySpark's DataFrame debugging (on by default) records the caller's file and line with every DataFrame and column
# function call -- each record walks the stack and tries to import IPython -- to quote them in engine errors: ~0.1 ms a
# call, ~7,000 calls and 0.4-0.5 s of a 1M day (bench/README.md). The pipeline's errors name their table and step already.
BASE_CONF = {"spark.sql.session.timeZone": "UTC", "spark.python.sql.dataFrameDebugging.enabled": "false"}
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# A classic session on one machine (local[N]): a few shuffle partitions, not 200; Delta's log state in 2, not 50;
# no UI server to bind, no console progress bars between the pipeline's own lines.
LOCAL_CONF = {"spark.sql.shuffle.partitions": "4", "spark.databricks.delta.snapshotPartitions": "2", "spark.ui.enabled": "false",
              "spark.ui.showConsoleProgress": "false"}
_lock = threading.Lock()
_embedded_server = None
_server_in_child = False  # the next embedded server starts in a child process (``renewed``)
_session: SparkSession | None = None
_kinds: dict[int, str] = {}  # id(session) -> the engine that built it, for interaction_lake.capabilities
_workers: dict[int, dict[int, SparkSession]] = {}  # id(session) -> its worker sessions (worker_session)


def kind_of(spark: SparkSession) -> str:
    """``embedded`` or ``spark``: which engine built this session (a session built elsewhere counts as Spark)."""
    return _kinds.get(id(spark), "spark")


def get_spark(settings: Settings | None = None) -> SparkSession:
    """Return the process-wide session for the configured engine (created on first use)."""
    global _session
    settings = settings or Settings.from_env()
    with _lock:
        if _session is None:
            _session = _build(settings)
            _kinds[id(_session)] = settings.engine
        return _session


def worker_session(spark: SparkSession, settings: Settings, worker: int) -> SparkSession:
    """Session number ``worker`` beside ``spark`` on its engine -- the same server or cluster, its own temporary views and
    SQL settings -- for work this process runs at once with other work (``interaction_lake.concurrently``). Made on first
    use and kept, for ``spark``'s life, for whoever runs as that worker next; stopped with it (``stop_spark``).

    Kept rather than made and stopped per use: pyspark's Connect clients share one thread pool, which closing any client
    shuts down, and a dropped session is closed whenever the garbage collector reaches it -- in whatever thread, even
    inside that pool's own ``submit``, which then waits on itself for ever (seen in CI: a silver build hung; pyspark
    4.1.4, the bugs SPARK-55362 and SPARK-55406 fix upstream)."""
    with _lock:
        made = _workers.setdefault(id(spark), {})
        if worker not in made:
            if _connected(spark):
                url = _embedded_url() if kind_of(spark) == "embedded" else settings.spark_remote
                made[worker] = _builder_with_conf(SparkSession.builder.remote(url), settings).create()
            else:  # classic: the same SparkContext (its jars and Delta's extensions), a session state of its own
                made[worker] = spark.newSession()
            _kinds[id(made[worker])] = kind_of(spark)
        return made[worker]


def _connected(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect client's session (the embedded engine's always is)."""
    return type(spark).__module__.startswith("pyspark.sql.connect.")  # a classic session's ``client`` raises


def stop_spark() -> None:
    """Stop the session and, for the embedded engine, the in-process server."""
    global _session, _embedded_server
    with _lock:
        if _session is not None:
            for session in [*_workers.pop(id(_session), {}).values(), _session]:
                _kinds.pop(id(session), None)
                session.stop()
                _disarm(session)
            _session = None
        if _embedded_server is not None:
            _embedded_server.stop()
            _embedded_server = None


atexit.register(stop_spark)


def _disarm(stopped: SparkSession) -> None:
    """Make a stopped Connect session safe to collect. Collecting one closes its client again (``__del__``), and closing any
    client shuts down the thread pool all Connect clients share -- whenever the garbage collector reaches it, in whatever
    thread, even inside that pool's own ``submit``, which then waits on itself for ever (``worker_session``). Its client
    was closed by ``stop``, so its second close is made a no-op; and the clean-up pyspark registers with ``atexit`` for each
    client (the server's ML cache: a closed client cannot reach it) is unregistered, as it held every client till the
    process's end. Before, stopped sessions were kept for the process's life: a process that renews its engine every day
    (``bench``) held three more Connect clients and channels a day."""
    client = getattr(stopped, "_client", None)  # a classic session has none: stopping it ends its context, nothing shared
    if client is not None:
        client.close = lambda: None
        if hasattr(client, "_cleanup_ml_cache"):
            atexit.unregister(client._cleanup_ml_cache)


def running() -> bool:
    """Whether this process has a session already (``renewed`` would stop it under whoever holds it)."""
    return _session is not None


def renewed(settings: Settings | None = None, own_process: bool = False) -> SparkSession:
    """The process-wide session, on the embedded engine a new one on a new server: what a process that runs job after
    job for days (``bench``) calls between days. Sail 0.7.2 keeps ~13 KB for every operation it has served, in any
    session, until its server stops (measured: docs/adr/0001-engine.md, "Known engine faults"), and memory its writes
    allocated stays with the process even then; with ``own_process`` the new server runs in a child process
    (``interaction_lake.embedded_server``), whose memory is the system's again when it stops -- what Airflow's
    process per task gives -- at ~1 s to start it. On Apache Spark the session is kept (its driver frees what its
    operations used). Only for a caller that owns the session: any other holder of the old one finds it stopped."""
    global _server_in_child
    settings = settings or Settings.from_env()
    if settings.engine == "embedded":
        stop_spark()
        _server_in_child = own_process
    return get_spark(settings)


def embedded_server_pid() -> int | None:
    """The process id of the embedded engine's server where it runs in a child process (``renewed``), else None."""
    return _embedded_server.pid if isinstance(_embedded_server, _ServerProcess) else None


class _ServerProcess:
    """The embedded engine's server in a child process (``interaction_lake.embedded_server``), stopped like Sail's own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "interaction_lake.embedded_server"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=_embedded_environment(dict(os.environ)))
        ready, _, _ = select.select([self.process.stdout], [], [], 120)  # starts in about a second: never wait forever
        port = self.process.stdout.readline().strip() if ready else ""
        if not port.isdigit():
            self.stop()
            raise ConfigError(f"the embedded engine's server process did not start (it said {port!r}; exit code "
                              f"{self.process.returncode})")
        self.pid, self.listening_address = self.process.pid, ("127.0.0.1", int(port))

    def stop(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def _build(settings: Settings) -> SparkSession:
    if settings.engine == "embedded":
        return _builder_with_conf(SparkSession.builder.remote(_embedded_url()), settings).getOrCreate()
    if settings.engine == "spark":
        if settings.spark_remote:
            _reachable(settings.spark_remote)
            return _builder_with_conf(SparkSession.builder.remote(settings.spark_remote), settings).getOrCreate()
        return classic_session(settings)
    raise ConfigError(f"unknown engine {settings.engine!r}")


def classic_session(settings: Settings, conf: dict[str, str] | None = None, app_name: str = "interaction-lake") -> SparkSession:
    """A classic (JVM) Spark session with Delta on ``settings.spark_master``, ``conf`` added (the SQL endpoint adds its
    servers'); not the process-wide session."""
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise ConfigError("engine spark without a Spark Connect URL needs Java 17+ (java on PATH or JAVA_HOME): install it "
                          "('make jars' does), or set INTERACTION_LAKE_SPARK_REMOTE, or use INTERACTION_LAKE_ENGINE=embedded")
    # pyspark marks a process that once made a Spark Connect session (SPARK_CONNECT_MODE_ENABLED), and its children
    # inherit the mark: a classic session would then be refused as a Connect one without a URL
    for mark in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE"):
        os.environ.pop(mark, None)
    builder = SparkSession.builder.master(settings.spark_master).appName(app_name)
    return _builder_with_conf(builder, settings, {**classic_spark_conf(settings), **(conf or {})}).getOrCreate()


def _reachable(url: str) -> None:
    """Fail in bounded time, in one line, when the Spark Connect endpoint does not answer: the client itself
    retries for about ten minutes and then leaves a process that does not exit."""
    import socket
    from urllib.parse import urlparse

    from interaction_lake.config import env_number

    parsed = urlparse(url.replace("sc://", "http://", 1))
    timeout = env_number("SPARK_CONNECT_TIMEOUT_SECONDS", 30.0)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 15002), timeout=timeout).close()
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot reach Spark Connect at {url} within {timeout:g} s ({error}); "
                          "check INTERACTION_LAKE_SPARK_REMOTE (INTERACTION_LAKE_SPARK_CONNECT_TIMEOUT_SECONDS sets the wait)") from None


def _builder_with_conf(builder, settings: Settings, conf: dict[str, str] | None = None):
    for key, value in {**BASE_CONF, **(conf or {}), **settings.extra_spark_conf}.items():
        builder = builder.config(key, value)
    return builder


def _embedded_environment(environment) -> dict:
    """``environment`` with the embedded engine's defaults (an operator's own values win)."""
    # Sail logs every server start at INFO; keep the console for the pipeline's own output unless asked.
    # Two warnings are noise here: Great Expectations persists each DataFrame it validates (a no-op in Sail,
    # useful on a Spark cluster), and the server says it aborts idle tasks when the process exits.
    # (The allocator's options are in it already: ``interaction_lake`` set them in os.environ when it was imported.)
    environment.setdefault("RUST_LOG", "warn,sail_spark_connect::service::plan_analyzer=error,sail_common::actor=error")
    return environment


def _embedded_url() -> str:
    global _embedded_server
    if _embedded_server is None:
        if _server_in_child:
            _embedded_server = _ServerProcess()
        else:
            _embedded_environment(os.environ)
            from pysail.spark import SparkConnectServer

            server = SparkConnectServer(ip="127.0.0.1", port=0)
            server.start(background=True)
            _embedded_server = server
    _, port = _embedded_server.listening_address
    return f"sc://127.0.0.1:{port}"


def classic_spark_conf(settings: Settings) -> dict[str, str]:
    """Spark conf for a classic (JVM) session with Delta: local jars if given, else Maven.

    A jar directory that holds no delta-spark jar is a configuration error, raised here with
    the path, rather than a ClassNotFoundException deep inside the JVM later.
    """
    from interaction_lake.jars import cached_jars

    from interaction_lake import storage

    conf = {**DELTA_CONF, **storage.spark_conf()}  # a lake on S3 (harmless for one on disk)
    if settings.spark_master.startswith("local"):  # one machine: Spark's cluster-sized defaults only add tasks
        conf.update(LOCAL_CONF)
    if settings.delta_jars_dir is None and (pinned := cached_jars()):  # the jars 'make jars' resolved and verified
        conf["spark.jars"] = ",".join(str(jar) for jar in pinned)
        return conf
    jars_dir = settings.delta_jars_dir  # an air-gapped bank's directory
    if jars_dir is not None:
        jars = sorted(Path(jars_dir).glob("*.jar"))
        if not any(jar.name.startswith(("delta-spark", "delta-core")) for jar in jars):
            raise ConfigError(
                f"no delta-spark jar in {jars_dir} (INTERACTION_LAKE_DELTA_JARS_DIR); "
                "put delta-spark_4.1_2.13-<version>.jar and delta-storage-<version>.jar there"
            )
        conf["spark.jars"] = ",".join(str(jar) for jar in jars)
    else:
        conf["spark.jars.packages"] = settings.delta_package
    return conf

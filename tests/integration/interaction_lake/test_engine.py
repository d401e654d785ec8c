"""The session factory: the embedded engine writes and time-travels real Delta; misconfiguration fails clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from interaction_lake import allocator
from interaction_lake.config import ConfigError, Settings
from interaction_lake.engine import classic_spark_conf


def test_embedded_engine_round_trips_delta_with_time_travel(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.createDataFrame([(1, "a")], "id long, v string").write.format("delta").save(path)
    spark.createDataFrame([(2, "b")], "id long, v string").write.format("delta").mode("append").save(path)
    assert spark.read.format("delta").load(path).count() == 2
    assert spark.read.format("delta").option("versionAsOf", 0).load(path).count() == 1
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_classic_conf_uses_local_jars_when_given(tmp_path):
    (tmp_path / "delta-spark_2.13-4.1.0.jar").write_bytes(b"")
    (tmp_path / "delta-storage-4.1.0.jar").write_bytes(b"")
    conf = classic_spark_conf(Settings(engine="spark", delta_jars_dir=tmp_path))
    assert conf["spark.jars"].split(",") == [str(tmp_path / "delta-spark_2.13-4.1.0.jar"), str(tmp_path / "delta-storage-4.1.0.jar")]
    assert "spark.jars.packages" not in conf
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"


def test_classic_conf_refuses_a_jar_directory_without_delta(tmp_path):
    with pytest.raises(ConfigError, match="no delta-spark jar"):
        classic_spark_conf(Settings(engine="spark", delta_jars_dir=tmp_path))


def test_classic_conf_takes_the_verified_jar_cache_else_maven_coordinates(monkeypatch, tmp_path):
    from interaction_lake import jars

    monkeypatch.setattr(jars, "CACHE", tmp_path / "nothing-fetched")
    assert classic_spark_conf(Settings(engine="spark"))["spark.jars.packages"].startswith("io.delta:delta-spark_4.1_2.13:")
    cache = tmp_path / "cache"
    cache.mkdir()
    for jar in jars.pinned():
        (cache / jar.file_name).write_bytes(b"jar")
    (cache / "delta-spark_2.13-4.1.0.jar").write_bytes(b"an older release left behind")
    monkeypatch.setattr(jars, "CACHE", cache)
    conf = classic_spark_conf(Settings(engine="spark"))
    assert "spark.jars.packages" not in conf  # the pinned jars exactly, never a stale one beside them
    assert conf["spark.jars"].split(",") == [str(cache / jar.file_name) for jar in jars.pinned()]
    assert conf["spark.sql.shuffle.partitions"] == "4"  # a local session is not sized for a cluster


def test_unknown_engine_is_a_config_error(monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_ENGINE", "duckdb")
    with pytest.raises(ConfigError, match="must be one of embedded, spark"):
        Settings.from_env()


CLASSIC = """
import shutil, sys
from interaction_lake.config import Settings
from interaction_lake.engine import get_spark
spark = get_spark(Settings(engine="spark", spark_master="local[2]"))
path = sys.argv[1]
for n in range(12):  # Delta writes a checkpoint at version 10: reading it is what delta-spark 4.1.0 failed on Spark 4.1.4
    spark.createDataFrame([(n, "a")], "n long, s string").write.format("delta").mode("append").save(path)
spark.sql(f"MERGE INTO delta.`{path}` t USING (SELECT 3 AS n, 'b' AS s) s ON t.n = s.n WHEN MATCHED THEN UPDATE SET t.s = s.s")
rows = sorted((r.n, r.s) for r in spark.read.format("delta").load(path).collect())
print(rows == [(n, "b" if n == 3 else "a") for n in range(12)], spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count())
"""


def test_apache_spark_with_the_pinned_delta_jars_reads_a_checkpoint_and_merges(tmp_path, delta_jars):
    """The classic engine as a bank's cluster runs it, on the jars 'make jars' resolved (docs/adr/0001-engine.md)."""
    done = subprocess.run([sys.executable, "-c", CLASSIC, str(tmp_path / "table")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "13"]


def test_the_allocator_options_are_set_before_arrow_or_the_engine_loads_unless_the_operator_set_them():
    """Sail's and pyarrow's allocator (mimalloc) reads its options when its library loads: importing the package sets
    them before either can load, keeping an operator's own values (``interaction_lake.allocator``; bench/README.md)."""
    code = ("import os, sys; import interaction_lake; "
            "assert not {'pysail', 'pyarrow'} & set(sys.modules), 'loaded before the options were set'; "
            "show = lambda: print(os.environ.get('MIMALLOC_PURGE_DELAY'), os.environ.get('MIMALLOC_ARENA_EAGER_COMMIT')); show(); "
            "from interaction_lake.config import Settings; from interaction_lake.engine import get_spark; "
            "get_spark(Settings()).range(1).collect(); show()")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    for operator_set, expected in (({}, [allocator.OPTIONS["MIMALLOC_PURGE_DELAY"], allocator.OPTIONS["MIMALLOC_ARENA_EAGER_COMMIT"]]),
                                   ({"MIMALLOC_PURGE_DELAY": "25"}, ["25", allocator.OPTIONS["MIMALLOC_ARENA_EAGER_COMMIT"]])):
        out = subprocess.run([sys.executable, "-c", code], env={**env, **operator_set}, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split() == expected * 2  # as the package is imported, and as the engine runs


DEBUGGING = """
import sys
import pyspark.errors.utils as debugging
from pyspark.sql import functions as F
from interaction_lake.config import Settings
from interaction_lake.engine import get_spark
spark = get_spark(Settings(engine=sys.argv[1], spark_master="local[1]"))
captured = []
capture = debugging._capture_call_site
debugging._capture_call_site = lambda depth: captured.append(depth) or capture(depth)
rows = spark.range(3).select((F.col("id") + F.lit(1)).alias("x")).where(F.col("x") > 1).count()
print(spark.conf.get("spark.python.sql.dataFrameDebugging.enabled"), len(captured), rows)
"""


@pytest.mark.parametrize("engine", ["embedded", "spark"])
def test_sessions_do_not_record_the_call_site_of_every_dataframe_call(engine, request):
    """PySpark's DataFrame debugging walks the stack and tries to import IPython on every DataFrame and column call (~0.1
    ms each, 0.4-0.5 s of a 1M day): both engines' sessions turn it off (``engine.BASE_CONF``; bench/README.md)."""
    if engine == "spark":
        request.getfixturevalue("delta_jars")
    done = subprocess.run([sys.executable, "-c", DEBUGGING, engine], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["false", "0", "2"]


RENEW = """
import json, os, sys
from interaction_lake.config import Settings
from interaction_lake import allocator, engine
settings = Settings().with_paths(lake_root=sys.argv[1] + '/lake', landing_root=sys.argv[1] + '/landing')
first = engine.get_spark(settings)
first.range(3).write.format('delta').save(sys.argv[1] + '/t')
old_server = engine._embedded_server
second = engine.renewed(settings)
try:
    first.range(1).collect()
    old_session_works = True
except Exception:
    old_session_works = False
rows, kind = sorted(r.id for r in second.read.format('delta').load(sys.argv[1] + '/t').collect()), engine.kind_of(second)
third = engine.renewed(settings, own_process=True)
child = engine.embedded_server_pid()
parent = int(open(f'/proc/{child}/stat').read().rsplit(')', 1)[1].split()[1])
environ = open(f'/proc/{child}/environ', 'rb').read().split(b'\\0')
options = all(f'{k}={v}'.encode() in environ for k, v in allocator.OPTIONS.items())
third.range(3, 5).write.format('delta').mode('append').save(sys.argv[1] + '/t')
fourth = engine.renewed(settings)
print(json.dumps({'new_session': second is not first, 'new_server': engine._embedded_server is not old_server,
                  'old_session_works': old_session_works, 'kind': kind, 'rows': rows,
                  'child_of_this_process': parent == os.getpid(), 'child_allocator': options,
                  'child_gone': not os.path.exists(f'/proc/{child}'), 'in_process_again': engine.embedded_server_pid() is None,
                  'rows_after': sorted(r.id for r in fourth.read.format('delta').load(sys.argv[1] + '/t').collect())}))
"""


def test_a_renewed_embedded_engine_is_a_new_server_that_reads_the_same_lake(tmp_path):
    """``engine.renewed`` (what ``bench`` calls between days: Sail keeps memory for every operation its server has served)
    stops the session and the in-process server, and the next session, on a new server, reads what the old one wrote;
    with ``own_process`` the new server is a child process with the engine's allocator options, gone once renewed again.
    In a child process: the tests' own session must not be stopped."""
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    out = subprocess.run([sys.executable, "-c", RENEW, str(tmp_path)], capture_output=True, text=True, timeout=300,
                         env={**env, "INTERACTION_LAKE_ENGINE": "embedded"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {"new_session": True, "new_server": True, "old_session_works": False,
                                                         "kind": "embedded", "rows": [0, 1, 2], "child_of_this_process": True,
                                                         "child_allocator": True, "child_gone": True, "in_process_again": True,
                                                         "rows_after": [0, 1, 2, 3, 4]}


COLLECTED = """
import gc, json, sys, weakref
from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator as Reattach
from pyspark.sql.connect.client.core import SparkConnectClient
from pyspark.sql.connect.session import SparkSession
from interaction_lake.config import Settings
from interaction_lake import engine
settings = Settings().with_paths(lake_root=sys.argv[1] + '/lake', landing_root=sys.argv[1] + '/landing')
spark = engine.get_spark(settings)
spark.range(1).collect()
held, gone = spark, []
for _ in range(3):
    gone.append(weakref.ref(spark))
    spark = engine.renewed(settings)
    spark.range(1).collect()
pool = Reattach._release_thread_pool_instance  # the pool every Connect client shares, made by the last query
del held
gc.collect()
print(json.dumps({'sessions': sum(isinstance(o, SparkSession) for o in gc.get_objects()),
                  'clients': sum(isinstance(o, SparkConnectClient) for o in gc.get_objects()),
                  'stopped_collected': all(ref() is None for ref in gone),
                  'pool_kept': pool is not None and Reattach._release_thread_pool_instance is pool,
                  'rows': spark.range(3).count()}))
"""


def test_stopped_sessions_are_collected_without_shutting_the_live_session_s_shared_pool(tmp_path):
    """A process that renews its engine day after day does not keep its stopped sessions (and their clients and
    channels), and collecting one leaves the thread pool all Connect clients share running for the live session: a
    collected session closes its client again, which would shut that pool down under whatever runs (engine._disarm)."""
    import json

    out = subprocess.run([sys.executable, "-c", COLLECTED, str(tmp_path)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "INTERACTION_LAKE_ENGINE": "embedded"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {"sessions": 1, "clients": 1, "stopped_collected": True, "pool_kept": True,
                                                         "rows": 3}


def test_the_engine_s_server_process_does_not_outlive_a_killed_parent():
    """A process killed outright (SIGKILL: no clean-up runs) leaves no engine server behind: the server serves until its
    standard input, held by its parent, closes."""
    code = ("from interaction_lake.config import Settings; from interaction_lake import engine; "
            "engine.renewed(Settings(), own_process=True).range(1).collect(); print(engine.embedded_server_pid(), flush=True); "
            "import time; time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "INTERACTION_LAKE_ENGINE": "embedded"})
    try:
        server = int(parent.stdout.readline())
        assert os.path.exists(f"/proc/{server}")
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(server):
        time.sleep(0.1)
    assert not _alive(server)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped (its parent, here init, reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

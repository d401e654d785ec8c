"""The same jobs on each engine give the same lake: the embedded engine (Sail) and Apache Spark + delta-spark,
classic (``local[2]``) and on a standalone cluster reached through Spark Connect (issue 18, docs/adr/0001-engine.md).

One small bank with every kind of fault lives through ``scenario.py`` on each engine: two days of landing,
silver and marts, late and resent files, a rerun that must find nothing new, an erasure with VACUUM. Every
Delta table of the lakes -- bronze, quarantine, silver, gold, the ledger and the gate results -- must then hold
the same rows (``lakes.py``: run times and run ids aside). The embedded run's gates are evaluated by Great
Expectations itself, the Spark runs' by the compiled evaluator, so the gate results compare the two as well.

On 2 cores a Spark run of the scenario takes about 14 minutes (docs/adr/0001-engine.md says where), so ``make test``
runs it once, on the standalone cluster through Spark Connect -- the shape a bank runs -- while classic ``local[2]``
runs every capability test (``test_capabilities_on_spark.py``) and the checkpoint test in
``tests/integration/interaction_lake/test_engine.py``; ``make test-spark`` (``INTERACTION_LAKE_CONFORMANCE=full``)
runs the scenario on classic Spark too.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.conformance.runs import finish, same_lakes, start

pytestmark = pytest.mark.spark


@pytest.mark.skipif(os.environ.get("INTERACTION_LAKE_CONFORMANCE") != "full",
                    reason="the classic local[2] run of the scenario (~14 min on 2 cores) runs under 'make test-spark'; "
                           "make test runs the standalone cluster's and every capability test on classic Spark")
def test_classic_spark_with_delta_builds_the_lake_the_embedded_engine_builds(bank, embedded_lake):
    spark = finish(*start(bank, "classic", INTERACTION_LAKE_ENGINE="spark", INTERACTION_LAKE_SPARK_MASTER="local[2]"))
    same_lakes(embedded_lake(), spark)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, delta_jars):
    from tests.integration.conformance.cluster import StandaloneCluster

    started = StandaloneCluster(tmp_path_factory.mktemp("cluster"), delta_jars).start()
    yield started
    started.stop()


def test_a_standalone_cluster_through_spark_connect_builds_the_lake_the_embedded_engine_builds(bank, embedded_lake, cluster):
    spark = finish(*start(bank, "connect", INTERACTION_LAKE_ENGINE="spark", INTERACTION_LAKE_SPARK_REMOTE=cluster.connect_url))
    same_lakes(embedded_lake(), spark)

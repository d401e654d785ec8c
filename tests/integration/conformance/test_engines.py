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

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conformance.lakes import differences

pytestmark = pytest.mark.spark

SCENARIO = Path(__file__).with_name("scenario.py")
SECRET = "conformance-secret"
FIRST_DAY = dt.date(2026, 11, 2)


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    """Three days of a small bank with faults; the third day kept aside as the later delivery."""
    from interaction_lake.generator import generate

    root = tmp_path_factory.mktemp("bank")
    generate(root / "landing", customers=150, days=3, seed=11, start=FIRST_DAY, fault_rate=0.05)
    later = (FIRST_DAY + dt.timedelta(days=2)).isoformat()
    for folder in (root / "landing").glob(f"*/{later}"):
        shutil.move(folder, root / "later" / folder.parent.name / later)
    return root


def _start(bank: Path, name: str, **env: str) -> tuple[subprocess.Popen, Path]:
    """Run the scenario on its own copy of the landing zone, in its own process."""
    work = bank.parent / name
    shutil.copytree(bank / "landing", work / "landing")
    environment = {**os.environ, "INTERACTION_LAKE_PSEUDONYM_SECRET": SECRET, "INTERACTION_LAKE_PROGRESS": "0",
                   "PYSPARK_PYTHON": sys.executable, **env}
    for variable in ("INTERACTION_LAKE_SPARK_REMOTE", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        if variable not in env:
            environment.pop(variable, None)
    process = subprocess.Popen([sys.executable, str(SCENARIO), str(work / "landing"), str(work / "lake"), str(bank / "later")],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work)
    return process, work


def _finish(process: subprocess.Popen, work: Path) -> Path:
    out, err = process.communicate(timeout=1800)
    assert process.returncode == 0, err[-4000:]
    codes = json.loads(out.strip().splitlines()[-1])
    assert set(codes.values()) == {0}, (codes, (work / "lake.out").read_text()[-3000:], err[-3000:])
    return work


def _same_lakes(left: Path, right: Path) -> None:
    places = lambda work: {str(work / "landing"): "<landing>", str(work / "lake"): "<lake>"}  # noqa: E731
    assert differences(left / "lake", right / "lake", places(left), places(right)) == []


@pytest.fixture(scope="module")
def embedded_lake(bank):
    """The embedded engine's lake, built beside the first Spark run (its result waited for when first asked)."""
    # Validated by Great Expectations' own validator, so the Spark runs (compiled gates) are compared with it too.
    running = _start(bank, "embedded", INTERACTION_LAKE_ENGINE="embedded", INTERACTION_LAKE_GATE_EVALUATOR="great_expectations")
    done: list[Path] = []
    return lambda: done[0] if done else done.append(_finish(*running)) or done[0]


@pytest.mark.skipif(os.environ.get("INTERACTION_LAKE_CONFORMANCE") != "full",
                    reason="the classic local[2] run of the scenario (~14 min on 2 cores) runs under 'make test-spark'; "
                           "make test runs the standalone cluster's and every capability test on classic Spark")
def test_classic_spark_with_delta_builds_the_lake_the_embedded_engine_builds(bank, embedded_lake):
    spark = _finish(*_start(bank, "classic", INTERACTION_LAKE_ENGINE="spark", INTERACTION_LAKE_SPARK_MASTER="local[2]"))
    _same_lakes(embedded_lake(), spark)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from interaction_lake import jars
    from tests.integration.conformance.cluster import StandaloneCluster

    if jars.cached_jars() is None:
        pytest.fail("Delta's jars are not in .cache/jars: run 'make jars' (make test does)")
    started = StandaloneCluster(tmp_path_factory.mktemp("cluster"), jars.cached_jars()).start()
    yield started
    started.stop()


def test_a_standalone_cluster_through_spark_connect_builds_the_lake_the_embedded_engine_builds(bank, embedded_lake, cluster):
    spark = _finish(*_start(bank, "connect", INTERACTION_LAKE_ENGINE="spark", INTERACTION_LAKE_SPARK_REMOTE=cluster.connect_url))
    _same_lakes(embedded_lake(), spark)

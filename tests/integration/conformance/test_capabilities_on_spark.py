"""Every capability test (tests/integration/interaction_lake/test_capabilities.py) again on Apache Spark + delta-spark:
the same functions, given a classic ``local[2]`` session in a process of their own, so each capability in
``interaction_lake.capabilities`` is checked against what both engines really do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[3]
PROBE = """
import importlib, inspect, pathlib, sys, tempfile, traceback
from interaction_lake.config import Settings
from interaction_lake.engine import get_spark
module = importlib.import_module("tests.integration.interaction_lake.test_capabilities")
spark = get_spark(Settings(engine="spark", spark_master="local[2]"))
failed = 0
for name, test in inspect.getmembers(module, inspect.isfunction):
    if name.startswith("test_"):
        with tempfile.TemporaryDirectory() as folder:
            try:
                test(spark, pathlib.Path(folder))
                print("passed", name)
            except Exception:
                failed += 1
                print("FAILED", name, traceback.format_exc()[-2000:])
sys.exit(1 if failed else 0)
"""


def test_each_capability_test_passes_on_apache_spark_too():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("passed")]
    assert len(passed) >= 3, done.stdout

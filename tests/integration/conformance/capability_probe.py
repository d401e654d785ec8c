"""Every capability test (tests/integration/interaction_lake/test_capabilities.py) in a process of its own, on the engine
and in the places given: ``python capability_probe.py ENGINE ROOT...`` where ENGINE is ``embedded`` or ``spark`` (a
classic ``local[2]`` session) and each ROOT is ``local`` (a temporary folder) or an ``s3://`` URI under which each test
gets a prefix of its own. Prints ``passed <root> <test>`` or ``FAILED <root> <test> <traceback>`` per test; exits 1 if any
failed."""

from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import subprocess
import sys
import tempfile
import traceback
import uuid

REPO = pathlib.Path(__file__).resolve().parents[3]


def probe(engine: str, *roots: str, env: dict[str, str] | None = None) -> list[str]:
    """Run this script on ``engine`` in each of ``roots`` (from a test); the ``<root> <test>`` pairs that passed."""
    done = subprocess.run([sys.executable, __file__, engine, *roots], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return [" ".join(line.split()[1:3]) for line in done.stdout.splitlines() if line.startswith("passed")]


def main(engine: str, roots: list[str]) -> int:
    from interaction_lake.config import Settings
    from interaction_lake.engine import get_spark
    from interaction_lake.storage import location

    module = importlib.import_module("tests.integration.interaction_lake.test_capabilities")
    spark = get_spark(Settings(engine="spark", spark_master="local[2]") if engine == "spark" else Settings())
    failed = 0
    for root in roots:
        for name, test in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_"):
                continue
            with tempfile.TemporaryDirectory() as folder:
                where = pathlib.Path(folder) if root == "local" else location(f"{root}/{name}-{uuid.uuid4().hex[:6]}")
                try:
                    test(spark, where)
                    print("passed", root, name, flush=True)
                except Exception:
                    failed += 1
                    print("FAILED", root, name, traceback.format_exc()[-2000:], flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))

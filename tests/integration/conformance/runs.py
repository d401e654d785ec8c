"""Runs of the conformance scenario (``scenario.py``) in their own processes, and the comparison of the lakes they leave.

``bank`` (``conftest.py``) is a small bank's landing zone with faults and a later delivery; ``start`` runs the scenario
on a copy of it with the environment given (the engine, the lake's place); ``finish`` waits and checks every step
succeeded; ``same_lakes`` compares two lakes table by table (``lakes.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration.conformance.lakes import differences

SCENARIO = Path(__file__).with_name("scenario.py")
SECRET = "conformance-secret"


def start(bank: Path, name: str, lake: str | None = None, **env: str) -> tuple[subprocess.Popen, Path]:
    """Run the scenario on its own copy of the landing zone, in its own process; the lake in ``<work>/lake`` unless
    ``lake`` names another place (an ``s3://`` URI)."""
    work = bank.parent / name
    shutil.copytree(bank / "landing", work / "landing")
    environment = {**os.environ, "INTERACTION_LAKE_PSEUDONYM_SECRET": SECRET, "INTERACTION_LAKE_PROGRESS": "0",
                   "PYSPARK_PYTHON": sys.executable, **env}
    for variable in ("INTERACTION_LAKE_SPARK_REMOTE", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        if variable not in env:
            environment.pop(variable, None)
    process = subprocess.Popen([sys.executable, str(SCENARIO), str(work / "landing"), lake or str(work / "lake"), str(bank / "later")],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work)
    return process, work


def finish(process: subprocess.Popen, work: Path) -> Path:
    out, err = process.communicate(timeout=1800)
    assert process.returncode == 0, err[-4000:]
    codes = json.loads(out.strip().splitlines()[-1])
    assert set(codes.values()) == {0}, (codes, (work / "scenario.out").read_text()[-3000:], err[-3000:])
    return work


def same_lakes(left: Path, right: Path, left_lake=None, right_lake=None) -> None:
    """The lakes of two runs hold the same rows in every table (each in ``<work>/lake`` unless given)."""
    places = lambda work, lake: {str(work / "landing"): "<landing>", str(lake): "<lake>"}  # noqa: E731
    left_lake, right_lake = left_lake or left / "lake", right_lake or right / "lake"
    assert differences(left_lake, right_lake, places(left, left_lake), places(right, right_lake)) == []

"""Shared fixtures. Tests under tests/unit are marked ``unit``; under tests/integration, ``integration``.

Integration tests share one embedded engine (Sail, in-process) per test session and write real
Delta tables into pytest's temporary directories.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from interaction_lake.config import Settings

TESTS = Path(__file__).parent
REPO = TESTS.parent

# Airflow reads its configuration when first imported: give the test session its own AIRFLOW_HOME
# (never ~/airflow), the project's dags/ and no example DAGs.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="interaction-lake-airflow-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


# Property tests run a fixed, derandomised set of examples by default, so CI is repeatable;
# HYPOTHESIS_PROFILE=explore draws new random examples on every run, to hunt for bugs.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("default", derandomize=True)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def bench_script(name: str):
    """A script of ``bench/`` as a module (the folder is not a package: the scripts run as files)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(config, items):
    for item in items:
        layer = Path(item.fspath).relative_to(TESTS).parts[0]
        if layer in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(scope="session")
def spark():
    from interaction_lake.engine import get_spark, stop_spark

    session = get_spark(Settings())
    yield session
    stop_spark()


@pytest.fixture(scope="session")
def delta_jars() -> list[Path]:
    """The Delta jars 'make jars' resolved and verified, which the Spark engine's tests run on; a failure, not a skip,
    without them (``make test`` resolves them first)."""
    from interaction_lake import jars

    pinned = jars.cached_jars()
    if pinned is None:
        pytest.fail("Delta's jars are not in .cache/jars: run 'make jars' (make test does)")
    return pinned


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings().with_paths(lake_root=tmp_path / "lake", landing_root=tmp_path / "landing")


@pytest.fixture
def small_bank(settings: Settings):
    """A small generated landing zone with every kind of fault, and its manifest."""
    from interaction_lake.generator import generate

    return generate(settings.landing_root, customers=300, days=3, seed=7, start=dt.date(2026, 11, 2), fault_rate=0.05)


@pytest.fixture
def run_cli():
    """Run ``interaction-lake <args>`` in a new process on ``settings``' lake, optionally killed (SIGKILL) at
    a crash point (``interaction_lake.faults``); returns the completed process."""
    def run(settings: Settings, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "INTERACTION_LAKE_LAKE_ROOT": str(settings.lake_root),
               "INTERACTION_LAKE_LANDING_ROOT": str(settings.landing_root), "INTERACTION_LAKE_PROGRESS": "0"}
        env.pop("INTERACTION_LAKE_CRASH_AT", None)
        if crash_at:
            env["INTERACTION_LAKE_CRASH_AT"] = crash_at
        return subprocess.run([sys.executable, "-m", "interaction_lake", *args], env=env, capture_output=True, text=True, timeout=600)
    return run

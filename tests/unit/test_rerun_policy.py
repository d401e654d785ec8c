"""The test suite reruns a test only for the embedded engine's known transport fault (docs/adr/0001-engine.md,
"Known engine faults"), never for anything else: the policy in pyproject.toml, run by pytest itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from tests.conftest import bench_script

REPO = Path(__file__).resolve().parents[2]
# The error as the CI run of 2026-12-03 printed it (str() of pyspark's exception wrapping the gRPC call).
SEEN = ('<_MultiThreadedRendezvous of RPC that terminated with:\n\tstatus = StatusCode.INTERNAL\n'
        '\tdetails = "internal error: task context not found for operation"\n'
        '\tdebug_error_string = "INTERNAL:internal error: task context not found for operation"\n>')
# The same fault on a unary call (no reattach), as the CI run of 2026-12-04 printed it.
SEEN_UNARY = ('<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.INTERNAL\n'
              '\tdetails = "Exception deserializing response!"\n\tdebug_error_string = "None"\n>')


def _policy() -> dict:
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return {"reruns": options["reruns"], "only_rerun": options["only_rerun"]}


def _run(tmp_path: Path, body: str) -> str:
    """pytest on one test file under the project's rerun policy; what its summary line says."""
    policy = _policy()
    (tmp_path / "pytest.ini").write_text("[pytest]\nreruns = %s\nonly_rerun =\n%s\n" % (
        policy["reruns"], "\n".join(f"    {p}" for p in policy["only_rerun"])))
    (tmp_path / "test_it.py").write_text(textwrap.dedent(body))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_it.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip().splitlines()[-1]


PRELUDE = """
    from pathlib import Path
    from pyspark.errors.exceptions.connect import SparkConnectGrpcException

    def fails_first_time(name, error):
        mark = Path.cwd() / f"tried-{name}"  # the outer test's folder: survives the rerun, not the next run
        if not mark.exists():
            mark.write_text("")
            raise error
"""


@pytest.mark.parametrize("seen", [SEEN, SEEN_UNARY], ids=["reattached", "unary"])
def test_the_engine_fault_as_seen_is_rerun_once_and_then_passes(tmp_path, seen):
    summary = _run(tmp_path, PRELUDE + f"""
    def test_flaky():
        fails_first_time("flaky", SparkConnectGrpcException(message={seen!r}, grpc_status_code=None))
    """)
    assert "1 passed" in summary and "1 rerun" in summary, summary


def test_any_other_failure_fails_at_once(tmp_path):
    summary = _run(tmp_path, PRELUDE + """
    def test_other_engine_error():
        fails_first_time("other", SparkConnectGrpcException(message="internal error: task is being paused"))

    def test_a_wrong_answer():
        assert 1 == 2, "internal error: task context not found for operation"
    """)
    assert "2 failed" in summary and "rerun" not in summary, summary


def test_the_fault_in_a_child_process_is_rerun_once_as_reported_by_the_airflow_task_benchmark(tmp_path):
    """A test that runs the pipeline in a child process fails with the child's report: bench/airflow_tasks.py reports a
    failed worker with the end of its traceback (``failure``), which holds the fault's own text."""
    traceback = "\n".join(["Traceback (most recent call last):", *[f'  File "x.py", line {n}, in f' for n in range(60)],
                           f"pyspark.errors.exceptions.connect.SparkConnectGrpcException: {SEEN}"])
    failure = bench_script("airflow_tasks").failure
    report = failure("warm", 1, traceback + "\n")
    summary = _run(tmp_path, PRELUDE + f"""
    def test_child():
        fails_first_time("child", AssertionError({report!r}))

    def test_child_failing_otherwise():
        fails_first_time("other", AssertionError({failure("warm", 1, traceback.replace("context not found", "is paused"))!r}))
    """)
    assert "1 failed, 1 passed" in summary and "1 rerun" in summary, summary

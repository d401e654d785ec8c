"""``interaction_lake.concurrently``: jobs run in their order, a failure stops the jobs not yet started, and one worker
runs them one after the other on the caller's own session. (Each job on a session of its own, on both engines:
tests/integration/interaction_lake/test_capabilities.py.)"""

from __future__ import annotations

import threading
import time

import pytest

from interaction_lake import concurrently
from interaction_lake.config import Settings


def test_a_failed_job_stops_the_jobs_not_yet_started_and_is_raised_after_those_running_finish(spark):
    started, finished, both, failing = [], [], threading.Barrier(2, timeout=120), threading.Event()

    def job(session, i: int) -> int:
        started.append(i)
        if i < 2:
            both.wait()  # 0 and 1 run at once
        if i == 1:
            failing.set()
            raise ValueError("job 1 failed")
        if i == 0:  # still running when 1 fails: it finishes, and frees its worker only after the failure
            assert failing.wait(120)
            time.sleep(0.5)
        session.range(1).collect()
        finished.append(i)
        return i

    with pytest.raises(ValueError, match="job 1 failed"):
        concurrently.each(spark, Settings(), job, range(6), workers=2)
    assert sorted(started) == [0, 1] and finished == [0]  # job 0 ran to its end; 2-5 never started


def test_one_worker_runs_the_jobs_one_after_the_other_on_the_caller_s_session(spark):
    seen = []
    done = concurrently.each(spark, Settings(parallelism=1), lambda session, i: seen.append((session, threading.current_thread())) or i,
                             iter(range(3)))
    assert done == [0, 1, 2] and all(s is spark and t is threading.main_thread() for s, t in seen)

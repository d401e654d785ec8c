"""``interaction_lake.concurrently``: jobs run in their order, a failure stops the jobs not yet started, and one worker
runs them one after the other on the caller's own session. (Each job on a session of its own, on both engines:
tests/integration/interaction_lake/test_capabilities.py.)"""

from __future__ import annotations

import gc
import threading
import time
import weakref

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


def test_the_workers_sessions_are_kept_for_the_next_run_and_never_left_to_the_garbage_collector(spark):
    """pyspark's Connect clients share one thread pool, which closing any client shuts down, and a dropped session is
    closed whenever the garbage collector reaches it, in whatever thread -- inside that pool's own ``submit`` it waits
    on itself for ever (a silver build hung so in CI). So each worker's session is made once, kept and used again."""
    both = threading.Barrier(2, timeout=120)

    def job(session, i: int):
        both.wait()  # two workers, each with its session
        return weakref.ref(session)

    first = concurrently.each(spark, Settings(), job, range(2), workers=2)
    gc.collect()
    assert all(ref() is not None for ref in first)  # still referenced: never closed by the collector mid-run
    again = concurrently.each(spark, Settings(), job, range(2), workers=2)
    assert {id(ref()) for ref in again} == {id(ref()) for ref in first} and id(spark) not in {id(ref()) for ref in first}

"""Independent jobs of one process run at once, each on an engine session of its own.

A day's silver build is one build per source, and each is many small engine operations -- planning, replaying a
Delta log, committing -- between which the engine's cores wait: two sources built at once take less time than one
after the other (bench/README.md, "Silver's sources two at a time"). Each worker thread gets its own session on the
same server or cluster (``engine.worker_session``, kept for the next run), so temporary views and SQL settings never
cross between jobs; the jobs must not share anything else but the lake, whose shared tables take concurrent commits
(``lake.creating``; docs/silver.md, "Sources two at a time"). Landing a day's sources and their bronze gates run the
same way (``jobs.bronze.land.land_sources``, ``jobs.bronze.gate.gate_bronze_sources``; Great Expectations, where a gate
uses it, one at a time). Gold's staged marts, frames of one session that set nothing in it, are written two at a time
from that session itself (``own_sessions=False``).

``INTERACTION_LAKE_PARALLELISM`` (``Settings.parallelism``, default 2) bounds how many run at once; 1 runs them one
after the other on the caller's session, as before.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from pyspark.sql import SparkSession

from interaction_lake import engine
from interaction_lake.config import Settings

T = TypeVar("T")
R = TypeVar("R")


def each(spark: SparkSession, settings: Settings, work: Callable[[SparkSession, T], R], items: Iterable[T],
         workers: int | None = None, own_sessions: bool = True) -> list[R]:
    """``work(session, item)`` for every item, up to ``workers`` (default ``settings.parallelism``) at once; the results
    in the items' order. Items are started in their order, each when a worker is free (so an iterator that shows
    progress, such as ``progress.steps``, advances as they start). At the first failure no further item is started,
    those running finish, and the failure is raised: as one after the other, a failed job stops the run.

    ``own_sessions=False``: every worker works on ``spark`` itself -- for jobs that only run frames already made on it
    and change nothing of the session's own (no temporary view, no SQL setting): gold's staged marts."""
    workers = max(1, workers or settings.parallelism)
    if workers == 1:
        return [work(spark, item) for item in items]
    local, free_workers = threading.local(), queue.SimpleQueue()
    for worker in range(workers):
        free_workers.put(worker)

    def session() -> SparkSession:
        if not own_sessions:
            return spark
        if not hasattr(local, "session"):  # a thread of this pool is one worker, with that worker's session
            local.session = engine.worker_session(spark, settings, free_workers.get_nowait())
        return local.session

    free, failed = threading.Semaphore(workers), threading.Event()

    def run(item: T) -> R:
        try:
            return work(session(), item)
        except BaseException:
            failed.set()  # before the worker is free again: the next item is then not started
            raise
        finally:
            free.release()

    futures: list[Future] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="interaction-lake") as pool:
        for item in items:
            free.acquire()
            if failed.is_set():
                break
            futures.append(pool.submit(run, item))
    return [f.result() for f in futures]  # the first failure, in the items' order, is raised here

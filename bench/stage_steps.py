"""A stage's steps, timed day by day: where a day's silver or gold build spends its time, and which steps grow with the month.

    python bench/stage_steps.py --stage {silver,gold} (--sent DIR | --events N) [--days 30] [--out bench/results/<stage>-steps.json]

Runs ``interaction-lake bench`` in this process with the named steps of ``jobs.silver.build`` or ``jobs.gold.build`` (and
the lake writes they make, per table or mart) wrapped in timers; after each day's build of that stage it writes that
day's seconds per step to ``--out`` (the bench's own figures go beside it, ``<out stem>-pipeline.json``). Silver builds
sources two at a time and gold stages and publishes marts two at a time (``interaction_lake.concurrently``), so steps
add up to thread seconds, more than the build's wall seconds (``_wall``); a step's growth is what to look for. Prints
each step's mean over days 2-6 and over the last five days (``growth``). Nothing is asserted; the numbers move with the
host (compare steps within one run).

``--memory`` also samples the embedded engine's server's resident memory every 20 ms while the stage builds and records,
per step, the most it held while that step ran (``_server_mb``, MB; nested steps share their parent's samples;
``_start``: what it held when the build began; ``_build``: the build's peak): which step the day's peak is in, and
whether that step's peak grows with the month. Printed as a second table (each step's mean over the days it was
sampled on: a step shorter than 20 ms may have none).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import statistics
import sys
import threading
import time
from pathlib import Path

from interaction_lake.benchmark import process_resident_mb

REPO = Path(__file__).resolve().parents[1]

# each stage's steps called through its module's globals, so wrapping the module's name times every call
SILVER_STEPS = ("new_batches", "quarantine_broken", "recalled_versions", "versions_held", "remember_versions", "merge_events",
                "_count_conflicts", "_record_progress", "compact_fact_quarantine", "refresh_quarantined_inputs", "_build_one")
GOLD_STEPS = ("blocked_tables", "_first_changed_date", "_last_progress", "_fact_spans", "_carried_recency", "_stored",
              "published_month", "compute", "evaluate_stage", "render_stage_data_docs")


def _timed(totals: dict, lock: threading.Lock, owner, name: str, label=lambda args: "",
           running: collections.Counter | None = None) -> None:
    """Wrap ``owner.name`` so each call adds its seconds to ``totals["name[:label]"]`` (and counts itself in ``running``
    while it runs, where the server's memory is sampled)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        key = ":".join(filter(None, (name, label(args))))
        started = time.perf_counter()
        if running is not None:
            with lock:
                running[key] += 1
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                totals[key] += time.perf_counter() - started
                if running is not None:
                    running[key] -= 1

    setattr(owner, name, timed)


class ServerSampler:
    """Samples the engine's server's resident memory while a build runs; each sample raises the peak of every step
    running then (``running``: step -> calls in progress)."""

    def __init__(self, lock: threading.Lock, running: collections.Counter, every_s: float = 0.02) -> None:
        self.lock, self.running, self.every_s = lock, running, every_s
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int | None) -> None:
        self.peaks, self._stop = {"_start": process_resident_mb(pid)}, threading.Event()  # what earlier stages left
        self._thread = threading.Thread(target=self._sample, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        return dict(self.peaks)

    def _sample(self, pid: int | None) -> None:
        while not self._stop.wait(self.every_s):
            mb = process_resident_mb(pid)
            with self.lock:
                for key in ("_build", *(k for k, n in self.running.items() if n > 0)):
                    self.peaks[key] = max(self.peaks.get(key, 0.0), mb)


def instrument(stage: str, out: Path, memory: bool = False) -> list[dict]:
    """Wrap the stage's steps; each build of the stage appends its day's totals to the returned list and to ``out``
    (with ``memory``, also each step's peak of the engine server's resident memory: ``_server_mb``)."""
    import jobs.gold.build as gold
    import jobs.silver.build as silver
    from interaction_lake import lake, lineage

    totals: dict[str, float] = collections.defaultdict(float)
    lock, days = threading.Lock(), []
    running = collections.Counter() if memory else None
    sampler = ServerSampler(lock, running) if memory else None
    timed = functools.partial(_timed, running=running)
    at_path = lambda at: lambda args: Path(str(args[at])).name  # noqa: E731 -- a table's or mart's name from an argument
    if stage == "silver":
        build, entry = silver, "build_silver"
        for step in SILVER_STEPS:
            timed(totals, lock, silver, step)
        timed(totals, lock, silver, "upsert", lambda args: args[3].name)  # per fact
        timed(totals, lock, silver, "quarantine_facts", lambda args: args[1].name)
        for write, at in (("sql_write", 2), ("append", 1), ("compact_if_due", 1)):  # the writes, per table
            timed(totals, lock, lake, write, at_path(at))
    else:
        build, entry = gold, "build_gold"
        for step in GOLD_STEPS:
            timed(totals, lock, gold, step)
        timed(totals, lock, lake, "stage", at_path(1))  # per mart: computed and written to staging
        timed(totals, lock, gold, "_publish", at_path(1))  # per mart and state table
        timed(totals, lock, lineage.JobRun, "emit")  # OpenLineage events, built and written
    whole = getattr(build, entry)

    @functools.wraps(whole)
    def timed_build(*args, **kwargs):
        totals.clear()
        if sampler:
            from interaction_lake.engine import embedded_server_pid

            sampler.start(embedded_server_pid())
        started = time.perf_counter()
        try:
            return whole(*args, **kwargs)
        finally:
            memory = {"_server_mb": sampler.stop()} if sampler else {}
            days.append({"_wall": time.perf_counter() - started, **totals, **memory})
            out.write_text(json.dumps(days, indent=1))

    setattr(build, entry, timed_build)  # the bench imports it from the module when it runs
    return days


def growth(days: list[dict], only_sampled: bool = False) -> list[tuple[str, float, float]]:
    """(step, mean seconds over days 2-6, over the last five days), the steps of most late seconds first; a shorter run's
    halves after day 1 (day 1 is the initial load). A day without the step counts 0, or, ``only_sampled``, not at all."""
    ordinary = days[1:]
    half = min(5, len(ordinary) // 2)
    early, late = ordinary[:half], ordinary[-half:]

    def mean(window: list[dict], step: str) -> float:
        values = [d[step] for d in window if step in d] if only_sampled else [d.get(step, 0.0) for d in window]
        return statistics.mean(values) if values else 0.0

    steps = {step for day in days for step, value in day.items() if isinstance(value, float)}
    return sorted(((step, mean(early, step), mean(late, step)) for step in steps), key=lambda row: -row[2])


def memory_growth(days: list[dict]) -> list[tuple[str, float, float]]:
    """``growth`` of each step's peak of the server's memory (``_server_mb``, MB), the steps of the highest late peak
    first; a step's means are over the days it was sampled on (a missing peak is no sample, not 0 MB)."""
    return growth([day.get("_server_mb", {}) for day in days], only_sampled=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--sent", type=Path, help="day folders as interaction-lake generate writes them")
    size.add_argument("--events", type=int, help="generate a bank of about this many landing records")
    parser.add_argument("--stage", choices=("silver", "gold"), default="silver")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, help="default: bench/results/<stage>-steps.json")
    parser.add_argument("--memory", action="store_true", help="also sample the engine server's memory per step")
    args = parser.parse_args()
    args.out = args.out or REPO / "bench" / "results" / f"{args.stage}-steps.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    days = instrument(args.stage, args.out, memory=args.memory)
    from interaction_lake.cli import main as cli

    bench = ["bench", "--days", str(args.days), "--out", str(args.out.with_name(f"{args.out.stem}-pipeline.json"))]
    bench += ["--sent", str(args.sent)] if args.sent else ["--events", str(args.events)]
    code = cli(bench)
    if code or len(days) < 3:
        print(f"{args.stage} steps: the bench exited {code} after {len(days)} day(s) (3 needed for the table)", file=sys.stderr)
        return code or 1
    print(f"{args.stage} steps, seconds (thread seconds: two sources or marts at a time); {args.out}")
    print(f"{'step':42} {'early':>9} {'late':>9} {'change':>8}")
    for step, early, late in growth(days):
        print(f"{step:42} {early:9.3f} {late:9.3f} {late - early:+8.3f}")
    if args.memory:
        print("the engine server's resident memory while each step ran, MB (peak of the day; _build: the whole build)")
        for step, early, late in memory_growth(days):
            print(f"{step:42} {early:9.0f} {late:9.0f} {late - early:+8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

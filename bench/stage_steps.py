"""A stage's steps, timed day by day: where a day's silver or gold build spends its time, and which steps grow with the month.

    python bench/stage_steps.py --stage {silver,gold} (--sent DIR | --events N) [--days 30] [--out bench/results/<stage>-steps.json]

Runs ``interaction-lake bench`` in this process with the named steps of ``jobs.silver.build`` or ``jobs.gold.build`` (and
the lake writes they make, per table or mart) wrapped in timers; after each day's build of that stage it writes that
day's seconds per step to ``--out`` (the bench's own figures go beside it, ``<out stem>-pipeline.json``). Silver builds
sources two at a time and gold stages and publishes marts two at a time (``interaction_lake.concurrently``), so steps
add up to thread seconds, more than the build's wall seconds (``_wall``); a step's growth is what to look for. Prints
each step's mean over days 2-6 and over the last five days (``growth``). Nothing is asserted; the numbers move with the
host (compare steps within one run).
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

REPO = Path(__file__).resolve().parents[1]

# each stage's steps called through its module's globals, so wrapping the module's name times every call
SILVER_STEPS = ("new_batches", "quarantine_broken", "recalled_versions", "versions_held", "remember_versions", "merge_events",
                "_count_conflicts", "_record_progress", "compact_fact_quarantine", "refresh_quarantined_inputs", "_build_one")
GOLD_STEPS = ("blocked_tables", "_first_changed_date", "_last_progress", "_fact_spans", "_carried_recency", "_stored",
              "published_month", "compute", "evaluate_stage", "render_stage_data_docs")


def _timed(totals: dict, lock: threading.Lock, owner, name: str, label=lambda args: "") -> None:
    """Wrap ``owner.name`` so each call adds its seconds to ``totals["name[:label]"]``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            key = ":".join(filter(None, (name, label(args))))
            with lock:
                totals[key] += time.perf_counter() - started

    setattr(owner, name, timed)


def instrument(stage: str, out: Path) -> list[dict]:
    """Wrap the stage's steps; each build of the stage appends its day's totals to the returned list and to ``out``."""
    import jobs.gold.build as gold
    import jobs.silver.build as silver
    from interaction_lake import lake, lineage

    totals: dict[str, float] = collections.defaultdict(float)
    lock, days = threading.Lock(), []
    at_path = lambda at: lambda args: Path(str(args[at])).name  # noqa: E731 -- a table's or mart's name from an argument
    if stage == "silver":
        build, entry = silver, "build_silver"
        for step in SILVER_STEPS:
            _timed(totals, lock, silver, step)
        _timed(totals, lock, silver, "upsert", lambda args: args[3].name)  # per fact
        _timed(totals, lock, silver, "quarantine_facts", lambda args: args[1].name)
        for write, at in (("sql_write", 2), ("append", 1), ("compact_if_due", 1)):  # the writes, per table
            _timed(totals, lock, lake, write, at_path(at))
    else:
        build, entry = gold, "build_gold"
        for step in GOLD_STEPS:
            _timed(totals, lock, gold, step)
        _timed(totals, lock, lake, "stage", at_path(1))  # per mart: computed and written to staging
        _timed(totals, lock, gold, "_publish", at_path(1))  # per mart and state table
        _timed(totals, lock, lineage.JobRun, "emit")  # OpenLineage events, built and written
    whole = getattr(build, entry)

    @functools.wraps(whole)
    def timed_build(*args, **kwargs):
        totals.clear()
        started = time.perf_counter()
        try:
            return whole(*args, **kwargs)
        finally:
            days.append({"_wall": time.perf_counter() - started, **totals})
            out.write_text(json.dumps(days, indent=1))

    setattr(build, entry, timed_build)  # the bench imports it from the module when it runs
    return days


def growth(days: list[dict]) -> list[tuple[str, float, float]]:
    """(step, mean seconds over days 2-6, over the last five days), the steps of most late seconds first; a shorter run's
    halves after day 1 (day 1 is the initial load)."""
    ordinary = days[1:]
    half = min(5, len(ordinary) // 2)
    early, late = ordinary[:half], ordinary[-half:]
    steps = {step for day in days for step in day}
    rows = [(step, statistics.mean(d.get(step, 0.0) for d in early), statistics.mean(d.get(step, 0.0) for d in late))
            for step in steps]
    return sorted(rows, key=lambda row: -row[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--sent", type=Path, help="day folders as interaction-lake generate writes them")
    size.add_argument("--events", type=int, help="generate a bank of about this many landing records")
    parser.add_argument("--stage", choices=("silver", "gold"), default="silver")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, help="default: bench/results/<stage>-steps.json")
    args = parser.parse_args()
    args.out = args.out or REPO / "bench" / "results" / f"{args.stage}-steps.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    days = instrument(args.stage, args.out)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end benchmark: N events, delivered one day at a time, through bronze -> silver -> gold with every gate.

Sizes a sample bank to about N events (``--events``; or ``--customers`` directly), generates its landing
files in a child process (so the generator's memory is not counted), then delivers them one day at a
time, as production would, and times per day: landing, the bronze gate, the silver build, the silver
gate, the gold build, the gold gate and the day's Data Docs (rendered once a day, as the marts DAG does).
It prints the per-day table, the days 1 / 10 / 30 flatness
check (does day N+1 cost more as history grows?), landing throughput, the share of time in gates and
peak memory, and writes everything as JSON. Each day is bracketed by a host-speed probe (``probe_host_speed``: fixed
work in this process and in the engine), so day-over-day ratios are also given at one host speed: the machines are
shared, and a later day can meet a busier host. The embedded engine's server runs in a child process started afresh
before each stage (as Airflow's process per task has it; ``--engine-per-day``: one a day; ``--engine-in-process``: in
this process, renewed each day): a day's CPU and peak memory are this process's and its servers' together, the day's
peak the highest of its stages' for each (``server_peak_memory_mb_by_stage``, ``process_peak_memory_mb_by_stage``). With
``--compare-classic`` it then has both engines copy the same landing files into a table
(bench/engine_probe.py, one process per engine). ``--engine both`` runs the same days through the embedded engine and
through Apache Spark with delta-spark (one process each, Delta on both) and prints them side by side.

    interaction-lake bench --events 1000000 --days 30 --compare-classic --out bench/results/pipeline-1M.json

(also ``bench/pipeline.py``, ``make bench``). Figures are printed and written, never asserted: speed is
measured here, not in the tests.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Day 1 also carries the initial load (every customer's profile and holdings), so day 2 is the first
# ordinary day and the flatness ratio is taken against it. With --days 60, day 40 is the same day of the
# next month as day 10: what one more month of history costs, the gold build's month to date aside.
FLATNESS_DAYS = (1, 2, 10, 30, 40, 60)
ENGINES = ("embedded", "spark", "both")


def records_per_customer(days: int, start: dt.date, seed: int) -> float:
    """Calibrate: how many landing records one customer makes over ``days`` (a 500-customer sample)."""
    from interaction_lake.generator import generate

    with tempfile.TemporaryDirectory() as tmp:
        manifest = generate(Path(tmp), customers=500, days=days, seed=seed, start=start, fault_rate=0.01)
        return sum(s.lines for s in manifest.sources.values()) / 500


def peak_mb() -> float:
    """The process's peak resident memory (since the last ``reset_day_peak``: the kernel keeps one high-water mark)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_day_peak(pid: int | str | None = "self") -> None:
    """Start measuring a new day's peak of a process, this one by default (Linux: writing 5 to clear_refs resets the
    process's VmHWM)."""
    if pid is None:
        return
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass  # not Linux, or not allowed: day_peak_mb() then reports the peak so far


def day_peak_mb() -> float:
    """The peak resident memory since ``reset_day_peak`` (VmHWM), else since the process started."""
    return process_peak_mb("self") or peak_mb()


def process_peak_mb(pid: int | str | None) -> float:
    """A process's peak resident memory (VmHWM; ``self`` for this one), 0 if there is none or it cannot be read."""
    return _status_mb(pid, "VmHWM")


def process_resident_mb(pid: int | str | None) -> float:
    """A process's resident memory now (VmRSS; ``self`` for this one), 0 if there is none or it cannot be read."""
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int | str | None, field: str) -> float:
    """A memory field of ``/proc/<pid>/status``, in MB; 0 if there is no such process or it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith(f"{field}:"))
    except (OSError, StopIteration, ValueError, TypeError):
        return 0.0


def process_cpu_s(pid: int | None) -> float:
    """Another process's CPU seconds so far (user and system), 0 if there is none or it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0


# The host-speed probe's fixed work: JSON lines made and parsed in this process and a grouped count with a sort in the engine
# (the two kinds of work a day is made of), each sized to take about a third of a second on the project's 2-core
# machines: long enough to average over a moment's noise, short beside a day.
PROBE_LINES = 30_000
PROBE_ROWS = 12_000_000


def probe_host_speed(spark) -> dict[str, float]:
    """Time a fixed piece of work that does not depend on the lake: this process parsing ``PROBE_LINES`` JSON lines, and
    the engine grouping and sorting ``PROBE_ROWS`` generated rows. The machines are shared: one day's run can meet a
    host twice as busy as another's, so a ratio of two days' seconds is also taken over the ratio of their probes
    (``summarise``: ``..._host_adjusted``), the anchor measured in the same run."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    total = 0
    for i in range(PROBE_LINES):  # each line made and parsed in turn: nothing is kept, so the day's memory is not swayed
        line = json.dumps({"event_id": f"e{i:08d}", "customer_id": f"c{i % 9973}",
                           "amount": {"value": f"{i % 1000}.{i % 100:02d}", "currency": "EUR"},
                           "occurred_at": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"})
        record = json.loads(line)
        total += len(record["customer_id"]) + int(record["amount"]["value"].split(".")[0])
    python_s = time.perf_counter() - started
    started = time.perf_counter()
    keys = spark.range(0, PROBE_ROWS, 1, 2).select((F.col("id") * 7919 % 100_003).alias("k"))
    keys.groupBy("k").count().orderBy(F.desc("count"), "k").limit(3).collect()
    engine_s = time.perf_counter() - started
    return {"python_s": python_s, "engine_s": engine_s, "total_s": python_s + engine_s}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--events", type=int, help="size the sample bank to about this many landing records in all")
    size.add_argument("--customers", type=int, help="size the sample bank by customers instead (default 20000)")
    parser.add_argument("--days", type=int, help="days the events are spread over, run one by one (default: 30); with --sent, "
                                                 "the first this many day folders there (default: all of them)")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed (default: 1)")
    parser.add_argument("--start", type=dt.date.fromisoformat,
                        help="first day (default: the 1st of the month DAYS + 2 days ago: events dated in the future would fail "
                             "the bronze gate, and a month's 1st brings the monthly holdings snapshot)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/pipeline.json"),
                        help="the JSON file the figures are written to (default: bench/results/pipeline.json)")
    parser.add_argument("--workdir", type=Path, help="keep the generated lake here (default: a temporary directory, removed at the end)")
    parser.add_argument("--compare-classic", action="store_true", help="also time both engines copying the same landing files")
    parser.add_argument("--engine", choices=ENGINES, default="embedded",
                        help="the engine the days run through: embedded, spark (Apache Spark + delta-spark, classic local[*]) "
                             "or both (the same files through each, one process per engine, side by side) (default: embedded)")
    parser.add_argument("--sent", type=Path, help="run the landing files already generated in this folder (default: generate them)")
    parser.add_argument("--engine-in-process", action="store_true",
                        help="run the embedded engine's server in this process, renewed as below (default: a child process, "
                             "as Airflow's process per task gives; its memory and CPU are counted)")
    parser.add_argument("--engine-per-day", action="store_true",
                        help="run a day's stages on one engine, started afresh each day (default: afresh before each stage, as "
                             "Airflow's tasks, each a process with its own engine, have it -- a stage's memory is its own, not "
                             "what earlier stages left in the server; the starts are outside the figures: engine_renewed_s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the benchmark in ``--workdir``, kept for inspection; without one, in a temporary folder removed afterwards
    (a 1M-event run leaves 1.5 GB of lake and files)."""
    if args.workdir is not None:
        return _run(args, args.workdir)
    work = Path(tempfile.mkdtemp(prefix="interaction-lake-bench-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    from interaction_lake.config import Settings
    from interaction_lake.engine import embedded_server_pid, get_spark, renewed, running
    from interaction_lake.generator import SOURCES  # the generator's sources: the bank it simulates
    from interaction_lake.generator.deliveries import days_of, deliver
    from jobs.bronze.gate import gate_bronze_sources
    from jobs.bronze.land import land_sources
    from interaction_lake.quality.gate import GateBlocked, GateFailed, render_pending_data_docs
    from jobs.gold.build import NothingToBuild, build_gold
    from jobs.silver.build import build_silver
    from jobs.silver.gate import gate_silver

    if args.sent:  # the day folders already sent: the first --days of them, or every one
        sent_days = days_of(args.sent)[: args.days or None]
        args.days = len(sent_days)
    else:
        args.days = args.days or 30
    if args.start is None:  # in the past (future events fail the bronze gate), on a month's 1st (one holdings snapshot, day 1)
        args.start = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=args.days + 2)).replace(day=1)
    customers = args.customers or 20000
    if args.events:
        customers = max(1, math.ceil(args.events / records_per_customer(args.days, args.start, args.seed)))
    for folder in ("lake", "landing", *(() if args.sent else ("sent",))):
        shutil.rmtree(work / folder, ignore_errors=True)
    settings = dataclasses.replace(Settings().with_paths(lake_root=work / "lake", landing_root=work / "landing"),
                                   engine="embedded" if args.engine == "both" else args.engine)
    sent, generated_s = args.sent or work / "sent", 0.0
    if not args.sent:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "interaction_lake", "generate", "--customers", str(customers), "--days", str(args.days),
                        "--seed", str(args.seed), "--start", args.start.isoformat(), "--out", str(sent)], check=True,
                       stdout=subprocess.DEVNULL)
        generated_s = time.perf_counter() - started
    from interaction_lake.generator import MANIFEST_NAME

    manifest = json.loads((sent / MANIFEST_NAME).read_text())
    if args.sent and not args.customers:  # the bank the files were generated for, not the size --events would give
        customers = manifest.get("customers", customers)
    # records sent, as the generator's manifest counts them (resent copies of whole files are not new records)
    records = sum(source["lines"] for source in manifest["sources"].values())
    print(f"{'generated' if not args.sent else 'running'} {records} records for {customers} customers over {args.days} days"
          + (f" in {generated_s:.0f} s" if not args.sent else f" from {sent}"), flush=True)
    if args.engine == "both":
        return side_by_side(args, sent, work, customers)
    started = time.perf_counter()
    owned = not running()  # a caller's own session (a test's) is never stopped under it
    own_process = not args.engine_in_process
    spark = renewed(settings, own_process=own_process) if owned else get_spark(settings)
    spark.range(1).collect()  # the engine is up: a session, and one query through it
    startup_s = time.perf_counter() - started

    def fresh_engine(figures: dict):
        """A new engine (``engine.renewed``), up and queried once; its start added to the day's ``engine_renewed_s``."""
        t = time.perf_counter()
        session = renewed(settings, own_process=own_process)
        session.range(1).collect()
        figures["engine_renewed_s"] = figures.get("engine_renewed_s", 0.0) + time.perf_counter() - t
        return session

    days = []
    for day in sent_days if args.sent else days_of(sent):
        deliver(sent, settings.landing_root, day)
        run = f"bench-{day}"
        figures: dict = {"day": day}
        if days and owned:  # as a scheduler's task processes would, each day starts on a fresh engine (engine.renewed)
            spark = fresh_engine(figures)
        before = probe_host_speed(spark)  # outside the day's figures: its time, CPU and memory are not the day's
        server = embedded_server_pid()  # None where the engine runs in this process (or is Apache Spark's JVM)
        reset_day_peak()
        reset_day_peak(server)  # the server is fresh, but the probe has just run in it
        server_peaks: dict[str, float] = {}
        process_peaks: dict[str, float] = {}  # this process's, likewise stage by stage
        stopped_servers_cpu, server_cpu_at_start = 0.0, process_cpu_s(server)  # the day's stopped servers'; the live one's
        figures["engine_servers"] = int(server is not None)  # server processes the day ran on

        def stage_peaks(stage: str) -> None:  # this process's and the server's peaks in the stage just run; the next's afresh
            nonlocal spark, server, stopped_servers_cpu, server_cpu_at_start
            server_peaks[stage], process_peaks[stage] = process_peak_mb(server), day_peak_mb()
            if not args.engine_per_day and owned and stage != "data_docs":  # the next stage on an engine of its own
                stopped_servers_cpu += process_cpu_s(server) - server_cpu_at_start
                spark = fresh_engine(figures)
                server = embedded_server_pid()
                server_cpu_at_start = process_cpu_s(server)
                figures["engine_servers"] += int(server is not None)
            reset_day_peak(server)
            reset_day_peak()
        # this process's CPU and the server's, engine threads included: less swayed than wall time by a busy host
        cpu = time.process_time()
        t = time.perf_counter()
        # delivered the night after the day it covers: each day lands in its own ingest-date partition, as in production
        delivered = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(1), dt.timezone.utc)
        landed = sum(r.records_landed for r in land_sources(settings, list(SOURCES), run, spark=spark, ingested_at=delivered))
        figures["land_s"], figures["events_landed"] = time.perf_counter() - t, landed
        stage_peaks("land")
        failed: list[str] = []  # a failed gate holds data back, so that day's later stages do less: say so
        t = time.perf_counter()
        failed += [o.summary() for o in gate_bronze_sources(spark, settings, SOURCES, run) if not o.passed]
        figures["bronze_gate_s"] = time.perf_counter() - t
        stage_peaks("bronze_gate")
        t = time.perf_counter()
        build_silver(spark, settings, run)
        figures["silver_s"] = time.perf_counter() - t
        stage_peaks("silver")
        t = time.perf_counter()
        failed += [o.summary() for o in gate_silver(spark, settings, run) if not o.passed]
        figures["silver_gate_s"] = time.perf_counter() - t
        stage_peaks("silver_gate")
        t = time.perf_counter()
        gold_gates = []
        try:
            gold_gates = build_gold(spark, settings, run).gates
        except GateFailed as error:
            gold_gates = error.outcomes
        except (GateBlocked, NothingToBuild) as error:
            failed.append(f"gold not built: {error}")
        gold_total = time.perf_counter() - t
        stage_peaks("gold")  # its gate's queries included
        failed += [o.summary() for o in gold_gates if not o.passed]
        figures["gold_gate_s"] = sum(o.seconds for o in gold_gates)
        figures["gold_s"] = gold_total - figures["gold_gate_s"]
        figures["gates_failed"] = failed
        t = time.perf_counter()  # the day's Data Docs, rendered once (gates that pass leave them), as the marts DAG does
        render_pending_data_docs(spark, settings.lake_root)
        figures["data_docs_s"] = time.perf_counter() - t
        stage_peaks("data_docs")
        work_s = figures["land_s"] + figures["silver_s"] + figures["gold_s"] + figures["data_docs_s"]
        gates_s = figures["bronze_gate_s"] + figures["silver_gate_s"] + figures["gold_gate_s"]
        figures["total_s"], figures["gate_share"] = work_s + gates_s, gates_s / (work_s + gates_s)
        figures["cpu_s"] = time.process_time() - cpu + stopped_servers_cpu + process_cpu_s(server) - server_cpu_at_start
        figures["landing_events_per_s"] = landed / figures["land_s"] if figures["land_s"] else None
        # this day's own peak, as the 'day 60 within 10% of day 5' asks: this process's and, where the engine's
        # server is a process of its own, the highest of its stages' peaks too -- their sum bounds the two together
        figures["server_peak_memory_mb"] = max(server_peaks.values())
        figures["server_peak_memory_mb_by_stage"] = server_peaks  # where in the day the server's peak is
        figures["process_peak_memory_mb_by_stage"] = process_peaks
        figures["peak_memory_mb"] = max(process_peaks.values()) + figures["server_peak_memory_mb"]
        after = probe_host_speed(spark)  # the host's speed at both ends of the day, averaged (each kept: a server grown by the
        # day's work must not be what slows the second)
        figures["host_probe_s"] = {**{part: (before[part] + after[part]) / 2 for part in before},
                                   "before_s": before["total_s"], "after_s": after["total_s"]}
        days.append(figures)
        print(f"  {day}: {landed} events, {figures['total_s']:.1f} s" + (f"; {len(failed)} gate(s) FAILED" if failed else ""), flush=True)
        result = {"events": records, "customers": customers, "days": args.days, "days_done": len(days), "engine": settings.engine,
                  "machine": f"{platform.machine()} {os.cpu_count()} cpus", "generated_s": generated_s, "startup_s": startup_s,
                  **summarise(days), "per_day": days}
        write_json(args.out, result)  # after every day, so a long run that is stopped still leaves its figures

    print_report(result)
    if args.compare_classic:
        result["same_landing_files"] = compare_engines(sent)
        print("same landing files copied into a table by each engine:")
        print(json.dumps(result["same_landing_files"], indent=2))
        result["landing_anchors"] = landing_anchors(sent, result["landing_events_per_s"])
        print("landing against readers that do less (bench/landing_anchors.py), on the same files:")
        print(json.dumps(result["landing_anchors"], indent=2))
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


def write_json(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))


STAGES = ("land_s", "bronze_gate_s", "silver_s", "silver_gate_s", "gold_s", "gold_gate_s", "data_docs_s")


def summarise(days: list[dict]) -> dict:
    """Totals, and the flatness check: each flatness day's cost per 1,000 events, in all and stage by stage.

    ``last_over_day2_per_event`` compares the last flatness day with day 2 (day 1 is the initial load);
    ``..._without_gold`` leaves out the gold build, which by design recomputes the month to date and so
    grows within a month and falls back on the 1st (bench/README.md); ``..._host_adjusted`` takes each day's
    seconds over its host-speed probe's first."""
    landed = sum(d["events_landed"] for d in days)
    land_s = sum(d["land_s"] for d in days)
    total_s = sum(d["total_s"] for d in days)
    gates_s = sum(d["bronze_gate_s"] + d["silver_gate_s"] + d["gold_gate_s"] for d in days)

    def per_1k(day: dict, seconds: float) -> float:
        return 1000 * seconds / max(day["events_landed"], 1)

    flat = {str(n): {"total_s": d["total_s"], "seconds_per_1k_events": per_1k(d, d["total_s"]),
                     "cpu_seconds_per_1k_events": per_1k(d, d.get("cpu_s", 0.0)),
                     "stages_per_1k_events": {stage: per_1k(d, d[stage]) for stage in STAGES},
                     "host_probe_s": d.get("host_probe_s", {}).get("total_s")}
            for n in FLATNESS_DAYS if n <= len(days) for d in [days[n - 1]]}
    last_day = max(n for n in FLATNESS_DAYS if n <= len(days))
    first, last = flat.get("2"), flat.get(str(last_day))

    def without_gold(f: dict) -> float:
        return sum(v for stage, v in f["stages_per_1k_events"].items() if stage != "gold_s")

    def per_event(d: dict) -> float:
        return per_1k(d, d["total_s"])

    def per_event_at_host_speed(d: dict) -> float | None:
        """A day's seconds per 1,000 events over its host-speed probe's (``probe_host_speed``), None without a probe."""
        probe = d.get("host_probe_s", {}).get("total_s")
        return per_event(d) / probe if probe else None

    def host_adjusted(later: int, earlier: int) -> float | None:
        """Day ``later`` over day ``earlier`` at one host speed: the ratio had both days met the host equally busy."""
        if max(later, earlier) > len(days):
            return None
        a, b = per_event_at_host_speed(days[later - 1]), per_event_at_host_speed(days[earlier - 1])
        return a / b if a is not None and b else None

    weeks = {"per_event": late_over_early(days, per_event), "per_event_host_adjusted": late_over_early(days, per_event_at_host_speed),
             "peak_memory": late_over_early(days, lambda d: d["peak_memory_mb"])}
    return {"landing_events_per_s": landed / land_s if land_s else None, "end_to_end_s": total_s,
            "mean_day_s": total_s / len(days), "gate_share": gates_s / total_s if total_s else None,
            # the days' peaks (reset_day_peak resets the kernel's high-water mark, which getrusage reads too)
            "peak_memory_mb": max(d["peak_memory_mb"] for d in days), "flatness": flat,
            "peak_memory_last_over_day5": days[-1]["peak_memory_mb"] / days[4]["peak_memory_mb"] if len(days) >= 5 else None,
            "last_over_day2_per_event": (last["seconds_per_1k_events"] / first["seconds_per_1k_events"]) if first and last else None,
            "last_over_day2_per_event_without_gold": (without_gold(last) / without_gold(first)) if first and last else None,
            "last_over_day2_per_event_host_adjusted": host_adjusted(last_day, 2),
            "day40_over_day10_per_event_host_adjusted": host_adjusted(40, 10),
            # the probe's own ratio: how much slower (>1) or faster the host was on the last day than on day 2
            "host_probe_last_over_day2": (last["host_probe_s"] / first["host_probe_s"])
            if first and last and first["host_probe_s"] and last["host_probe_s"] else None,
            "day40_over_day10_per_event": (flat["40"]["seconds_per_1k_events"] / flat["10"]["seconds_per_1k_events"]) if "40" in flat else None,
            "last_week_over_first_week": weeks,
            "last_over_day2_cpu_per_event": (last["cpu_seconds_per_1k_events"] / first["cpu_seconds_per_1k_events"])
            if first and last and first["cpu_seconds_per_1k_events"] else None,
            "day40_over_day10_cpu_per_event": (flat["40"]["cpu_seconds_per_1k_events"] / flat["10"]["cpu_seconds_per_1k_events"])
            if "40" in flat and flat["10"]["cpu_seconds_per_1k_events"] else None}


def late_over_early(days: list[dict], value) -> float | None:
    """The median of the last seven days' ``value`` over that of days 2-8 (day 1 is the initial load): one day against
    one day, as the issue's ratios are put, with less of a single day's noise. None for runs under 15 days (the weeks
    would overlap) or where a day has no value."""
    if len(days) < 15:
        return None
    early, late = [value(d) for d in days[1:8]], [value(d) for d in days[-7:]]
    if any(v is None for v in (*early, *late)) or not statistics.median(early):
        return None
    return statistics.median(late) / statistics.median(early)


def print_report(r: dict) -> None:
    print(f"{r['events']} records, {r['customers']} customers, {r['days']} days; engine: {r['engine']} on {r['machine']} "
          f"(up in {r['startup_s']:.1f} s); peak memory {r['peak_memory_mb']:.0f} MB")
    header = ("day", "events", "land s", "ev/s", "bronze gate", "silver s", "silver gate", "gold s", "gold gate", "data docs",
              "total s", "gates", "peak MB", "failed")
    print("  ".join(f"{h:>11}" for h in header))
    for d in r["per_day"]:
        print("  ".join(f"{v:>11}" for v in (d["day"], d["events_landed"], f"{d['land_s']:.1f}", f"{d['landing_events_per_s'] or 0:.0f}",
                                            f"{d['bronze_gate_s']:.1f}", f"{d['silver_s']:.1f}", f"{d['silver_gate_s']:.1f}",
                                            f"{d['gold_s']:.1f}", f"{d['gold_gate_s']:.1f}", f"{d['data_docs_s']:.1f}",
                                            f"{d['total_s']:.1f}", f"{d['gate_share']:.0%}", f"{d['peak_memory_mb']:.0f}",
                                            len(d["gates_failed"]))))
    failed_days = [d["day"] for d in r["per_day"] if d["gates_failed"]]
    if failed_days:
        print(f"WARNING: gates failed on {len(failed_days)} day(s) ({', '.join(failed_days[:5])}...): data was held back, "
              "so those days' later stages measured less work; see per_day[].gates_failed in the JSON")
    print(f"landing: {r['landing_events_per_s']:.0f} events/s; end to end {r['end_to_end_s']:.0f} s "
          f"(a day: {r['mean_day_s']:.1f} s on average); share of time in gates {r['gate_share']:.0%}")
    if r.get("peak_memory_last_over_day5"):
        renewed = r["engine"] == "embedded" and any("engine_renewed_s" in d for d in r["per_day"])
        apart = any(d.get("server_peak_memory_mb") for d in r["per_day"])
        print(f"memory: the last day's peak over day 5's: {r['peak_memory_last_over_day5']:.2f}x"
              + (" (each " + ("day" if any(d.get("engine_servers") == 1 for d in r["per_day"]) else "stage")
                 + " starts on a fresh embedded engine" + (" in a process of its own, counted" if apart else "")
                 + ": engine.renewed)" if renewed else ""))
        for whose, key in (("the engine server's", "server_peak_memory_mb_by_stage"), ("this process's", "process_peak_memory_mb_by_stage")):
            held = collections.Counter(max(by, key=by.get) for d in r["per_day"] if (by := d.get(key)))
            if held:  # where to look first when the peak grows
                print(f"  {whose} peak of a day was in: " + ", ".join(f"{stage} ({n} days)" for stage, n in held.most_common()))
    print("flatness (the cost of one more day as history grows), seconds per 1000 events:")
    print("  " + "  ".join(f"{h:>11}" for h in ("day", "total", *(s.removesuffix("_s").replace("_", " ") for s in STAGES), "cpu",
                                                 "host probe")))
    for n, f in r["flatness"].items():
        print("  " + "  ".join(f"{v:>11}" for v in (n, f"{f['seconds_per_1k_events']:.2f}",
                                                     *(f"{f['stages_per_1k_events'][s]:.2f}" for s in STAGES),
                                                     f"{f['cpu_seconds_per_1k_events']:.2f}",
                                                     f"{f['host_probe_s']:.2f} s" if f.get("host_probe_s") else "-")))
    if r["last_over_day2_per_event"] is not None:
        print(f"  last day / day 2 (the first day without the initial load), per event: {r['last_over_day2_per_event']:.2f}x; "
              f"without the gold build (month to date by design): {r['last_over_day2_per_event_without_gold']:.2f}x")
    if r.get("last_over_day2_per_event_host_adjusted") is not None:
        print(f"  the same at day 2's host speed (each day over its host-speed probe; the probe read "
              f"{r['host_probe_last_over_day2']:.2f}x day 2's): {r['last_over_day2_per_event_host_adjusted']:.2f}x")
    weeks = r.get("last_week_over_first_week") or {}
    if weeks.get("per_event") is not None:
        print(f"  medians of the last seven days over days 2-8: per event {weeks['per_event']:.2f}x"
              + (f", at one host speed {weeks['per_event_host_adjusted']:.2f}x" if weeks.get("per_event_host_adjusted") else "")
              + f"; peak memory {weeks['peak_memory']:.2f}x")
    if r.get("last_over_day2_cpu_per_event") is not None:
        print(f"  the same in CPU seconds of this process (engine included): {r['last_over_day2_cpu_per_event']:.2f}x")
    if r.get("day40_over_day10_per_event") is not None:
        print(f"  day 40 / day 10 (the same day of the next month, a month more history), per event: {r['day40_over_day10_per_event']:.2f}x"
              f" (CPU: {r['day40_over_day10_cpu_per_event']:.2f}x"
              + (f"; at day 10's host speed: {r['day40_over_day10_per_event_host_adjusted']:.2f}x"
                 if r.get("day40_over_day10_per_event_host_adjusted") is not None else "") + ")")


def side_by_side(args: argparse.Namespace, sent: Path, work: Path, customers: int) -> int:
    """The same landing files, day by day, through the embedded engine and then Apache Spark, each in a process of its
    own (a fresh lake each, the same code): each engine's figures, and per day and stage Spark's seconds over the
    embedded engine's."""
    results = {}
    for engine in ("embedded", "spark"):
        out = work / f"{engine}.json"
        command = [sys.executable, "-m", "interaction_lake", "bench", "--engine", engine, "--sent", str(sent), "--customers",
                   str(customers), "--days", str(args.days), "--start", args.start.isoformat(), "--workdir", str(work / engine),
                   "--out", str(out), *(["--engine-in-process"] if args.engine_in_process else []),
                   *(["--engine-per-day"] if args.engine_per_day else [])]
        print(f"== {engine}", flush=True)
        subprocess.run(command, check=True, env={k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"})
        results[engine] = json.loads(out.read_text())
    compared = compare_runs(results["embedded"], results["spark"])
    print_side_by_side(compared)
    write_json(args.out, {"engines": results, "side_by_side": compared})
    print(f"wrote {args.out}")
    return 0


def compare_runs(embedded: dict, spark: dict) -> dict:
    """Per day and stage the two engines' seconds and Spark's over the embedded engine's; the same for start-up,
    landing throughput and the whole run."""
    def ratio(a, b):
        return b / a if a else None

    days = [{"day": e["day"], "events": e["events_landed"],
             **{stage: {"embedded": e[stage], "spark": s[stage], "spark_over_embedded": ratio(e[stage], s[stage])}
                for stage in (*STAGES, "total_s")}}
            for e, s in zip(embedded["per_day"], spark["per_day"])]
    return {"per_day": days,
            "startup_s": {"embedded": embedded["startup_s"], "spark": spark["startup_s"],
                          "spark_over_embedded": ratio(embedded["startup_s"], spark["startup_s"])},
            "landing_events_per_s": {"embedded": embedded["landing_events_per_s"], "spark": spark["landing_events_per_s"],
                                     "embedded_over_spark": ratio(spark["landing_events_per_s"], embedded["landing_events_per_s"])},
            "end_to_end_s": {"embedded": embedded["end_to_end_s"], "spark": spark["end_to_end_s"],
                             "spark_over_embedded": ratio(embedded["end_to_end_s"], spark["end_to_end_s"])},
            "peak_memory_mb": {"embedded": embedded["peak_memory_mb"], "spark": spark["peak_memory_mb"]},
            "same_events_landed": [d["events_landed"] for d in embedded["per_day"]] == [d["events_landed"] for d in spark["per_day"]]}


def print_side_by_side(c: dict) -> None:
    print("the same days through both engines, seconds (embedded / spark):")
    print("  ".join(f"{h:>15}" for h in ("day", "events", *(s.removesuffix("_s").replace("_", " ") for s in STAGES), "total")))
    for d in c["per_day"]:
        print("  ".join(f"{v:>15}" for v in (d["day"], d["events"], *(f"{d[s]['embedded']:.1f} / {d[s]['spark']:.1f}"
                                                                     for s in (*STAGES, "total_s")))))
    for name, figures in (("start-up s", c["startup_s"]), ("end to end s", c["end_to_end_s"])):
        print(f"{name}: embedded {figures['embedded']:.1f}, spark {figures['spark']:.1f} ({figures['spark_over_embedded']:.1f}x)")
    landing = c["landing_events_per_s"]
    print(f"landing events/s: embedded {landing['embedded']:.0f}, spark {landing['spark']:.0f} ({landing['embedded_over_spark']:.1f}x)")
    print(f"peak memory of the pipeline process, MB: embedded {c['peak_memory_mb']['embedded']:.0f}, "
          f"spark {c['peak_memory_mb']['spark']:.0f} (embedded: this process and its engine server's; Spark's JVM is a child process, not counted)")


def landing_anchors(landing: Path, landing_events_per_s: float | None) -> dict:
    """bench/landing_anchors.py on the run's own files, in a child process, and each anchor's events/s over landing's
    (``anchor_over_landing``: how many times faster the anchor read the same records)."""
    script = Path(__file__).resolve().parents[1] / "bench" / "landing_anchors.py"
    if not script.is_file():
        return {"error": f"{script} not found: run from a clone of the repository"}
    done = subprocess.run([sys.executable, str(script), str(landing)], capture_output=True, text=True, timeout=3600)
    try:
        anchors = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}
    for figures in anchors.values():
        if isinstance(figures, dict) and figures.get("events_per_s") and landing_events_per_s:
            figures["anchor_over_landing"] = round(figures["events_per_s"] / landing_events_per_s, 1)
    return {"landing_events_per_s": landing_events_per_s, **anchors}


def compare_engines(landing: Path) -> dict:
    """Both engines copy the same landing files into a table, one process each (bench/engine_probe.py)."""
    probe = Path(__file__).resolve().parents[1] / "bench" / "engine_probe.py"
    if not probe.is_file():
        return {"error": f"{probe} not found: run from a clone of the repository"}
    results = {}
    for name in ("embedded", "classic"):
        done = subprocess.run([sys.executable, str(probe), name], capture_output=True, text=True, timeout=3600,
                              env={**{k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"},
                                   "LANDING_DIR": str(landing)})
        try:
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            results[name] = {"error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}
    return results


if __name__ == "__main__":
    sys.exit(main())

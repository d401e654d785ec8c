"""End-to-end benchmark: each day's files through bronze -> silver -> gold with every data-quality gate.

Generates a sample bank, then delivers it one day at a time (as production would) and times, per day:
landing, the bronze gate, the silver build, the silver gate, the gold build and the gold gate. Prints
a table with the share of time spent in gates and the events landed per second, and writes the
figures as JSON. Peak memory is the process's (the embedded engine runs in-process).

    .venv/bin/python bench/pipeline.py --customers 20000 --days 5 --out bench/results/pipeline.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 11, 2))
    parser.add_argument("--out", type=Path, default=Path("bench/results/pipeline.json"))
    parser.add_argument("--workdir", type=Path, help="keep the generated lake here (default: a temporary directory)")
    args = parser.parse_args(argv)

    from interaction_lake.config import Settings
    from interaction_lake.engine import get_spark
    from interaction_lake.generator import SOURCES, generate
    from jobs.bronze.gate import gate_bronze
    from jobs.bronze.land import land_source
    from jobs.gold.build import build_gold
    from jobs.silver.build import build_silver
    from jobs.silver.gate import gate_silver

    work = args.workdir or Path(tempfile.mkdtemp(prefix="interaction-lake-bench-"))
    shutil.rmtree(work / "lake", ignore_errors=True)
    shutil.rmtree(work / "landing", ignore_errors=True)
    settings = Settings().with_paths(lake_root=work / "lake", landing_root=work / "landing")
    sent = work / "sent"
    shutil.rmtree(sent, ignore_errors=True)
    started = time.perf_counter()
    manifest = generate(sent, customers=args.customers, days=args.days, seed=args.seed, start=args.start, fault_rate=0.01)
    generated_s = time.perf_counter() - started
    spark = get_spark(settings)

    days = []
    for day in sorted({p.name for p in sent.glob("*/*") if p.is_dir()}):
        for folder in sent.glob(f"*/{day}"):
            shutil.copytree(folder, settings.landing_root / folder.parent.name / day)
        run = f"bench-{day}"
        figures: dict = {"day": day}
        t = time.perf_counter()
        landed = sum(land_source(spark, settings, s, run).records_landed for s in SOURCES)
        figures["land_s"], figures["events_landed"] = time.perf_counter() - t, landed
        t = time.perf_counter()
        [gate_bronze(spark, settings, s, run) for s in SOURCES]
        figures["bronze_gate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        build_silver(spark, settings, run)
        figures["silver_s"] = time.perf_counter() - t
        t = time.perf_counter()
        gate_silver(spark, settings, run)
        figures["silver_gate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        report = build_gold(spark, settings, run)
        gold_total = time.perf_counter() - t
        figures["gold_gate_s"] = sum(o.seconds for o in report.gates)
        figures["gold_s"] = gold_total - figures["gold_gate_s"]
        work_s = figures["land_s"] + figures["silver_s"] + figures["gold_s"]
        gates_s = figures["bronze_gate_s"] + figures["silver_gate_s"] + figures["gold_gate_s"]
        figures["total_s"], figures["gate_share"] = work_s + gates_s, gates_s / (work_s + gates_s)
        figures["landing_events_per_s"] = landed / figures["land_s"] if figures["land_s"] else None
        days.append(figures)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.customers} customers, {args.days} days, {sum(s.lines for s in manifest.sources.values())} records "
          f"(generated in {generated_s:.1f} s); engine: embedded; peak memory {peak_mb:.0f} MB")
    header = ("day", "events", "land s", "ev/s", "bronze gate", "silver s", "silver gate", "gold s", "gold gate", "total s", "gates")
    print("  ".join(f"{h:>11}" for h in header))
    for d in days:
        print("  ".join(f"{v:>11}" for v in (d["day"], d["events_landed"], f"{d['land_s']:.1f}", f"{d['landing_events_per_s'] or 0:.0f}",
                                            f"{d['bronze_gate_s']:.1f}", f"{d['silver_s']:.1f}", f"{d['silver_gate_s']:.1f}",
                                            f"{d['gold_s']:.1f}", f"{d['gold_gate_s']:.1f}", f"{d['total_s']:.1f}", f"{d['gate_share']:.0%}")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"customers": args.customers, "days": args.days, "engine": "embedded", "peak_memory_mb": peak_mb,
                                    "per_day": days}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

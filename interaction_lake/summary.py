"""Print what the lake holds: each table's path, Delta version, row count and last writer.

Reads with the ``deltalake`` package (delta-rs), not Spark: the same independent reader an
auditor or a BI tool would use, and quick because it needs no engine.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.config import Settings
from interaction_lake.storage import location


SHOWN = 20  # files listed by name in a section; the rest are counted


def tables(lake_root: Path) -> list[Path]:
    return sorted(p.parent for p in location(lake_root).glob("*/*/_delta_log"))


def describe(path: Path) -> dict:
    """The table's version, rows and who wrote the latest version: its commit's metadata, else the commit log's entry
    (a MERGE on the embedded engine carries none), else the Delta operation itself (a VACUUM)."""
    table = DeltaTable(str(path))
    last = table.history(1)[0]
    metadata = json.loads(last.get("userMetadata") or "{}") or lake.commit_info(path, table.version())
    return {"path": str(path), "version": table.version(), "rows": table.to_pyarrow_dataset().count_rows(use_threads=False),
            "last_job": metadata.get("job") or last.get("operation", "unknown").lower(),
            "last_run": metadata.get("run_id") or "no run recorded"}


def print_summary(settings: Settings) -> list[str]:
    """Print the summary; return the tables that could not be read (each is shown with why, the others as usual)."""
    from interaction_lake.cli_common import storage_problem

    print(f"lake at {settings.lake_root}")
    print(f"  {'table':34} {'version':>7} {'rows':>9}  last written by")
    unreadable = []
    for path in tables(settings.lake_root):
        name = str(path.relative_to(settings.lake_root))
        try:
            info = describe(path)
        except Exception as error:  # noqa: BLE001 -- one broken table must not hide the others
            problem = storage_problem(error)
            if problem is None:
                raise
            unreadable.append(name)
            print(f"  {name:34} {'?':>7} {'?':>9}  CANNOT BE READ: {problem}")
            continue
        print(f"  {name:34} {info['version']:>7} {info['rows']:>9}  {info['last_job']} ({info['last_run']})")
    readable = [path for path in tables(settings.lake_root) if str(path.relative_to(settings.lake_root)) not in unreadable]
    quarantine = lake.landing_quarantine_table(settings.lake_root)
    if quarantine in readable:
        rows = lake.arrow(DeltaTable(str(quarantine)), columns=["source", "reason"]).to_pylist()
        print("\nquarantined at landing, by source and reason (table quarantine/landing):")
        for (source, reason), n in sorted(Counter((r["source"], r["reason"]) for r in rows).items()):
            print(f"  {source:16} {reason:28} {n:>6}")
    facts = lake.table_path(settings.lake_root, lake.QUARANTINE, "silver_facts")
    if facts in readable:
        rows = lake.arrow(DeltaTable(str(facts)), columns=["fact", "rule"]).to_pylist()
        print("\nfacts held by a lifecycle rule, by fact and rule (table quarantine/silver_facts; docs/silver.md):")
        for (fact, rule), n in sorted(Counter((r["fact"], r["rule"]) for r in rows).items()):
            print(f"  {fact:16} {rule:28} {n:>6}")
    ledger_path = lake.landing_ledger_table(settings.lake_root)
    if ledger_path in readable:
        rows = lake.arrow(DeltaTable(str(ledger_path)), columns=["source", "file_path", "status", "detail"]).to_pylist()
        final, why = {}, {}
        for r in rows:  # committed supersedes pending for the same file
            key = (r["source"], r["file_path"])
            if final.get(key) != "committed":
                final[key], why[key] = r["status"], r["detail"]
        print("\nlanding files by fate (table _system/landing_ledger):")
        for (source, status), n in sorted(Counter((s, st) for (s, _), st in final.items()).items()):
            print(f"  {source:16} {status:16} {n:>6}")
        not_landed = sorted(key for key, status in final.items() if status in ("ignored", "unreadable"))
        if not_landed:
            print("\nfiles not landed, and why ('unassigned': outside every source's and feed's folder; docs/feeds.md):")
            for source, path in not_landed[:SHOWN]:
                print(f"  {source:16} {path}: {why[(source, path)]}")
            if len(not_landed) > SHOWN:
                print(f"  ... and {len(not_landed) - SHOWN} more (table _system/landing_ledger, status ignored or unreadable)")
    if lake.table_path(settings.lake_root, lake.SYSTEM, "quality_results") in readable:
        print_held(settings)
    return unreadable


def print_held(settings: Settings) -> None:
    """What the gates hold, until it is resolved (a green day after does not hide it)."""
    from interaction_lake.engine import get_spark
    from jobs.quality.held import held

    found = held(get_spark(settings), settings.lake_root)
    if found:
        print(f"\nHELD by the data-quality gates ({len(found)}; 'interaction-lake quality held' says why, 'quality release' or 'recheck' resolves):")
        for h in found:
            print(f"  {h.subject()}  since {h.since:%Y-%m-%d %H:%M} UTC")


def print_headlines(settings: Settings) -> None:
    """A few figures from the gold marts, read as a BI tool would (delta-rs, no engine)."""
    gold = location(settings.lake_root) / "gold"
    if not (gold / "customer_value" / "_delta_log").is_dir():
        return
    values = lake.arrow(DeltaTable(str(gold / "customer_value"))).to_pylist()
    month = max(r["month"] for r in values)
    current = [r for r in values if r["month"] == month]
    print(f"headlines from the gold marts (month {month:%Y-%m}, see docs/metrics.md for definitions):")
    for tier in ("high", "mid", "low"):
        members = [r for r in current if r["value_tier"] == tier]
        share = sum(r["contribution_share"] for r in members)
        print(f"  value tier {tier:4}  {len(members):>6} customers ({len(members) / max(len(current), 1):6.1%})"
              f"  {share:6.1%} of positive contribution")
    service = lake.arrow(DeltaTable(str(gold / "service_quality"))).to_pylist()
    days = sorted((r for r in service if r["channel"] == "callcentre" and r["unit_id"] == "ALL" and r["period"] == "day"),
                  key=lambda r: r["period_start"])
    for r in days:
        rate = "n/a" if r["abandonment_rate"] is None else f"{r['abandonment_rate']:6.1%}"
        flag = "  ABOVE the {:.0%} ceiling".format(r["abandonment_ceiling"]) if r["abandonment_breach"] else ""
        print(f"  calls {r['period_start']}  offered {r['calls_offered']:>5}  abandonment {rate}  "
              f"service level {r['service_level'] or 0:6.1%}{flag}")
    headline = satisfaction_headline(lake.arrow(DeltaTable(str(gold / "satisfaction"))).to_pylist(), month)
    if headline:
        print(f"  {headline}")
    at_risk = lake.arrow(DeltaTable(str(gold / "key_customers_at_risk"))).to_pylist()
    print(f"  key customers at risk: {len(at_risk)}" + (f" (most common reason: {Counter(x for r in at_risk for x in r['reasons']).most_common(1)[0][0]})" if at_risk else ""))


def satisfaction_headline(satisfaction: list[dict], month: dt.date) -> str | None:
    """The month's CSAT and NPS from the mart's month rows (never day and month rows together); None without answers."""
    answered = [r for r in satisfaction if r["period"] == "month" and r["month"] == month]
    rated = sum(r["nps_responses"] for r in answered)
    if not rated:
        return None
    nps = 100 * (sum(r["promoters"] for r in answered) - sum(r["detractors"] for r in answered)) / rated
    csat = sum(r["csat_satisfied"] for r in answered) / max(sum(r["csat_responses"] for r in answered), 1)
    return f"satisfaction {month:%Y-%m}: CSAT {csat:.1%}, NPS {nps:+.0f} ({rated} answers)"

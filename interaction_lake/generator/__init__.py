"""Deterministic, seeded generator of landing files shaped like a real bank's feeds.

``generate(out_dir, customers=..., days=..., seed=...)`` writes one folder per source under
``out_dir`` (JSON lines; the product-holding snapshots as CSV) and returns a manifest of what it
wrote, including every fault it injected, so tests can reconcile what lands against what was
sent. The same arguments always give byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from interaction_lake.generator import simulate
from interaction_lake.generator.population import build_bank

SOURCES = ("counter", "callcentre", "survey", "account_manager", "holdings")
UNKNOWN_TYPES = {"counter": "ticket_reprinted", "callcentre": "call_parked", "survey": "survey_reminder_sent",
                 "account_manager": "contact_cancelled", "holdings": "credit_limit_snapshot"}
CSV_EVENT_TYPES = {"product_holding_snapshot"}
MANIFEST_NAME = "_manifest.json"
LINE_FAULTS = ("malformed", "wrong_type", "unknown_event_type")


@dataclass
class SourceManifest:
    events: int = 0  # distinct events simulated (before any fault)
    lines: int = 0  # records written to the original files (duplicate files not counted)
    files: int = 0
    malformed: int = 0  # cut JSON lines, plus malformed_csv rows (extra cells) where the source writes CSV
    malformed_csv: int = 0
    wrong_type: int = 0
    unknown_event_type: int = 0
    duplicate_events: int = 0
    late_events: int = 0
    shuffled_files: int = 0
    duplicate_files: int = 0
    empty_files: int = 0


@dataclass
class Manifest:
    seed: int
    customers: int
    days: int
    start: str
    fault_rate: float
    sources: dict[str, SourceManifest] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def generate(out_dir: Path | str, customers: int = 2000, days: int = 7, seed: int = 42,
             start: dt.date = dt.date(2026, 11, 2), fault_rate: float = 0.01) -> Manifest:
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be at least 1")
    if not 0 <= fault_rate <= 0.2:
        raise ValueError("fault_rate must be between 0 and 0.2")
    out_dir = Path(out_dir)
    bank = build_bank(customers, random.Random(f"{seed}:population"))
    end = start + dt.timedelta(days=days - 1)
    events = _simulate(bank, start, end, seed)
    manifest = Manifest(seed, customers, days, start.isoformat(), fault_rate)
    for source in SOURCES:
        rng = random.Random(f"{seed}:faults:{source}")
        manifest.sources[source] = _write_source(out_dir / source, source, events[source], start, end, fault_rate, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_NAME).write_text(manifest.to_json())
    return manifest


def _simulate(bank, start: dt.date, end: dt.date, seed: int) -> dict[str, list[dict]]:
    rngs = {source: random.Random(f"{seed}:{source}") for source in SOURCES}
    ids = {source: simulate.Ids(rngs[source], source[:3]) for source in SOURCES}
    events: dict[str, list[dict]] = {source: [] for source in SOURCES}
    served: list[tuple] = []
    repeat_callers: list[tuple] = []
    events["holdings"] += simulate.snapshots(bank, start - dt.timedelta(days=1), rngs["holdings"], ids["holdings"], drift=False)
    day = start
    while day <= end:
        if day.day == 1 and day != start:
            events["holdings"] += simulate.snapshots(bank, day - dt.timedelta(days=1), rngs["holdings"], ids["holdings"], drift=True)
        simulate.counter_day(bank, day, rngs["counter"], ids["counter"], 0.02, events["counter"], served)
        simulate.callcentre_day(bank, day, rngs["callcentre"], ids["callcentre"], 0.02, events["callcentre"], served, repeat_callers)
        simulate.am_day(bank, day, rngs["account_manager"], ids["account_manager"], events["account_manager"])
        day += dt.timedelta(days=1)
    simulate.surveys(served, rngs["survey"], ids["survey"], {c.ref: c for c in bank.customers}, events["survey"])
    horizon = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), simulate.UTC)
    # What happens after the last day has not happened yet (a complaint still open, a survey not yet answered).
    return {source: [e for e in evs if e["_at"] < horizon] for source, evs in events.items()}


def _write_source(folder: Path, source: str, events: list[dict], start: dt.date, end: dt.date, rate: float,
                  rng: random.Random) -> SourceManifest:
    stats = SourceManifest(events=len(events))
    for e in events:
        e["_deliver"] = max(e["_at"].date(), start)
    order = list(range(len(events)))
    rng.shuffle(order)
    count = round(len(events) * rate)
    cursor = 0
    faulted: dict[str, list[int]] = {}
    for fault in LINE_FAULTS + ("duplicate", "late"):
        faulted[fault] = order[cursor:cursor + count]
        cursor += count
    for fault in LINE_FAULTS:
        for i in faulted[fault]:
            events[i]["_fault"] = fault
        setattr(stats, fault, len(faulted[fault]))
    if source != "holdings":  # snapshots are delivered whole, never late
        for i in faulted["late"]:
            if events[i]["_deliver"] < end:
                events[i]["_deliver"] = min(end, events[i]["_deliver"] + dt.timedelta(days=rng.randint(1, 4)))
                stats.late_events += 1
    resent = []
    for i in faulted["duplicate"]:
        copy = dict(events[i])
        copy["_deliver"] = min(end, copy["_deliver"] + dt.timedelta(days=rng.choice((0, 0, 1, 2))))
        resent.append(copy)
    stats.duplicate_events = len(resent)

    files: dict[tuple[dt.date, str], list[dict]] = defaultdict(list)
    for e in events + resent:
        kind = "csv" if e["event_type"] in CSV_EVENT_TYPES else "jsonl"
        files[(e["_deliver"], kind)].append(e)
    written: list[Path] = []
    for (day, kind), batch in sorted(files.items()):
        batch.sort(key=lambda e: e["_at"])
        if rng.random() < min(1.0, rate * 10):
            rng.shuffle(batch)
            stats.shuffled_files += 1
        path = folder / day.isoformat() / f"{source}_{day:%Y%m%d}_{'products' if kind == 'csv' else 'events'}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_to_csv(batch, source) if kind == "csv" else _to_json_lines(batch, source))
        if kind == "csv":
            stats.malformed_csv += sum(e.get("_fault") == "malformed" for e in batch)
        written.append(path)
        stats.lines += len(batch)
    stats.files = len(written)
    stats.malformed -= stats.malformed_csv
    if rate > 0 and written:
        for path in rng.sample(written, k=min(len(written), math.ceil(len(written) * rate))):
            path.with_name(path.stem + "_resend" + path.suffix).write_bytes(path.read_bytes())
            stats.duplicate_files += 1
        empty = written[0].with_name(f"{source}_{start:%Y%m%d}_empty.jsonl")
        empty.write_bytes(b"")
        stats.empty_files = 1
    return stats


def _public(e: dict) -> dict:
    record = {k: v for k, v in e.items() if not k.startswith("_")}
    record["occurred_at"] = e["_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if e.get("_fault") == "unknown_event_type":
        record["event_type"] = UNKNOWN_TYPES[_source_of(e)]
    return record


def _source_of(e: dict) -> str:
    return next(s for s, system in simulate.SYSTEMS.items() if system == e["source_system"])


def _to_json_lines(batch: list[dict], source: str) -> bytes:
    lines = []
    for e in batch:
        record = _public(e)
        fault = e.get("_fault")
        if fault == "wrong_type":
            record["event_id"] = int(record["event_id"][-8:], 16)  # a number where the contract says string
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        if fault == "malformed":
            line = line[: max(1, len(line) // 2)]  # cut mid-record, as a truncated transfer does
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


CSV_COLUMNS = ("event_id", "event_type", "schema_version", "occurred_at", "source_system", "customer_ref", "snapshot_date",
               "product_code", "product_family", "balance", "monthly_fees", "interest_margin_rate")


def _to_csv(batch: list[dict], source: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in batch:
        record = _public(e)
        row = ["" if record.get(c) is None else record.get(c) for c in CSV_COLUMNS]
        fault = e.get("_fault")
        if fault == "wrong_type":
            row[CSV_COLUMNS.index("balance")] = "n/a"
        if fault == "malformed":
            row.append("unexpected-extra-cell")
        writer.writerow(row)
    return buffer.getvalue().encode()


def fault_summary(manifest: Manifest) -> dict[str, Counter]:
    """Expected quarantine reasons per source, derived from the injected faults."""
    expected = {}
    for source, stats in manifest.sources.items():
        expected[source] = +Counter({"malformed_json": stats.malformed, "malformed_csv": stats.malformed_csv,
                                     "wrong_type": stats.wrong_type, "unknown_event_type": stats.unknown_event_type})
    return expected

"""The sample generator: deterministic, bank-shaped, and honest about the faults it injects."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from interaction_lake.generator import MANIFEST_NAME, SOURCES, fault_summary, generate
from interaction_lake.landing_files import discover, parse_file


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, customers=4000, days=7, seed=11, fault_rate=0.0)
    return out


def records(root: Path, source: str) -> list[dict]:
    found = []
    for path in discover(root / source):
        found += [line.record for line in parse_file(source, path.name, path.read_bytes()).accepted]
    return found


def test_same_seed_same_bytes(tmp_path: Path):
    generate(tmp_path / "a", customers=200, days=2, seed=5)
    generate(tmp_path / "b", customers=200, days=2, seed=5)
    generate(tmp_path / "c", customers=200, days=2, seed=6)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")


def test_every_source_gets_files_and_holdings_come_as_csv(clean: Path):
    for source in SOURCES:
        assert discover(clean / source), source
    assert any(p.suffix == ".csv" for p in discover(clean / "holdings"))


def test_clean_run_is_all_valid(clean: Path):
    for source in SOURCES:
        for path in discover(clean / source):
            parsed = parse_file(source, path.name, path.read_bytes())
            assert not parsed.rejected, (path, parsed.rejected[:1])


def test_value_is_skewed_few_customers_hold_most_balances(clean: Path):
    totals: Counter = Counter()
    for r in records(clean, "holdings"):
        if r["event_type"] == "product_holding_snapshot":
            totals[r["customer_ref"]] += r["balance"]
    ranked = sorted(totals.values(), reverse=True)
    top_fifth = sum(ranked[: len(ranked) // 5])
    assert top_fifth / sum(ranked) > 0.6


def test_branch_queues_build_at_lunch_time(clean: Path):
    visits: dict[str, dict[str, dt.datetime]] = defaultdict(dict)
    for r in records(clean, "counter"):
        visits[r["ticket_id"]][r["event_type"]] = dt.datetime.fromisoformat(r["occurred_at"])
    waits: dict[bool, list[float]] = {True: [], False: []}
    for v in visits.values():
        if "ticket_called" in v:
            waits[12 <= v["ticket_issued"].hour < 14].append((v["ticket_called"] - v["ticket_issued"]).total_seconds())
    mean = {k: sum(w) / len(w) for k, w in waits.items()}
    assert mean[True] > 1.5 * mean[False]


def test_call_abandonment_rises_with_the_wait(clean: Path):
    calls: dict[str, dict[str, dt.datetime]] = defaultdict(dict)
    for r in records(clean, "callcentre"):
        calls[r["call_id"]].setdefault(r["event_type"], dt.datetime.fromisoformat(r["occurred_at"]))
    # Abandonment is the customers' impatience meeting the queue: the longer the queue, the more hang up.
    load: dict[int, list[bool]] = defaultdict(list)
    for c in calls.values():
        if "call_queued" in c:
            load[c["call_queued"].hour].append("call_abandoned" in c)
    hours = sorted((v for v in load.values() if len(v) >= 30), key=len)
    quiet, busy = hours[: len(hours) // 2], hours[len(hours) // 2 :]
    rate = lambda groups: sum(map(sum, groups)) / sum(map(len, groups))  # noqa: E731
    assert rate(busy) > rate(quiet)


def test_surveys_follow_a_share_of_interactions_and_scores_fall_with_waits(clean: Path):
    survey = records(clean, "survey")
    kinds = Counter(r["event_type"] for r in survey)
    assert kinds["survey_sent"] > kinds["survey_responded"] > 0
    served = sum(1 for r in records(clean, "counter") if r["event_type"] == "service_completed")
    assert kinds["survey_sent"] < served + sum(1 for r in records(clean, "callcentre") if r["event_type"] == "call_ended")


def test_injected_faults_match_the_manifest(tmp_path: Path):
    manifest = generate(tmp_path, customers=500, days=4, seed=3, fault_rate=0.05)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["seed"] == 3
    expected = fault_summary(manifest)
    for source in SOURCES:
        stats = manifest.sources[source]
        copies = Counter(path.read_bytes() for path in discover(tmp_path / source))
        found: Counter = Counter()
        for content in copies:  # a resent file is a byte copy: its faults are the original's
            found.update(line.rejection.reason for line in parse_file(source, "x.csv" if content.startswith(b"event_id,") else "x.jsonl", content).rejected)
        assert found == expected[source], source
        assert sum(n - 1 for content, n in copies.items() if content) == stats.duplicate_files >= 1
        assert copies[b""] == stats.empty_files == 1
        if stats.events > 100 and source != "holdings":  # snapshots are never late
            assert stats.late_events > 0, source


def test_bad_arguments_are_refused(tmp_path: Path):
    with pytest.raises(ValueError):
        generate(tmp_path, customers=0)
    with pytest.raises(ValueError):
        generate(tmp_path, fault_rate=0.9)

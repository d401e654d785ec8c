"""Hostile landing zones on the real engine (issue 16, sections 1, 2 and 7): one bad record, file or folder never
stops a run or blocks the good files beside it, and nothing outside the landing zone is ever read."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from deltalake import DeltaTable

from interaction_lake import contracts, lake, ledger
from interaction_lake.config import Settings
from jobs.bronze.land import land_source

RECORD = {"event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z",
          "source_system": "genesys-acd", "customer_ref": "C1", "call_id": "call-1"}


def good(prefix: str, n: int) -> str:
    return "".join(json.dumps({**RECORD, "event_id": f"{prefix}-{i}"}) + "\n" for i in range(n))


def table_rows(path: Path, columns: list[str] | None = None) -> list[dict]:
    return DeltaTable(str(path)).to_pyarrow_table(columns=columns).to_pylist() if lake.exists(path) else []


def calls(settings: Settings) -> Path:
    folder = settings.landing_root / "callcentre" / "2026-11-02"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_one_poisoned_record_does_not_stop_this_or_any_later_run(spark, settings):
    folder = calls(settings)
    poison = ['"occurred_at": "9999-12-31T23:59:59-01:00"', '"occurred_at": "0001-01-01T00:00:00+01:00"', '"customer_ref": "Zo\\ud83d"',
              '"occurred_at": "2099-01-01T00:00:00Z"']
    lines = [json.dumps({**RECORD, "event_id": f"evt-p{i}"}).replace(f'"{key}": "{value}"', bad)
             for i, (bad, (key, value)) in enumerate(zip(poison, [("occurred_at", RECORD["occurred_at"])] * 2
                                                         + [("customer_ref", "C1"), ("occurred_at", RECORD["occurred_at"])]))]
    (folder / "calls_a.jsonl").write_text(good("evt-a", 3) + "\n".join(lines) + "\n" + good("evt-b", 2))
    first = land_source(spark, settings, "callcentre", "r1")
    assert (first.records_landed, first.records_quarantined) == (5, 4)
    assert first.quarantine_reasons == {contracts.INVALID_VALUE: 2, contracts.ENCODING_ERROR: 1, contracts.IMPLAUSIBLE_TIMESTAMP: 1}
    (folder / "calls_b.jsonl").write_text(good("evt-c", 2))
    second = land_source(spark, settings, "callcentre", "r2")  # the source is not blocked: the next file lands
    assert (second.files_new, second.records_landed, second.stuck_batches) == (1, 2, {})
    quarantined = table_rows(lake.landing_quarantine_table(settings.lake_root), ["raw_line"])
    assert sorted(r["raw_line"] for r in quarantined) == sorted(lines)  # each refused line kept, as sent


def test_every_line_of_hostile_encodings_and_csv_is_accounted_for(spark, settings):
    header = ",".join(contracts.latest("holdings").properties)
    row = lambda n, product: ",".join({"event_id": f"h{n}", "event_type": "product_holding_snapshot", "schema_version": "1",  # noqa: E731
                                       "occurred_at": "2026-11-02T02:00:00Z", "source_system": "core", "customer_ref": f"C{n}",
                                       "snapshot_date": "2026-11-01", "product_code": product, "product_family": "deposit",
                                       "balance": "10.5", "monthly_fees": "1", "interest_margin_rate": "0.01", "segment": "",
                                       "home_branch_id": "", "am_id": "", "customer_name": "", "phone": "", "birth_year": "",
                                       "customer_since": ""}.get(c, "") for c in contracts.latest("holdings").properties)
    folder = settings.landing_root / "holdings" / "2026-11-02"
    folder.mkdir(parents=True)
    rows = [row(1, "CUR\x0bSTD"), row(2, '"SAV\nX"'), row(3, "CUR\u2028A"), row(4, "LN")]
    (folder / "a.csv").write_bytes(("\ufeff" + "\n".join([header, *rows]) + "\n").encode())
    (folder / "b.csv").write_bytes(("\n".join([header, row(5, "A"), row(6, "B")]) + "\n").encode("utf-16"))
    (folder / "c.csv.gz").write_bytes(gzip.compress(("\n".join([header, row(7, "A")]) + "\n").encode()))
    (folder / "d.csv").write_bytes(b"\n".join([header.encode(), row(8, "A").encode().replace(b"A", b"\xff"), row(9, "A").encode()]) + b"\n")
    report = land_source(spark, settings, "holdings", "r1")
    assert (report.files_new, report.records_landed, report.records_quarantined) == (4, 8, 1)
    assert report.quarantine_reasons == {contracts.ENCODING_ERROR: 1}
    bronze = table_rows(lake.bronze_table(settings.lake_root, "holdings"), ["customer_ref", "raw_line", "_line_number"])
    by_ref = {r["customer_ref"]: r for r in bronze}
    assert [by_ref[f"C{n}"]["raw_line"] for n in (1, 2, 3, 4)] == rows  # nobody's line shifted onto the next customer
    assert [by_ref[f"C{n}"]["_line_number"] for n in (1, 2, 3, 4)] == [2, 3, 5, 6]
    [bad] = table_rows(lake.landing_quarantine_table(settings.lake_root), ["raw_line", "raw_base64", "_line_number"])
    assert bad["_line_number"] == 2 and bad["raw_base64"] and b"\xff" in __import__("base64").b64decode(bad["raw_base64"])


def test_what_is_not_a_landing_file_is_recorded_as_ignored_once_and_links_are_never_followed(spark, settings):
    folder = calls(settings)
    (folder / "calls.jsonl").write_text(good("evt", 2))
    (folder / "bank_export.txt").write_text("CALLID\tDATE\n1\t2026-11-02\n")
    secret = settings.lake_root / "_system" / "pseudonym.key"
    secret.parent.mkdir(parents=True)
    secret.write_text("the-lake-secret-key-material")
    (folder / "key.jsonl").symlink_to(secret)
    outside = Path(tempfile.mkdtemp()) / "elsewhere"
    outside.mkdir()
    (outside / "more.jsonl").write_text(good("evt-outside", 1))
    (folder / "linked_dir").symlink_to(outside, target_is_directory=True)
    first = land_source(spark, settings, "callcentre", "r1")
    assert (first.records_landed, first.files_ignored) == (2, 3)
    entries = {Path(e.file_path).name: e for e in ledger.latest_entries(spark, settings.lake_root, "callcentre").values()}
    assert {name: e.status for name, e in entries.items()} == {"calls.jsonl": ledger.COMMITTED, "bank_export.txt": ledger.IGNORED,
                                                                 "key.jsonl": ledger.IGNORED, "linked_dir": ledger.IGNORED}
    assert "no contract or mapping covers" in entries["bank_export.txt"].detail and "not followed" in entries["key.jsonl"].detail
    assert land_source(spark, settings, "callcentre", "r2").files_ignored == 0  # recorded once, not on every run
    leaked = [p for p in settings.lake_root.rglob("*") if p.is_file() and p != secret and b"the-lake-secret" in p.read_bytes()]
    assert leaked == []
    shutil.rmtree(outside.parent)


def test_a_file_rewritten_with_its_size_and_mtime_preserved_is_hashed_again_and_lands(spark, settings):
    folder = calls(settings)
    target = folder / "calls.jsonl"
    target.write_text(good("evt-old", 3))
    land_source(spark, settings, "callcentre", "r1")
    replacement = folder.parent / "staging.jsonl.tmp"
    replacement.write_text(good("evt-new", 3))  # same length: evt-old-N / evt-new-N
    stat = target.stat()
    shutil.copyfile(replacement, target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # what cp -p / rsync -t / touch -r leave behind
    assert target.stat().st_size == stat.st_size and target.stat().st_mtime_ns == stat.st_mtime_ns
    again = land_source(spark, settings, "callcentre", "r2")
    assert (again.files_new, again.records_landed) == (1, 3)
    ids = {r["event_id"] for r in table_rows(lake.bronze_table(settings.lake_root, "callcentre"), ["event_id"])}
    assert {f"evt-new-{i}" for i in range(3)} <= ids


def test_an_unreadable_file_or_folder_is_recorded_and_lands_once_it_can_be_read(tmp_path):
    """Permissions bind only a user who is not root, so the landing run is made as ``nobody`` when the tests run as root."""
    base = Path(tempfile.mkdtemp(prefix="il-perm-"))
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    folder = calls(settings)
    (folder / "good.jsonl").write_text(good("evt-g", 2))
    (folder / "locked.jsonl").write_text(good("evt-l", 2))
    locked_dir = folder / "locked"
    locked_dir.mkdir()
    (locked_dir / "inside.jsonl").write_text(good("evt-i", 1))
    os.chmod(base, 0o777)
    for path in base.rglob("*"):
        os.chmod(path, 0o777 if path.is_dir() else 0o666)
    os.chmod(folder / "locked.jsonl", 0o000)
    os.chmod(locked_dir, 0o000)

    def land() -> subprocess.CompletedProcess:
        env = {**os.environ, "HOME": str(base), "INTERACTION_LAKE_PROGRESS": "0"}
        command = [sys.executable, "-m", "interaction_lake", "land", "--no-gate", "--source", "callcentre", "--json",
                   "--lake", str(settings.lake_root), "--landing", str(settings.landing_root)]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=base)

    try:
        first = land()
        assert first.returncode == 0, first.stderr[-3000:]
        [report] = json.loads(first.stdout[first.stdout.index("["):])
        assert (report["records_landed"], report["files_unreadable"]) == (2, 2)
        os.chmod(folder / "locked.jsonl", 0o666)
        os.chmod(locked_dir, 0o777)
        second = land()
        [report] = json.loads(second.stdout[second.stdout.index("["):])
        assert (report["files_new"], report["records_landed"]) == (2, 3), second.stderr[-3000:]
        statuses = {}
        for entry in table_rows(lake.landing_ledger_table(settings.lake_root)):
            statuses.setdefault(Path(entry["file_path"]).name, []).append(entry["status"])
        assert ledger.UNREADABLE in statuses["locked.jsonl"] and ledger.UNREADABLE in statuses["locked"]
    finally:
        for path in [base, *base.rglob("*")]:
            os.chmod(path, 0o777) if path.is_dir() else None
        shutil.rmtree(base, ignore_errors=True)

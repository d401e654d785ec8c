"""Customer erasure on real Delta tables: the customer is gone from every table and from every data file on disk
(old versions included), everyone else is untouched, the erasure is recorded without the reference, the pipeline goes on."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest
import pyarrow.parquet as pq
from deltalake import DeltaTable

from interaction_lake import lake
from interaction_lake.cli import main
from interaction_lake.generator import SOURCES
from interaction_lake.privacy import pseudonym_py, secret_for
from interaction_lake.quality.gate import render_pending_data_docs, validate
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold
from jobs.privacy.erase import erasures_table
from jobs.silver.build import build_silver


def tables(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("**/_delta_log") if p.parent.name != "erasures")  # gold/_state/... too


def files_mentioning(root: Path, needles: tuple[str, ...]) -> list[str]:
    """Every Parquet file on disk (current or old versions) with a string cell containing a needle; the erasure
    record itself keeps the pseudonym (by design: it is how a later audit finds the request) and is skipped."""
    found = []
    for path in root.glob("**/*.parquet"):
        if erasures_table(root) in path.parents:
            continue
        table = pq.read_table(path)
        while any(str(t).startswith("struct") for t in table.schema.types):  # Delta checkpoints nest add.stats in structs
            table = table.flatten()
        for column in table.column_names:
            if str(table.schema.field(column).type) in ("string", "large_string"):
                values = table.column(column)
                if any(pc.any(pc.match_substring(values, n)).as_py() for n in needles):
                    found.append(f"{path}:{column}")
    return found


def other_files_mentioning(root: Path, key: str, token: re.Pattern) -> list[str]:
    """Every other file under the lake -- Delta commit logs and checksums, lineage events, Great Expectations'
    results and Data Docs -- whose bytes hold the pseudonym or the reference as a whole token."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix == ".parquet" or erasures_table(root) in path.parents or path.name == "pseudonym.key":
            continue
        data = path.read_bytes()
        if key.encode() in data or token.search(data):
            found.append(str(path.relative_to(root)))
    return found


def row_counts(root: Path) -> dict[str, int]:
    return {str(t.relative_to(root)): DeltaTable(str(t)).to_pyarrow_table().num_rows for t in tables(root)}


def built_lake_and_a_customer(spark, settings) -> tuple[Path, list[str], str, str]:
    """Every layer built from the landing zone; the counter's busiest customer: (lake, counter refs, reference, pseudonym)."""
    for source in SOURCES:
        land_source(spark, settings, source, "r1")
    build_silver(spark, settings, "r1")
    build_gold(spark, settings, "r1", gate=False)
    root = settings.lake_root
    refs = DeltaTable(str(lake.bronze_table(root, "counter"))).to_pyarrow_table(columns=["customer_ref"]).column(0).to_pylist()
    reference = max((r for r in set(refs) if r), key=lambda r: (refs.count(r), r))
    return root, refs, reference, pseudonym_py(reference, secret_for(root))


def a_failed_gate_quoting(spark, root: Path, key: str, suites: Path) -> None:
    """A gate whose failing values are the customer's pseudonym: its results (and the Data Docs left to render later)
    quote it."""
    (suites / "silver").mkdir(parents=True, exist_ok=True)
    (suites / "silver" / "probe.json").write_text(json.dumps({"name": "silver.probe", "expectations": [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "customer_key", "value_set": ["nobody"]}}]}))
    outcome = validate(spark, root, "silver", "probe", spark.createDataFrame([(key,)], "customer_key string"), "r1")
    assert not outcome.passed and key in json.dumps(outcome.docs_ids[0].results[0].result)


def test_erasure_removes_the_customer_everywhere_and_only_them(spark, settings, small_bank, capsys, monkeypatch, tmp_path):
    root, refs, reference, key = built_lake_and_a_customer(spark, settings)
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(tmp_path / "suites"))
    a_failed_gate_quoting(spark, root, key, tmp_path / "suites")
    token = re.compile(rf"(^|[^A-Za-z0-9_-]){re.escape(reference)}([^A-Za-z0-9_-]|$)")
    byte_token = re.compile(token.pattern.encode())
    assert files_mentioning(root, (key,)) and files_mentioning(root, (reference,))  # the customer is there to erase
    before = row_counts(root)

    code = main(["erase", "--customer-ref", reference, "--request-id", "REQ-1", "--lake", str(root), "--landing", str(settings.landing_root),
                 "--run-id", "erase-1"])
    out = capsys.readouterr().out
    assert code == 0 and "recorded in _system/erasures" in out
    assert not [t for t in spark.catalog.listTables() if t.name.startswith("erasure_")]  # the session keeps no view of the reference

    assert files_mentioning(root, (key,)) == []  # no data file of any version holds the pseudonym
    leftovers = [f for f in files_mentioning(root, (reference,))
                 if any(token.search(str(v)) for v in pq.read_table(f.split(":")[0]).column(f.split(":")[1]).to_pylist() if v)]
    assert leftovers == []  # nor the reference as a whole token
    # Nor any other file: no commit (not even the erasure's own) names them, no file statistics quote them.
    assert other_files_mentioning(root, key, byte_token) == []

    [record] = DeltaTable(str(erasures_table(root))).to_pyarrow_table().to_pylist()
    assert record["request_id"] == "REQ-1" and record["customer_key"] == key and reference not in str(record)
    removed = json.loads(record["rows_removed"])
    assert removed.get("bronze/counter_events") == refs.count(reference)
    assert {"silver/customer_dim", "gold/customer_value"} <= set(removed)
    after = row_counts(root)
    changed = {t: before[t] - after[t] for t in before if before[t] != after[t] and t != "_system/commit_log"}  # the log records the erasure's commits
    assert changed == removed  # everyone else untouched
    assert record["landing_files_with_customer"] != "[]"  # the landing zone is outside the lake: named, not changed

    render_pending_data_docs(spark, root)  # Data Docs rendered after the erasure cannot bring them back either
    assert other_files_mentioning(root, key, byte_token) == []

    assert main(["audit", "as-of", "customer_value", "--version", "1", "--lake", str(root)]) == 2  # time travel cannot bring them back (0 is its definition)
    assert "was vacuumed" in capsys.readouterr().err

    assert main(["erase", "--customer-ref", reference, "--request-id", "REQ-1", "--lake", str(root)]) == 0
    assert "removed from 0 table(s)" in capsys.readouterr().out  # idempotent, and recorded again

    build_silver(spark, settings, "r2")
    build_gold(spark, settings, "r2", gate=False)  # the pipeline goes on: the months silver lost rows in are rebuilt without them
    values = DeltaTable(str(lake.table_path(root, "gold", "customer_value"))).to_pyarrow_table(columns=["customer_key"]).column(0).to_pylist()
    assert values and key not in values


def test_an_empty_reference_is_refused_in_one_line(settings, capsys):
    settings.lake_root.mkdir(parents=True)
    assert main(["erase", "--customer-ref", " ", "--request-id", "REQ-2", "--lake", str(settings.lake_root)]) == 2
    assert "customer reference is required" in capsys.readouterr().err


@pytest.mark.parametrize("crash_at", ["erase_between_deletes", "erase_after_delete", "erase_after_vacuum"])
def test_an_interrupted_erasure_resumes_and_verifies_every_version_and_staging(spark, settings, small_bank, run_cli, crash_at):
    """SIGKILL between the deletes and VACUUM (or before the record): the rerun finds no row left, yet vacuums what the
    first attempt deleted from, removes killed runs' staging, scans every data file and only then records."""
    root, refs, reference, key = built_lake_and_a_customer(spark, settings)
    # Killed runs left staging behind: landing's parts (raw lines) and gold's staged marts (customer keys).
    for table, staging in ((lake.bronze_table(root, "counter"), root / "_system" / "staging" / "0123abcd"),
                           (lake.table_path(root, "gold", "customer_value"), root / "_staging" / "gold" / "killed-run" / "customer_value")):
        staging.mkdir(parents=True)
        for n, part in enumerate(table.rglob("*.parquet")):
            shutil.copy(part, staging / f"part-{n}.parquet")
    assert files_mentioning(root, (key,))

    killed = run_cli(settings, "erase", "--customer-ref", reference, "--request-id", "REQ-K", crash_at=crash_at)
    assert killed.returncode == -9
    [journal] = (root / "_system" / "erasure_journal").glob("*.json")
    planned = json.loads(journal.read_text())["rows_removed"]
    assert reference not in journal.read_text() and planned
    assert crash_at == "erase_between_deletes" or planned["bronze/counter_events"] == refs.count(reference)
    # (between deletes: killed after the first table holding the customer; the rerun finds the rest)

    rerun = run_cli(settings, "erase", "--customer-ref", reference, "--request-id", "REQ-K")
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed" in rerun.stdout and "verified" in rerun.stdout
    assert ("staging folder(s)" in rerun.stdout) == (crash_at != "erase_after_vacuum")  # else the first attempt removed them
    assert not list((root / "_system" / "staging").rglob("*")) and not list((root / "_staging").rglob("*"))
    assert files_mentioning(root, (key,)) == []
    assert not list((root / "_system" / "erasure_journal").glob("*.json"))
    with pytest.raises(Exception):  # the version before the erasure cannot be read back: its files are gone
        DeltaTable(str(lake.bronze_table(root, "counter")), version=0).to_pyarrow_table()
    [record] = DeltaTable(str(erasures_table(root))).to_pyarrow_table().to_pylist()
    assert json.loads(record["rows_removed"])["bronze/counter_events"] == refs.count(reference)  # counted over both attempts

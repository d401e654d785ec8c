"""The DAG chain run through Airflow for real (SQLite metadata DB, ``dag.test()``), in a fresh AIRFLOW_HOME.

Airflow runs in a child process, as the README's ``make airflow-demo`` does; the test then reads what it
left: the metadata database (DAG runs, task tries, Asset events) and the Delta tables (commit metadata,
marts equal to those built from the same files without Airflow).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from interaction_lake import lake, lineage
from interaction_lake.config import Settings
from interaction_lake.generator import SOURCES, generate
from interaction_lake.generator.deliveries import days_of, deliver
from jobs.bronze.land import land_source
from jobs.gold.build import MARTS, build_gold, mart_table
from jobs.silver.build import build_silver
from tests.integration.dags.faults import deliver_a_file_the_bronze_gate_fails
from tests.integration.servers import smtp_and_webhook

START = dt.date(2026, 11, 2)
SECRET = "chain-test-pseudonym-secret"  # one secret for both lakes, so their pseudonymised keys compare


def airflow(home: Path, settings: Settings, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "INTERACTION_LAKE_LAKE_ROOT": str(settings.lake_root),
           "INTERACTION_LAKE_LANDING_ROOT": str(settings.landing_root), "INTERACTION_LAKE_PSEUDONYM_SECRET": SECRET, **(env or {})}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=900)


def gold(lake_root: Path) -> dict[str, list[dict]]:
    def rows(path):
        return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return {name: rows(mart_table(lake_root, name)) for name in MARTS}


def query(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute(sql).fetchall()


def correct_a_call_of_the_first_day(sent: Path, days: list[str]) -> None:
    """The second day's delivery re-sends a first-day answered call as revision 1, with another agent: the silver run
    of that day MERGEs a stored event and its call fact (an ordinary day only appends), as banks' feeds do."""
    answered = next(json.loads(line) for path in sorted((sent / "callcentre" / days[0]).glob("*.jsonl"))
                    for line in path.read_text().splitlines() if '"call_answered"' in line and '"agent_id"' in line)
    corrected = {**answered, "revision": 1, "agent_id": "AG0001" if answered["agent_id"] != "AG0001" else "AG0002"}
    (sent / "callcentre" / days[1] / "callcentre_corrections.jsonl").write_text(json.dumps(corrected) + "\n")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Day 1's files arrive and the chain runs; days 2-3 arrive together and the chain runs once more (catching up)."""
    base = tmp_path_factory.mktemp("airflow_chain")
    home, sent = base / "airflow", base / "sent"
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    generate(sent, customers=150, days=3, seed=3, start=START, fault_rate=0.03)
    days = days_of(sent)
    correct_a_call_of_the_first_day(sent, days)
    migrate = airflow(home, settings, "-m", "airflow", "db", "migrate")
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    deliver(sent, settings.landing_root, days[0])
    first = airflow(home, settings, "-m", "interaction_lake.airflow_run", days[0])
    for day in days[1:]:
        deliver(sent, settings.landing_root, day)
    second = airflow(home, settings, "-m", "interaction_lake.airflow_run", days[1])
    return home, settings, sent, days, first, second


def test_every_dag_of_the_chain_succeeds_on_each_day(chain):
    home, _, _, days, first, second = chain
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-4000:]
    runs = query(home, "SELECT dag_id, date(logical_date), state FROM dag_run")
    expected = {f"land_{s}" for s in SOURCES} | {"silver", "marts"}
    for day in days[:2]:
        assert {d for d, when, state in runs if when == day and state == "success"} == expected
    tries = query(home, "SELECT dag_id, task_id, state, try_number FROM task_instance")
    assert tries and all(state == "success" and n == 1 for _, _, state, n in tries)


def test_assets_record_each_stage_publishing_the_next(chain):
    home = chain[0]
    events = dict(query(home, "SELECT a.name, count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id GROUP BY a.name"))
    assert events == {**{f"bronze.{s}_events": 2 for s in SOURCES}, "silver": 2, "gold": 2}
    # Each event says what it published: the batches and version validated, the silver versions, the marts' rows.
    extras = query(home, "SELECT a.name, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id ORDER BY e.id")
    for name, extra in extras:
        extra = json.loads(extra)
        if name.startswith("bronze."):
            assert extra["batch_ids"] and all(b.startswith(name.split(".")[1].removesuffix("_events")) for b in extra["batch_ids"])
            assert extra["table_version"] >= 0 and extra["validations"] >= 1
        elif name == "silver":
            assert extra["table_versions"] and extra["validations"] >= len(extra["table_versions"])
        else:
            assert extra["as_of"] and set(extra["rows"]) <= set(MARTS) and extra["up_to_date"] is False


def test_commits_carry_the_airflow_run_id_and_task(chain):
    home, settings = chain[0], chain[1]
    runs = {run_id: dag_id for dag_id, run_id in query(home, "SELECT dag_id, run_id FROM dag_run")}
    for path, task in ((settings.lake_root / "bronze" / "counter_events", "land_counter.land"),
                       (settings.lake_root / "silver" / "call", "silver.build_silver"),
                       (mart_table(settings.lake_root, "customer_value"), "marts.build_marts")):
        for commit in DeltaTable(str(path)).history():  # MERGE commits too (their record is in _system/commit_log)
            meta = lake.commit_info(path, commit["version"])
            assert meta["task"] == task and runs[meta["run_id"]] == task.split(".")[0], (path, commit)
    for entry in DeltaTable(str(settings.lake_root / "_system" / "commit_log")).to_pyarrow_table().to_pylist():
        assert runs[entry["run_id"]] == entry["task"].split(".")[0]


def test_the_marts_dag_renders_every_verdict_of_the_day_into_data_docs(chain):
    """Gate tasks that pass leave Data Docs alone (sparing each a Great Expectations import); the marts DAG's
    ``data_docs`` task renders every validation of every stage recorded in ``_system/quality_results``."""
    from interaction_lake.quality.gate import PendingDocs, data_docs_index, results_table, validation_run_name

    settings = chain[1]
    recorded = DeltaTable(str(results_table(settings.lake_root))).to_pyarrow_table().to_pylist()
    validations = {(r["run_id"], r["scope"], r["suite"], r["validated_at"]) for r in recorded if r["gx_result"]}
    assert {r["stage"] for r in recorded if r["gx_result"]} == {"bronze", "silver", "gold"}
    site = data_docs_index(settings.lake_root).parent
    for run_id, scope, suite, at in validations:
        *folders, batch = PendingDocs(suite, validation_run_name(run_id, scope), at, []).identifier().to_tuple()
        assert site.joinpath("validations", *folders, f"{batch}.html").is_file(), (run_id, scope, suite)


def lineage_runs(settings) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    for line in lineage.events_file(settings.lake_root).read_text().splitlines():
        event = json.loads(line)
        lineage.parse_event(event)  # valid against the OpenLineage spec's model
        runs.setdefault(event["run"]["runId"], []).append(event)
    return runs


def test_lineage_nests_job_runs_in_task_runs_in_dag_runs(chain):
    settings = chain[1]
    runs = lineage_runs(settings)
    tasks = {rid: evs for rid, evs in runs.items() if evs[0]["job"]["facets"]["jobType"]["jobType"] == "TASK"}
    completed = {evs[0]["job"]["name"] for evs in tasks.values() if [e["eventType"] for e in evs] == ["START", "COMPLETE"]}
    assert completed == {f"land_{s}.{t}" for s in SOURCES for t in ("land", "gate_bronze")} | {
        "silver.build_silver", "silver.gate_silver", "marts.build_marts", "marts.data_docs"}
    assert len(tasks) == 2 * len(completed)  # one task run per task per day
    jobs = set()
    for rid, events in runs.items():
        parent = events[0]["run"]["facets"]["parent"]
        if rid in tasks:
            assert parent["job"]["name"] == events[0]["job"]["name"].split(".")[0]  # a task's parent is its DAG run
            continue
        jobs.add(events[0]["job"]["name"])
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
        if parent["run"]["runId"] not in tasks:  # a mart's job and a gold gate's run nest in the gold.build run
            parent = runs[parent["run"]["runId"]][0]["run"]["facets"]["parent"]
            assert events[0]["job"]["name"].startswith(("gold.", "quality.gate.gold."))
        assert parent["run"]["runId"] in tasks and parent["root"]["job"]["name"] == tasks[parent["run"]["runId"]][0]["job"]["name"].split(".")[0]
    assert {f"bronze.land.{s}" for s in SOURCES} | {f"silver.build.{s}" for s in SOURCES} | {"gold.build", "quality.gate.silver"} <= jobs
    assert {f"gold.{m}" for m in MARTS} | {f"quality.gate.gold.{m}" for m in MARTS} <= jobs
    written = {o["name"] for evs in runs.values() for e in evs if e["job"]["name"] == "gold.customer_value" and e["eventType"] == "COMPLETE"
               for o in e["outputs"]}
    assert str(mart_table(settings.lake_root, "customer_value")) in written


def test_marts_equal_those_built_from_the_same_files_in_one_go(chain, spark, tmp_path, monkeypatch):
    _, settings, sent, _, _, _ = chain
    monkeypatch.setenv("INTERACTION_LAKE_PSEUDONYM_SECRET", SECRET)
    direct = Settings().with_paths(lake_root=tmp_path / "lake", landing_root=sent)
    for source in SOURCES:
        land_source(spark, direct, source, "direct")
    build_silver(spark, direct, "direct")
    build_gold(spark, direct, "direct")
    assert gold(direct.lake_root) == gold(settings.lake_root)


def test_a_failed_gate_fails_the_task_once_and_holds_back_only_its_own_source(chain):
    home, settings, _, days, _, _ = chain
    deliver_a_file_the_bronze_gate_fails(settings.landing_root)
    day = (dt.date.fromisoformat(days[1]) + dt.timedelta(days=5)).isoformat()
    with smtp_and_webhook() as (received, connections):  # alerts configured by connection, delivered to loopback servers
        run = airflow(home, settings, "-m", "interaction_lake.airflow_run", day, env=connections)
    assert run.returncode == 1
    assert f"{day}  land_counter             failed" in run.stdout
    states = dict(query(home, f"SELECT dag_id, state FROM dag_run WHERE date(logical_date) = '{day}'"))
    assert states["land_counter"] == "failed"
    # the other sources' gates published their Assets: silver and the marts ran on them, as a scheduler would run them
    assert all(states[f"land_{s}"] == "success" for s in SOURCES if s != "counter") and states["silver"] == states["marts"] == "success"
    assert f"{day}  marts                    success" in run.stdout
    [(state, tries)] = query(home, "SELECT ti.state, ti.try_number FROM task_instance ti JOIN dag_run r ON r.run_id = ti.run_id "
                                   f"AND r.dag_id = ti.dag_id WHERE ti.task_id = 'gate_bronze' AND ti.dag_id = 'land_counter' "
                                   f"AND date(r.logical_date) = '{day}'")
    assert (state, tries) == ("failed", 1)  # AirflowFailException: no retries, the data would not change
    assert "data-quality gate failed" in run.stdout + run.stderr
    # The task log says why: landing quarantined the only record (years ahead), so the batch was judged on no rows.
    assert "error expect_table_row_count_to_be_between(): observed 0" in run.stdout + run.stderr
    failed = [evs for evs in lineage_runs(settings).values() if evs[0]["job"]["name"] == "land_counter.gate_bronze"
              and evs[-1]["eventType"] == "FAIL"]
    assert len(failed) == 1 and "data-quality gate failed" in failed[0][-1]["run"]["facets"]["errorMessage"]["message"]

    # Alerts, through Airflow's notifiers: the failed gate with why and where, and each feed that sent nothing.
    posted = [a for path, body in received.posts if path == "/alerts" for a in body["alerts"]]
    [gate] = [a for a in posted if a["kind"] == "gate_failed"]
    assert (gate["dag_id"], gate["task_id"]) == ("land_counter", "gate_bronze") and "row_count_to_be_between(): observed 0" in gate["detail"]
    landed = [s for s in SOURCES if states.get(f"land_{s}") == "success"]
    assert landed and {a["subject"] for a in posted if a["kind"] == "feed_missing"} == {f"no new {s} file arrived" for s in landed}
    mailed = {m["Subject"]: m for m in received.mails}
    subject = "[interaction-lake] data-quality gate failed in land_counter.gate_bronze"
    assert subject in mailed and mailed[subject]["To"] == "data-platform@bank.example"
    body = next(part.get_payload(decode=True).decode() for part in mailed[subject].walk() if part.get_content_type() == "text/html")
    assert "expect_table_row_count_to_be_between(): observed 0" in body and "land_counter gate_bronze" in body


def test_a_task_started_elsewhere_without_its_roots_fails_at_once_and_opens_no_lake(tmp_path):
    """A scheduler starts tasks in its own directory: with the roots unset, landing must not 'succeed' on an empty
    landing zone there and open a new lake beside it; it fails once, without retries, saying what to set."""
    home, elsewhere = tmp_path / "airflow", tmp_path / "scheduler"
    elsewhere.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INTERACTION_LAKE_")}, "AIRFLOW_HOME": str(home)}
    run = lambda *args: subprocess.run([sys.executable, *args], env=env, cwd=elsewhere, capture_output=True, text=True, timeout=900)  # noqa: E731
    assert run("-m", "airflow", "db", "migrate").returncode == 0
    done = run("-m", "interaction_lake.airflow_run", START.isoformat())
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-3000:]
    assert "INTERACTION_LAKE_LAKE_ROOT must be set to an absolute path or an s3:// URI for scheduled tasks" in done.stdout + done.stderr
    assert not (elsewhere / "lake").exists() and not (elsewhere / "landing").exists()
    tries = query(home, "SELECT task_id, state, try_number FROM task_instance WHERE task_id LIKE 'land%'")
    assert tries and all(state == "failed" and number == 1 for _, state, number in tries), tries

"""``interaction-lake demo`` -- what ``make demo`` runs for a newcomer -- end to end in a new process, as the README says.

Found broken once: a step of the demo was called with a hand-made argument list that lacked an option its command had
gained (``report --min-sample``), so the demo crashed at its last step while every command alone worked. The demo now
parses each step as its own command line; this test runs the whole of it.
"""

from __future__ import annotations

from deltalake import DeltaTable

from interaction_lake import lake
from jobs.gold.build import MARTS, mart_table


def test_the_demo_runs_every_stage_and_writes_the_report(settings, run_cli, tmp_path):
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()
    done = run_cli(settings, "demo", "--customers", "300", "--days", "3", "--report", str(report))
    assert done.returncode == 0, done.stderr[-2000:]
    for stage in ("generating a sample bank", "landing again", "building silver", "building the gold marts", "the report"):
        assert stage in done.stdout, stage
    assert report.stat().st_size > 10_000 and "satisfaction-by-channel" in report.read_text(encoding="utf-8")
    assert all(lake.exists(mart_table(settings.lake_root, m)) for m in MARTS)

    versions = {m: DeltaTable(str(mart_table(settings.lake_root, m))).version() for m in MARTS}
    again = run_cli(settings, "demo", "--report", str(report))  # the landing zone holds files: land those, nothing new
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already holds files" in again.stdout
    assert {m: DeltaTable(str(mart_table(settings.lake_root, m))).version() for m in MARTS} == versions

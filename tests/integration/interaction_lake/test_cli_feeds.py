"""Feeds from the command line: every file in the landing zone is either landed or recorded with why it is not
(``summary`` lists it), and ``check-feed`` names a broken mapping's line (exit 2) or previews an export."""

from __future__ import annotations

import shutil

from interaction_lake.generator.feeds import SAMPLES


def test_files_no_contract_or_mapping_covers_are_recorded_and_shown(settings, run_cli):
    landing = settings.landing_root
    (landing / "exports").mkdir(parents=True)
    (landing / "exports" / "calls_2026-03.txt").write_text("a bank's own export\n")
    (landing / "readme.txt").write_text("notes\n")
    (landing / "callcentre").mkdir()
    (landing / "callcentre" / "calls.txt").write_text("not a contract file\n")
    shutil.copytree(SAMPLES / "acd", landing / "acd")

    first = run_cli(settings, "land", "--no-gate")
    assert first.returncode == 0, first.stderr
    assert "2 file(s) outside every landing folder" in first.stdout
    summary = run_cli(settings, "summary")
    assert summary.returncode == 0, summary.stderr
    text = summary.stdout
    assert "unassigned       ignored               2" in text and "callcentre       ignored               1" in text
    for name in ("exports/calls_2026-03.txt", "readme.txt", "callcentre/calls.txt"):
        line = next(row for row in text.splitlines() if row.rstrip().split(": ")[0].endswith(name))
        assert "docs/feeds.md" in line or "no contract or mapping covers this file" in line, line
    assert "callcentre       committed             2" in text  # the ACD exports, landed through their mapping
    assert "callcentre       excluded                          2" in text

    again = run_cli(settings, "land", "--no-gate")  # recorded once, until they change
    assert again.returncode == 0 and "outside every landing folder" not in again.stdout


def test_check_feed_names_the_line_of_a_mistake_and_previews_an_export(settings, run_cli, tmp_path):
    shipped = run_cli(settings, "check-feed", "--preview", str(SAMPLES / "acd" / "acd_calls_20260330_20260331.tsv"))
    assert shipped.returncode == 0, shipped.stderr
    assert "feed acd_call_detail" in shipped.stdout and "events from 130 records" in shipped.stdout

    broken = tmp_path / "broken.yaml"
    text = (SAMPLES.parent / "acd_call_detail.yaml").read_text().replace("time: q_start,", "time: q_begin,")
    broken.write_text(text)
    failed = run_cli(settings, "check-feed", str(broken))
    assert failed.returncode == 2
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "q_begin" in row)
    assert failed.stderr.strip().splitlines() == [
        f"interaction-lake: error: {broken} line {line}: time 'queued_at': time must name a column of type time, not 'q_begin'"]

"""A feed mapping file is checked before anything lands: each mistake is one line naming the file and the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interaction_lake import feeds
from interaction_lake.feeds import FeedMappingError, load

SHIPPED = sorted(feeds.DEFAULT_DIR.glob("*.yaml"))
GOOD = (feeds.DEFAULT_DIR / "acd_call_detail.yaml").read_text()


def test_the_shipped_mappings_load():
    assert {load(path).feed for path in SHIPPED} == {"acd_call_detail", "monthly_accounts"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bank.yaml"
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    """The last line holding ``needle`` (a key given twice is named where it is given again)."""
    return [n for n, line in enumerate(text.splitlines(), 1) if needle in line][-1]


# (what the bank wrote instead, the text it replaces, what the message must say)
MISTAKES = [
    ("  outcome: {type: strng}", "  outcome: {type: string}", "is not one of"),
    ("  q_start: {type: time, null_value: [\"00:00:00\"]}", "  q_start: {type: time, null_values: [\"00:00:00\"]}", "Additional properties"),
    ("source: callcenter", "source: callcentre", "has no contract"),
    ("  - event_type: call_answerd", "  - event_type: call_answered", "is not in the callcentre contract"),
    ("      queue_id: {column: typ}", "      queue_id: {column: type}", "'typ' is not a declared column"),
    ("  queued_at: {date: date, time: q_start, not_before: vru_exit}", "  queued_at: {date: date, time: q_start, not_before: vru_exit_at}",
     "not_before must name a time declared above it"),
    ("      agent: {column: server}", "      agent_id: {column: server}", "'agent' is not a field of the callcentre contract"),
    ("  vru_exit_at: {date: vru_exit, time: vru_exit}", "  vru_exit_at: {date: date, time: vru_exit, not_before: vru_entry_at}",
     "date must name a column of type date"),
    ("    at: vru_entry", "    at: vru_entry_at", "'vru_entry' is not declared under times"),
    ("  key: [vru_line, call_ident, date]", "  key: [vru_line, call_id, date]", "event_id key 'call_ident'"),
    ("  outcome: {type: string}\n  outcome: {type: string}", "  outcome: {type: string}", "'outcome' is given twice"),
]


@pytest.mark.parametrize("wrong, right, says", MISTAKES, ids=[m[2][:30] for m in MISTAKES])
def test_a_mistake_is_named_with_its_line(tmp_path, wrong, right, says):
    assert right in GOOD
    text = GOOD.replace(right, wrong, 1)
    with pytest.raises(FeedMappingError) as error:
        load(write(tmp_path, text))
    message = str(error.value)
    assert says in message and "\n" not in message
    found = re.search(r"line (\d+)", message)
    assert found and int(found.group(1)) == line_of(text, wrong.splitlines()[-1].strip()), message


def test_not_yaml_and_an_unknown_time_zone_and_no_source_system(tmp_path):
    with pytest.raises(FeedMappingError, match=r"bank.yaml line 4: not valid YAML"):
        load(write(tmp_path, "feed: x\nsource: callcentre\ncolumns: {a: 1\n]\n"))
    with pytest.raises(FeedMappingError, match="timezone 'Europe/Madird' is not an IANA"):
        load(write(tmp_path, GOOD.replace("# timezone: unset", "timezone: Europe/Madird\n#")))
    with pytest.raises(FeedMappingError, match="common must set source_system"):
        load(write(tmp_path, GOOD.replace("  source_system: {value: acd}\n", "")))


def test_two_mappings_may_not_share_a_feed_name(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    monkeypatch.setenv(feeds.ENV, str(tmp_path))
    with pytest.raises(FeedMappingError, match="already declared by"):
        feeds.all_mappings()

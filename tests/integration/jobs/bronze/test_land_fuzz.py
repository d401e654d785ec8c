"""Fuzzing landing end to end on the real engine: whatever a feed sends, the run completes, and every physical
line is landed in bronze or quarantined with a reason (or counted blank); the Delta tables agree with the report."""

from __future__ import annotations

import itertools
import json
import shutil

from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from interaction_lake import lake
from interaction_lake.config import Settings
from jobs.bronze.land import land_source

VALID = {"event_type": "call_offered", "schema_version": 1, "occurred_at": "2026-11-02T09:00:00Z",
         "source_system": "genesys-acd", "customer_ref": "C1", "call_id": "call-1"}
_ids = itertools.count()

lines = st.one_of(
    st.builds(lambda: json.dumps({**VALID, "event_id": f"evt-fuzz-{next(_ids)}"}).encode()),
    st.dictionaries(st.sampled_from([*VALID, "event_id", "talk_seconds"]), st.one_of(st.none(), st.integers(), st.text(max_size=8)),
                    max_size=6).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=30).filter(lambda b: b"\x00" not in b),
    st.just(b""), st.just(b"{not json"), st.just(json.dumps({**VALID, "event_id": "evt-fuzz-same"}).encode()),
)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(lines, max_size=12), min_size=1, max_size=3))
def test_every_line_lands_or_is_quarantined_and_counts_reconcile(spark, tmp_path, files):
    base = tmp_path / f"case-{next(_ids)}"
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    folder = settings.landing_root / "callcentre" / "2026-11-02"
    folder.mkdir(parents=True)
    sent = []
    for i, content in enumerate(files):
        data = b"\n".join(content)
        (folder / f"calls_{i}.jsonl").write_bytes(data)
        sent.append(data)
    # What the run must account for line by line: each distinct non-blank file once (the same bytes under
    # another name are a duplicate file; a blank file is set aside whole; both are recorded in the ledger).
    distinct = {data for data in sent if data.strip()}
    physical = sum(len(data.splitlines()) for data in distinct)

    report = land_source(spark, settings, "callcentre", "fuzz")

    assert report.records_landed + report.records_quarantined + report.blank_lines == physical  # in = landed + quarantined + blank
    assert report.files_new == len(distinct) and report.files_new + report.files_duplicate + report.files_empty == len(sent)
    landed = DeltaTable(str(lake.bronze_table(settings.lake_root, "callcentre"))).to_pyarrow_table().num_rows \
        if lake.exists(lake.bronze_table(settings.lake_root, "callcentre")) else 0
    quarantine = lake.landing_quarantine_table(settings.lake_root)
    refused = DeltaTable(str(quarantine)).to_pyarrow_table(columns=["reason"]).column(0).to_pylist() if lake.exists(quarantine) else []
    assert landed == report.records_landed and len(refused) == report.records_quarantined
    assert all(refused)
    shutil.rmtree(base)

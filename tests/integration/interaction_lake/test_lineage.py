"""OpenLineage on real jobs and real transports: the default file, an HTTP endpoint (a real local server), failures."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from deltalake import DeltaTable

from interaction_lake import lake, lineage
from jobs.bronze.land import land_source

@pytest.fixture(autouse=True)
def no_openlineage_environment(monkeypatch):
    """Start each test with no OpenLineage settings (the client also copies OPENLINEAGE_URL into OPENLINEAGE__* names)."""
    import os

    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")] + [lineage.PARENT_ENV]:
        monkeypatch.delenv(name, raising=False)
    yield
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        del os.environ[name]  # what the client added; monkeypatch then restores what was there before


def emitted(lake_root) -> list[dict]:
    return [json.loads(line) for line in lineage.events_file(lake_root).read_text().splitlines()]


def test_a_landing_run_emits_start_and_complete_with_what_it_read_and_wrote(spark, settings, small_bank):
    land_source(spark, settings, "counter", "r1")
    events = emitted(settings.lake_root)
    for event in events:
        lineage.parse_event(event)  # each event is a valid OpenLineage RunEvent
    start, complete = events
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"] and complete["job"]["name"] == "bronze.land.counter"
    assert [i["name"] for i in complete["inputs"]] == [str(settings.landing_root / "counter")]

    outputs = {o["name"]: o["facets"] for o in complete["outputs"]}
    bronze = lake.bronze_table(settings.lake_root, "counter")
    assert str(bronze) in outputs and str(lake.landing_ledger_table(settings.lake_root)) in outputs
    table = DeltaTable(str(bronze))
    assert [f["name"] for f in outputs[str(bronze)]["schema"]["fields"]] == [f.name for f in table.schema().fields]
    assert outputs[str(bronze)]["version"]["datasetVersion"] == str(table.version())

    land_source(spark, settings, "counter", "r2")  # nothing new: a run that read and wrote nothing
    again = emitted(settings.lake_root)[-1]
    assert again["eventType"] == "COMPLETE" and again["outputs"] == []


def test_an_event_names_the_columns_of_the_version_it_saw(spark, settings):
    """Schemas are remembered per table version (lake.schema_fields): a column added in between is in the next event."""
    table = settings.lake_root / "silver" / "t"
    lake.append(spark.createDataFrame([(1,)], "id long"), table, {"job": "test", "run_id": "r1"})
    with lineage.job_run(settings.lake_root, "test.first", outputs=[table]) as run:
        run.wrote(table)
    lake.add_new_columns(spark, spark.createDataFrame([(2, "x")], "id long, note string"), table, {"job": "test", "run_id": "r2"})
    lake.append(spark.createDataFrame([(2, "x")], "id long, note string"), table, {"job": "test", "run_id": "r2"})
    with lineage.job_run(settings.lake_root, "test.second", inputs=[table]):
        pass
    first = next(e for e in emitted(settings.lake_root) if e["job"]["name"] == "test.first" and e["eventType"] == "START")
    second = next(e for e in emitted(settings.lake_root) if e["job"]["name"] == "test.second" and e["eventType"] == "COMPLETE")
    assert [f["name"] for f in first["outputs"][0]["facets"]["schema"]["fields"]] == ["id"]
    assert [f["name"] for f in second["inputs"][0]["facets"]["schema"]["fields"]] == ["id", "note"]
    assert second["inputs"][0]["facets"]["version"]["datasetVersion"] == str(DeltaTable(str(table)).version())


def test_a_failing_job_emits_fail_with_the_error_and_still_raises(settings):
    with pytest.raises(RuntimeError, match="disk full"):
        with lineage.job_run(settings.lake_root, "test.failing", parent={"namespace": "ns", "name": "dag.task",
                                                                          "runId": "01a2055c-0000-7000-8000-000000000001"}):
            raise RuntimeError("disk full")
    start, fail = emitted(settings.lake_root)
    assert fail["eventType"] == "FAIL" and "disk full" in fail["run"]["facets"]["errorMessage"]["message"]
    assert fail["run"]["facets"]["parent"]["job"]["name"] == "dag.task"
    lineage.parse_event(fail)


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_events_go_to_an_http_endpoint_when_configured(settings, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "bank-a")
        with lineage.job_run(settings.lake_root, "test.http"):
            pass
    finally:
        server.shutdown()
    assert [(path, event["eventType"]) for path, event in _Collector.received] == [("/api/v1/lineage", "START"), ("/api/v1/lineage", "COMPLETE")]
    assert all(event["job"]["namespace"] == "bank-a" for _, event in _Collector.received)
    for _, event in _Collector.received:
        lineage.parse_event(event)
    assert not lineage.events_file(settings.lake_root).exists()  # configured transport replaces the default file


def test_an_unreachable_endpoint_never_fails_the_job(settings, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    with lineage.job_run(settings.lake_root, "test.unreachable") as run:
        pass
    assert run.run_id


def test_the_spec_model_rejects_what_breaks_the_spec(settings):
    with lineage.job_run(settings.lake_root, "test.spec"):
        pass
    event = emitted(settings.lake_root)[-1]
    for broken in ({**event, "run": {**event["run"], "runId": "not-a-uuid"}},
                   {**event, "eventTime": "yesterday"},
                   {k: v for k, v in event.items() if k != "job"},
                   {**event, "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"}):
        with pytest.raises((ValueError, KeyError, TypeError)):
            lineage.parse_event(broken)

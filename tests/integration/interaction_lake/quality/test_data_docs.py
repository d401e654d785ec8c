"""Data Docs as a reader opens them: in chromium on a closed network they load everything from the lake and render
their tables, and a gate that passed with warnings is not shown as failed (issue 20); rendered later, in another
process, from the recorded results, they are the pages the gate's own process would have rendered (issue 19)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import great_expectations
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings, strategies as st

from interaction_lake.quality import offline
from interaction_lake.quality.gate import data_docs_index, render_data_docs, validate
from tests.integration.browser import browser  # noqa: F401 (a fixture)
from tests.integration.interaction_lake.quality.test_compiled import SCHEMA, expectation, rows

TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"


def test_everything_great_expectations_pages_load_from_the_network_has_a_local_copy():
    """A Great Expectations upgrade that loads a new script from a CDN fails here, not on a bank's closed network."""
    loads = {url for template in TEMPLATES.rglob("*.j2") for url in offline.remote_loads(template.read_text())}
    assert loads and loads <= set(offline.ASSETS), sorted(loads - set(offline.ASSETS))
    assert all((offline.assets_dir() / file).is_file() for file in offline.ASSETS.values()), "run 'make install'"


def _suite(root: Path, *expectations: dict) -> None:
    (root / "silver").mkdir(parents=True, exist_ok=True)
    (root / "silver" / "call.json").write_text(json.dumps({"name": "silver.call", "expectations": list(expectations)}))


def test_data_docs_open_offline_and_a_warning_is_not_a_failure(spark, settings, tmp_path, monkeypatch, browser):  # noqa: F811
    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    frame = spark.createDataFrame([("c1", 10.0), ("c2", 30.0), ("c2", -5.0)], "call_id string, queue_wait_seconds double")
    unique = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "call_id"}, "meta": {"severity": "warn"}}
    _suite(suites, unique)
    warned = validate(spark, settings.lake_root, "silver", "call", frame, "run-warned", table_version=1)
    _suite(suites, unique, {"type": "expect_column_values_to_be_between", "kwargs": {"column": "queue_wait_seconds", "min_value": 0}})
    failed = validate(spark, settings.lake_root, "silver", "call", frame, "run-failed", table_version=2)
    assert warned.passed and not failed.passed
    render_data_docs(settings.lake_root, [warned, failed])

    index = data_docs_index(settings.lake_root)
    pages = {p.parent.parent.name: p for p in index.parent.glob("validations/**/*.html")}
    assert set(pages) == {"run-warned", "run-failed"}
    for page in [index, *pages.values()]:
        assert offline.remote_loads(page.read_text()) == [], page

    context = browser.new_context()
    fetched: list[str] = []

    def closed_network(route):
        if not route.request.url.startswith("file://"):
            fetched.append(route.request.url)
            return route.abort()
        return route.continue_()

    context.route("**/*", closed_network)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"{request.url} {request.failure}"))
    page.goto(index.as_uri())
    page.wait_for_function("() => window.jQuery && jQuery.fn.bootstrapTable")
    rows = page.locator("table tbody tr").all_inner_texts()
    assert any("run-warned" in r for r in rows) and any("run-failed" in r for r in rows), rows
    # The index shows each validation's status as an icon: a check for success, a cross for failure.
    icons = {run: page.locator("table tbody tr", has_text=run).locator("td").first.inner_html() for run in ("run-warned", "run-failed")}
    verdicts = {run: "Failed" if "fa-times" in html else "Succeeded" if "fa-check" in html else html for run, html in icons.items()}
    assert verdicts == {"run-warned": "Succeeded", "run-failed": "Failed"}
    for run, verdict in verdicts.items():
        page.goto(pages[run].as_uri())
        page.wait_for_function("() => window.jQuery !== undefined")
        text = page.locator("body").inner_text()
        overview = text[text.index("Overview"):text.index("Show more info")]
        assert verdict in overview and ("Failed" not in overview) == (verdict == "Succeeded"), overview
    assert fetched == [] and errors == []
    context.close()


def test_pages_rendered_later_from_the_recorded_results_equal_those_rendered_in_the_gate_s_process(spark, settings, tmp_path,
                                                                                                  monkeypatch):
    """Gates that pass leave Data Docs to ``render_pending_data_docs``, which rebuilds each validation from
    ``_system/quality_results`` in whatever process runs it: it stores exactly the result the gate's own process would
    have stored (differential, on passing, warned, failing and erroring expectations), under the same key -- so a page
    is rendered once, whoever renders it -- and a second call finds nothing to do."""
    from interaction_lake.quality import gate

    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    frame = spark.createDataFrame([("c1", 10.0, None), ("c2", 30.0, "x"), ("c2", -5.0, "y")],
                                  "call_id string, queue_wait_seconds double, note string")
    _suite(suites, {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "call_id"}, "meta": {"severity": "warn"}},
           {"type": "expect_column_values_to_be_between", "kwargs": {"column": "queue_wait_seconds", "min_value": 0, "mostly": 0.5},
            "meta": {"severity": "error"}},
           {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "note"}},
           {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "queue_wait_seconds", "min_value": 1, "max_value": 20}},
           {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "no_such_column", "value_set": ["a"]}})
    outcomes = [validate(spark, settings.lake_root, "silver", "call", frame, f"run-{n}", table_version=n) for n in (1, 2)]
    assert not any(o.passed for o in outcomes)  # errors, a warning, and an expectation on a missing column

    assert gate.render_pending_data_docs(spark, settings.lake_root) == 2
    context = gate._context(settings.lake_root)
    store = context.validation_results_store
    later = {str(o.docs_ids[0].identifier()): store.get(o.docs_ids[0].identifier()).to_json_dict() for o in outcomes}
    pages = sorted(data_docs_index(settings.lake_root).parent.glob("validations/**/*.html"))
    assert len(pages) == 2
    assert gate.render_pending_data_docs(spark, settings.lake_root) == 0

    render_data_docs(settings.lake_root, outcomes)  # the gate process's own rendering, over the same keys
    at_once = {str(o.docs_ids[0].identifier()): store.get(o.docs_ids[0].identifier()).to_json_dict() for o in outcomes}
    assert later == at_once and len(store.list_keys()) == 2
    assert sorted(data_docs_index(settings.lake_root).parent.glob("validations/**/*.html")) == pages


def test_a_gate_stage_renders_at_once_only_when_a_gate_failed(spark, settings, tmp_path, monkeypatch):
    from interaction_lake.quality import gate

    suites = tmp_path / "suites"
    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(suites))
    frame = spark.createDataFrame([("c1", 10.0), ("c2", -5.0)], "call_id string, queue_wait_seconds double")
    _suite(suites, {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "call_id"}})
    passed = validate(spark, settings.lake_root, "silver", "call", frame, "run-passed", table_version=1)
    gate.render_stage_data_docs(settings.lake_root, [passed])
    assert not data_docs_index(settings.lake_root).exists()  # left for later: nothing imported, nothing rendered
    _suite(suites, {"type": "expect_column_values_to_be_between", "kwargs": {"column": "queue_wait_seconds", "min_value": 0}})
    failed = validate(spark, settings.lake_root, "silver", "call", frame, "run-failed", table_version=2)
    gate.render_stage_data_docs(settings.lake_root, [failed])
    assert {p.parent.parent.name for p in data_docs_index(settings.lake_root).parent.glob("validations/**/*.html")} == {"run-failed"}
    assert gate.render_pending_data_docs(spark, settings.lake_root) == 1  # the passed one, left for later
    assert {p.parent.parent.name for p in data_docs_index(settings.lake_root).parent.glob("validations/**/*.html")} == {
        "run-passed", "run-failed"}


@hypothesis_settings(max_examples=12, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=rows, chosen=st.lists(expectation, min_size=1, max_size=5))
def test_every_result_the_compiled_evaluator_gives_renders_the_same_page_later(spark, settings, tmp_path, monkeypatch, caplog, data,
                                                                              chosen):
    """On random suites and frames (passing, failing, erroring on a missing column): the page rendered later from
    ``_system/quality_results`` holds the result the gate's process would have stored, and Great Expectations' site
    builder renders it without an error (it did not, once: an exception without a traceback broke the page)."""
    from interaction_lake.quality import gate

    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(tmp_path / "suites"))
    _suite(tmp_path / "suites", *[{"type": kind, "kwargs": kwargs, "meta": {"severity": "error"}} for kind, kwargs in chosen])
    outcome = validate(spark, settings.lake_root, "silver", "call", spark.createDataFrame(data, SCHEMA), f"run-{uuid.uuid4().hex}")
    caplog.clear()
    assert gate.render_pending_data_docs(spark, settings.lake_root) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage()[:300] for r in caplog.records]
    identifier = outcome.docs_ids[0].identifier()
    store = gate._context(settings.lake_root).validation_results_store
    later = store.get(identifier).to_json_dict()
    render_data_docs(settings.lake_root, [outcome])
    assert store.get(identifier).to_json_dict() == later
    *folders, batch = identifier.to_tuple()
    assert data_docs_index(settings.lake_root).parent.joinpath("validations", *folders, f"{batch}.html").is_file()


def test_quality_docs_renders_what_the_gates_left_and_then_nothing(spark, settings, tmp_path, monkeypatch, capsys):
    from interaction_lake.cli import main

    monkeypatch.setenv("INTERACTION_LAKE_EXPECTATIONS_DIR", str(tmp_path / "suites"))
    _suite(tmp_path / "suites", {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "call_id"}})
    frame = spark.createDataFrame([("c1",), ("c2",)], "call_id string")
    for n in (1, 2, 3):
        validate(spark, settings.lake_root, "silver", "call", frame, f"run-{n}", table_version=n)
    assert main(["quality", "docs", "--lake", str(settings.lake_root)]) == 0
    assert capsys.readouterr().out.startswith("rendered 3 validation(s)")
    assert len(list(data_docs_index(settings.lake_root).parent.glob("validations/**/*.html"))) == 3
    assert main(["quality", "docs", "--lake", str(settings.lake_root)]) == 0
    assert capsys.readouterr().out.startswith("rendered 0 validation(s)")

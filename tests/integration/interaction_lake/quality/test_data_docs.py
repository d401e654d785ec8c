"""Data Docs as a reader opens them: in chromium on a closed network they load everything from the lake and render
their tables, and a gate that passed with warnings is not shown as failed (issue 20)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import great_expectations

from interaction_lake.quality import offline
from interaction_lake.quality.gate import data_docs_index, render_data_docs, validate
from tests.integration.browser import browser  # noqa: F401 (a fixture)

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

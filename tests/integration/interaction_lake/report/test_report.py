"""The HTML report in a real headless browser (Debian's chromium, driven by Playwright): it loads with no
console errors and no network requests, every chart renders, and its tables agree with the marts."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from interaction_lake.generator import SOURCES, generate
from interaction_lake.generator.deliveries import days_of, deliver
from jobs.bronze.gate import gate_bronze
from tests.integration.browser import browser  # noqa: F401 (a fixture)
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold, mart_table
from jobs.silver.build import build_silver
from jobs.silver.gate import gate_silver

pytestmark = pytest.mark.integration
CHARTS = ("value-tier-pyramid", "pareto-80-20", "satisfaction-by-channel", "satisfaction-by-branch", "call-abandonment",
          "branch-wait-by-hour", "branch-wait-heatmap", "am-effectiveness")


@pytest.fixture(scope="module")
def built_lake(spark, tmp_path_factory):
    """Three days delivered one at a time through every stage and gate, as the scheduler would."""
    from interaction_lake.config import Settings

    base = tmp_path_factory.mktemp("report")
    settings = Settings().with_paths(lake_root=base / "lake", landing_root=base / "landing")
    sent = base / "sent"
    generate(sent, customers=500, days=3, seed=5, start=dt.date(2026, 11, 2), fault_rate=0.02)
    for day in days_of(sent):
        deliver(sent, settings.landing_root, day)
        run = f"report-{day}"
        for source in SOURCES:
            land_source(spark, settings, source, run)
            gate_bronze(spark, settings, source, run)
        build_silver(spark, settings, run)
        gate_silver(spark, settings, run)
        build_gold(spark, settings, run)
    return settings


@pytest.fixture(scope="module")
def report(built_lake, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    done = subprocess.run([sys.executable, "-m", "interaction_lake", "report", "--lake", str(built_lake.lake_root), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    return out


def test_report_is_one_self_contained_file(report):
    html = report.read_text()
    for outside in ("<script", "<link", "src=\"http", "href=\"http", "url(http", "@import"):
        assert outside not in html
    assert "<!doctype html>" in html.lower()


def test_report_loads_in_chromium_without_errors_and_every_chart_renders(report, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, requests = [], []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri(), wait_until="load")
    assert problems == []
    assert requests == [report.as_uri()]  # nothing fetched besides the page itself
    for chart in CHARTS:
        svg = page.locator(f'svg[data-chart="{chart}"]')
        assert svg.count() == 1, chart
        box = svg.bounding_box()
        assert box["width"] > 200 and box["height"] > 100, (chart, box)
        assert svg.locator("path").count() >= 3, chart  # bars, lines, boxes: drawn, not an empty frame
        assert _colours(svg.screenshot()) > 3, chart  # pixels on screen, not a blank box
    page.close()


def test_report_tables_agree_with_the_marts(report, browser, built_lake):
    root = built_lake.lake_root
    page = browser.new_page()
    page.goto(report.as_uri())
    values = DeltaTable(str(mart_table(root, "customer_value"))).to_pyarrow_table().to_pylist()
    latest = max(r["month"] for r in values)
    tier_rows = page.locator("#value table tr").all_inner_texts()[1:]
    assert sum(int(r.split("\t")[1].replace(",", "")) for r in tier_rows) == sum(r["month"] == latest for r in values)
    at_risk = DeltaTable(str(mart_table(root, "key_customers_at_risk"))).to_pyarrow_table()
    assert page.locator("#at-risk-table tr").count() - 1 == min(at_risk.num_rows, 100)
    shown_keys = set(page.locator("#at-risk-table code.key").all_inner_texts())
    assert shown_keys and shown_keys <= set(at_risk.column("customer_key").to_pylist())  # whole keys, to paste into trace
    gates = {(r["stage"], r["table_name"]) for r in DeltaTable(str(root / "_system" / "quality_results")).to_pyarrow_table().to_pylist()}
    quality_rows = [r.split("\t")[:3] for r in page.locator("#quality-table tr").all_inner_texts()[1:]]
    assert {(stage, table) for stage, table, _ in quality_rows} == gates
    assert {stage for stage, _, _ in quality_rows} == {"bronze", "silver", "gold"}
    assert all(verdict in ("passed", "FAILED") for _, _, verdict in quality_rows)
    page.close()


def test_report_without_marts_is_a_one_line_error(tmp_path):
    (tmp_path / "lake").mkdir()
    done = subprocess.run([sys.executable, "-m", "interaction_lake", "report", "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "r.html")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"interaction-lake: error: no gold marts under {tmp_path / 'lake' / 'gold'}: "
                                                "run 'interaction-lake build-marts' first"]
    assert not (tmp_path / "r.html").exists()


def _colours(png: bytes) -> int:
    from PIL import Image

    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20) or [])

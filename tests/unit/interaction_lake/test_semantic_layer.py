"""The semantic layer file is what the glossary and the declared aggregation rules generate, and it declares every
column of every mart exactly once (a new mart column fails here until it is declared a dimension, a sum, a snapshot,
a rate or a row-level value)."""

from __future__ import annotations

from collections import Counter

import yaml

from interaction_lake import glossary, semantic_layer


def test_the_committed_file_is_generated_from_the_glossary():
    assert semantic_layer.OUTPUT.read_text(encoding="utf-8") == semantic_layer.render(), \
        "docs/semantic_layer.yml is stale: run python -m interaction_lake.semantic_layer"


def test_every_mart_column_is_declared_once_and_nothing_else():
    docs = glossary.marts()
    assert set(semantic_layer.MODELS) == set(docs)
    for mart, model in semantic_layer.MODELS.items():
        listed = [model.time, *model.dimensions, *model.entities.values(), *model.sums, *model.snapshots, *model.ratios,
                  *model.at_grain]
        repeated = [c for c, n in Counter(listed).items() if n > 1 and c not in model.entities.values()]
        assert not repeated, f"{mart}: declared twice {repeated}"
        assert semantic_layer.declared(mart) == set(docs[mart].columns), mart


def test_metrics_refer_to_measures_and_metrics_that_exist():
    layer = yaml.safe_load(semantic_layer.render())
    measures = {m["name"] for model in layer["semantic_models"] for m in model["measures"]}
    metrics = {m["name"]: m for m in layer["metrics"]}
    assert len(metrics) == len(layer["metrics"])
    for metric in layer["metrics"]:
        params = metric["type_params"]
        if metric["type"] == "simple":
            assert params["measure"] in measures
        elif metric["type"] == "ratio":
            assert {params["numerator"], params["denominator"]} <= set(metrics)
            # a ratio's parts are counted over the same rows
            assert metrics[params["numerator"]].get("filter") == metrics[params["denominator"]].get("filter")
        else:
            assert {m["name"] for m in params["metrics"]} <= set(metrics)
    # overlapping rows are never summed unfiltered
    for name in ("service_quality_calls_offered", "branch_wait_by_hour_tickets"):
        assert "filter" in metrics[name] and "WHERE" in metrics[name]["meta"]["sql"]

"""Marts parameters: defaults, TOML overrides, and the glossary's parameter block staying true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interaction_lake.config import ConfigError
from interaction_lake.marts_config import MartsConfig

GLOSSARY = Path(__file__).parents[3] / "docs" / "metrics.md"


def test_the_glossary_lists_exactly_the_default_parameters(tmp_path):
    block = re.search(r"```toml\n(.*?)```", GLOSSARY.read_text(), re.S).group(1)
    (tmp_path / "marts.toml").write_text(block)
    assert MartsConfig.load(tmp_path / "marts.toml") == MartsConfig()


def test_a_file_overrides_only_what_it_names(tmp_path, monkeypatch):
    (tmp_path / "bank.toml").write_text("[service_quality]\nabandonment_ceiling = 0.03\n[customer_value.cost_to_serve]\ncounter = 20.0\n")
    monkeypatch.setenv("INTERACTION_LAKE_MARTS_CONFIG", str(tmp_path / "bank.toml"))
    config = MartsConfig.load()
    assert config.abandonment_ceiling == 0.03 and config.cost_to_serve["counter"] == 20.0
    assert config.cost_to_serve["call_agent"] == MartsConfig().cost_to_serve["call_agent"]
    assert config.high_tier_share == 0.80
    assert config.fingerprint() != MartsConfig().fingerprint()


@pytest.mark.parametrize("text, message", [
    ("abandonment_ceilng = 0.05", "unknown setting"),
    ("high_tier_share = 0.97", "high_tier_share <= mid_tier_share"),
    ("abandonment_ceiling = 5", "between 0 and 1"),
    ("this is = not toml =", "not valid TOML"),
])
def test_bad_settings_are_refused_with_a_clear_message(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        MartsConfig.load(tmp_path / "bad.toml")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        MartsConfig.load(tmp_path / "nope.toml")

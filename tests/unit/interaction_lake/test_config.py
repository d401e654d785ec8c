"""Settings from the environment: a scheduled task's roots must be given, absolute."""

from __future__ import annotations

import pytest

from interaction_lake.config import ConfigError, Settings


@pytest.mark.parametrize("lake, landing, missing", [
    (None, "/data/landing", "INTERACTION_LAKE_LAKE_ROOT must be set to an absolute path or an s3:// URI for scheduled tasks (it is unset)"),
    ("lake", "/data/landing", "INTERACTION_LAKE_LAKE_ROOT must be set to an absolute path or an s3:// URI for scheduled tasks (it is 'lake')"),
    ("/data/lake", "./landing", "INTERACTION_LAKE_LANDING_ROOT must be set to an absolute path for scheduled tasks (it is './landing')"),
])
def test_a_scheduled_task_refuses_roots_that_depend_on_its_directory(monkeypatch, lake, landing, missing):
    for name, value in (("INTERACTION_LAKE_LAKE_ROOT", lake), ("INTERACTION_LAKE_LANDING_ROOT", landing)):
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        Settings.for_scheduled_task()
    assert str(refused.value).startswith(missing)


def test_a_landing_task_needs_the_landing_zone_to_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERACTION_LAKE_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("INTERACTION_LAKE_LANDING_ROOT", str(tmp_path / "landing"))
    assert Settings.for_scheduled_task().lake_root == tmp_path / "lake"  # silver and marts: the lake may be new
    with pytest.raises(ConfigError, match="landing directory .* does not exist: nothing can be landed"):
        Settings.for_scheduled_task(landing_must_exist=True)
    (tmp_path / "landing").mkdir()
    assert Settings.for_scheduled_task(landing_must_exist=True).landing_root == tmp_path / "landing"


def test_the_lake_may_be_an_s3_uri_and_nothing_else_remote(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERACTION_LAKE_LAKE_ROOT", "s3://bank-lake/prod/")
    monkeypatch.setenv("INTERACTION_LAKE_LANDING_ROOT", str(tmp_path))
    assert str(Settings.for_scheduled_task().lake_root) == "s3://bank-lake/prod"
    assert str(Settings().with_paths(lake_root="s3a://bank-lake/prod").lake_root) == "s3://bank-lake/prod"  # Spark's spelling
    monkeypatch.setenv("INTERACTION_LAKE_LAKE_ROOT", "gs://bank-lake/prod")
    with pytest.raises(ConfigError, match="a local path or an s3:// URI"):
        Settings.from_env()


@pytest.mark.parametrize("text, parallelism", [(None, 2), ("1", 1), ("3", 3), (" 4 ", 4)])
def test_parallelism_is_a_whole_number_of_at_least_one(monkeypatch, text, parallelism):
    if text is None:
        monkeypatch.delenv("INTERACTION_LAKE_PARALLELISM", raising=False)
    else:
        monkeypatch.setenv("INTERACTION_LAKE_PARALLELISM", text)
    assert Settings.from_env().parallelism == parallelism


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_a_parallelism_that_is_not_a_whole_number_of_at_least_one_is_refused_in_one_line(monkeypatch, text):
    monkeypatch.setenv("INTERACTION_LAKE_PARALLELISM", text)
    with pytest.raises(ConfigError, match=r"^INTERACTION_LAKE_PARALLELISM must be a whole number of at least 1, not "):
        Settings.from_env()

"""The storage boundary on local disk (the same calls on S3: tests/integration/conformance/test_object_storage.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from interaction_lake import lake, lineage, storage


def test_a_location_is_a_plain_absolute_path_on_disk_and_an_s3_path_for_a_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.location("lake") == tmp_path / "lake" and type(storage.location("lake")) is type(Path())
    assert storage.location(f"file://{tmp_path}/lake") == tmp_path / "lake"
    remote = storage.location("s3a://bucket/lake/")
    assert str(remote) == "s3://bucket/lake" and not storage.is_local(remote) and storage.location(remote) is remote
    assert str(remote / "bronze" / "counter_events") == "s3://bucket/lake/bronze/counter_events"
    with pytest.raises(ValueError, match="local path or an s3:// URI"):
        storage.location("hdfs://namenode/lake")


def test_create_exclusive_creates_once(tmp_path):
    target = tmp_path / "locks" / "a.lease"
    assert storage.create_exclusive(target, b"first") and not storage.create_exclusive(target, b"second")
    assert target.read_bytes() == b"first"


def test_names_of_a_missing_folder_are_none_and_remove_tree_of_one_is_nothing(tmp_path):
    assert storage.names(tmp_path / "absent") == []
    storage.remove_tree(tmp_path / "absent")
    (tmp_path / "t" / "_delta_log").mkdir(parents=True)
    assert storage.names(tmp_path / "t") == ["_delta_log"]
    storage.remove_tree(tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_a_private_file_is_written_whole_for_its_owner_only(tmp_path):
    key = tmp_path / "_system" / "pseudonym.key"
    storage.write_whole(key, "secret\n", private=True)
    storage.write_whole(key, "rotated\n", private=True)
    assert key.read_text() == "rotated\n" and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert [p.name for p in key.parent.iterdir()] == ["pseudonym.key"]  # no temporary left beside it


def test_spark_reads_s3_uris_through_s3a_configured_from_the_aws_variables():
    conf = storage.spark_conf({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_REGION": "eu-central-1"})
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000" and conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false" and conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-central-1"
    assert "spark.hadoop.fs.s3a.endpoint" not in storage.spark_conf({})  # AWS itself: S3A's own endpoint resolution


def test_a_tables_lake_root_is_found_for_layer_tables_and_a_layers_state():
    root = storage.location("s3://bucket/lake")
    assert lake.lake_root_of(lake.bronze_table(root, "counter")) == root
    assert lake.lake_root_of(root / "gold" / lake.STATE / "customer_recency") == root
    assert lake.lake_root_of(Path("/data/lake/gold/_state/customer_recency")) == Path("/data/lake")
    assert lake.lake_root_of(Path("/data/lake/_staging/gold/run-1/customer_value")) == Path("/data/lake")
    assert lake.lake_root_of(storage.location("s3://bank/lake/_staging/gold/r/service_quality")) == storage.location("s3://bank/lake")
    assert lake.lake_root_of(Path("/data/_staging/lake/gold/customer_value")) == Path("/data/_staging/lake")


def test_lineage_names_datasets_by_the_openlineage_naming_of_each_store():
    assert lineage.dataset_name("s3://bucket/lake/gold/customer_value") == ("s3://bucket", "lake/gold/customer_value")
    assert lineage.dataset_name("/data/lake/gold/customer_value") == ("file", "/data/lake/gold/customer_value")

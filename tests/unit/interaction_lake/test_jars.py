"""Delta's Spark jars are pinned by coordinates and SHA-256 (jars.lock): a jar whose bytes differ is refused and removed."""

from __future__ import annotations

import hashlib

import pytest

from interaction_lake import jars


def test_the_lock_pins_delta_spark_built_for_the_pinned_pyspark():
    """delta-spark is published per Spark line (``delta-spark_4.1_2.13``): the lock's must be the pinned pyspark's, at a
    release that runs on its patch level (4.3.0 and later on Spark 4.1.2+; docs/adr/0001-engine.md)."""
    from importlib.metadata import version

    spark_line = ".".join(version("pyspark").split(".")[:2])
    pinned = {f"{j.group}:{j.artifact}": j for j in jars.pinned()}
    delta = pinned[f"io.delta:delta-spark_{spark_line}_2.13"]
    assert tuple(int(part) for part in delta.version.split(".")[:2]) >= (4, 3)
    assert pinned["io.delta:delta-storage"].version == delta.version
    assert all(len(j.sha256) == 64 for j in pinned.values())


def test_a_jar_with_other_bytes_is_refused_and_removed(tmp_path):
    cache, lock = tmp_path / "jars", tmp_path / "jars.lock"
    cache.mkdir()
    (cache / "thing-1.0.jar").write_bytes(b"not the pinned jar")
    lock.write_text(f"# comment\norg.example:thing:1.0 {hashlib.sha256(b'the pinned jar').hexdigest()}\n")
    with pytest.raises(jars.JarError, match="is not the pinned"):
        jars.fetch(cache, lock)
    assert not (cache / "thing-1.0.jar").exists()


def test_a_cached_jar_with_the_pinned_bytes_needs_no_network(tmp_path, monkeypatch):
    cache, lock = tmp_path / "jars", tmp_path / "jars.lock"
    cache.mkdir()
    (cache / "thing-1.0.jar").write_bytes(b"the pinned jar")
    lock.write_text(f"org.example:thing:1.0 {hashlib.sha256(b'the pinned jar').hexdigest()}\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no Maven to call: the cache alone must do
    assert jars.fetch(cache, lock) == [cache / "thing-1.0.jar"]

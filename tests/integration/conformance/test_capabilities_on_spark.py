"""Every capability test (tests/integration/interaction_lake/test_capabilities.py) again on Apache Spark + delta-spark --
the same functions, given a classic ``local[2]`` session in a process of their own -- on local disk and on an
S3-compatible server (S3A, from hadoop-aws in jars.lock), so each capability in ``interaction_lake.capabilities`` is
checked against what both engines really do, wherever the lake is."""

from __future__ import annotations

import pytest

from tests.integration.conformance.capability_probe import probe
from tests.integration.servers import s3_server

pytestmark = pytest.mark.spark


def test_each_capability_test_passes_on_apache_spark_too_on_disk_and_on_s3():
    with s3_server() as store:
        bucket = store.bucket("capabilities")
        passed = probe("spark", "local", bucket, env=store.env)
    assert len([p for p in passed if p.startswith("local ")]) >= 3, passed
    assert len([p for p in passed if p.startswith("s3://")]) == len([p for p in passed if p.startswith("local ")]), passed

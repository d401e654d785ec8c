"""``make airflow-ui``, as the README tells a data engineer to run it: Airflow's API server, scheduler, DAG processor and
triggerer come up on loopback with the project's DAGs and no import errors, and the login it prints works. Under that
real scheduler and triggerer, a DAG run past its Deadline Alert (Airflow 3's successor of SLAs) alerts the webhook."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

from tests.conftest import REPO
from tests.integration.conformance.cluster import free_port
from tests.integration.servers import smtp_and_webhook

DAGS = {"land_account_manager", "land_callcentre", "land_counter", "land_holdings", "land_survey", "silver", "marts"}


def _get(url: str, token: str | None = None, body: dict | None = None, method: str | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method,
                                     headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_make_airflow_ui_serves_the_dags_and_a_late_run_alerts(tmp_path):
    with smtp_and_webhook() as (received, connections):
        _ui_and_deadline(tmp_path, received, connections)


def _ui_and_deadline(tmp_path, received, connections):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}  # the test session's own Airflow settings aside
    env.update(connections)
    env["INTERACTION_LAKE_DEADLINE_MINUTES"] = "0.05"  # three seconds after a run is queued
    log = (tmp_path / "ui.log").open("w")
    ui = subprocess.Popen(["make", "-s", "airflow-ui", f"AIRFLOW_DEMO_HOME={tmp_path / 'home'}", f"AIRFLOW_UI_PORT={port}"],
                          cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, health = time.monotonic() + 240, {}
        while time.monotonic() < deadline and health.get("scheduler", {}).get("status") != "healthy":
            assert ui.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            try:
                health = _get(f"{base}/api/v2/monitor/health")
            except OSError:
                pass
            time.sleep(2)
        assert health["metadatabase"]["status"] == "healthy" and health["scheduler"]["status"] == "healthy", health
        password = json.loads((tmp_path / "home" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        token = _get(f"{base}/auth/token", body={"username": "admin", "password": password})["access_token"]
        deadline, dags = time.monotonic() + 120, set()
        while time.monotonic() < deadline and dags != DAGS:  # the DAG processor parses the folder in its own time
            dags = {d["dag_id"] for d in _get(f"{base}/api/v2/dags?limit=100", token)["dags"]}
            time.sleep(2)
        assert dags == DAGS
        assert _get(f"{base}/api/v2/importErrors", token)["total_entries"] == 0

        # a run of the (paused) marts DAG stays queued: three seconds on, its deadline passes and the triggerer alerts
        run = _get(f"{base}/api/v2/dags/marts/dagRuns", token, body={"logical_date": None})
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any(a["kind"] == "deadline_missed" for _, b in received.posts for a in b["alerts"]):
            time.sleep(2)
        [alert] = [a for _, b in received.posts for a in b["alerts"] if a["kind"] == "deadline_missed"]
        assert alert["dag_id"] == "marts" and alert["run_id"] == run["dag_run_id"]
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()
    assert ui.returncode is not None  # stopped with its process group

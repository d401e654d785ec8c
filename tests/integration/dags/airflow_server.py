"""Airflow as ``make airflow-ui`` starts it (``airflow standalone``: API server, scheduler, DAG processor, triggerer,
LocalExecutor) in a process group of its own, and a small client of its REST API for the tests that drive it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.conftest import REPO
from tests.integration.conformance.cluster import free_port

DAGS = {"land_account_manager", "land_callcentre", "land_counter", "land_holdings", "land_survey", "silver", "marts"}


def call(url: str, token: str | None = None, body: dict | None = None, method: str | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method,
                                     headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@dataclass
class Api:
    base: str
    token: str

    def get(self, path: str) -> dict:
        return call(f"{self.base}/api/v2/{path}", self.token)

    def post(self, path: str, body: dict) -> dict:
        return call(f"{self.base}/api/v2/{path}", self.token, body=body)


def wait_for(condition, timeout: float, what: str, every: float = 2.0):
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def cli_environment(home: Path, env: dict[str, str]) -> dict[str, str]:
    """What an ``airflow`` command needs to act on the Airflow that :func:`airflow_ui` started (as the Makefile's
    AIRFLOW_ENV sets it), with ``env``; the test session's own AIRFLOW_* variables aside."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return {**environment, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env}


@contextlib.contextmanager
def airflow_ui(home: Path, env: dict[str, str], log: Path) -> Iterator[Api]:
    """``make airflow-ui`` with ``env`` (beside the test session's own, AIRFLOW_* aside), on a free loopback port; yields
    the logged-in API once the scheduler is healthy and every DAG is parsed without import errors. Stops the whole
    process group afterwards."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    environment.update(env)
    out = log.open("w")
    ui = subprocess.Popen(["make", "-s", "airflow-ui", f"AIRFLOW_DEMO_HOME={home}", f"AIRFLOW_UI_PORT={port}"], cwd=REPO,
                          env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            assert ui.poll() is None, log.read_text()[-3000:]
            try:
                health = call(f"{base}/api/v2/monitor/health")
            except OSError:
                return None
            return health if health.get("scheduler", {}).get("status") == "healthy" else None

        health = wait_for(healthy, 240, "a healthy scheduler")
        assert health["metadatabase"]["status"] == "healthy", health
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        api = Api(base, call(f"{base}/auth/token", body={"username": "admin", "password": password})["access_token"])
        # the DAG processor parses the folder in its own time
        wait_for(lambda: {d["dag_id"] for d in api.get("dags?limit=100")["dags"]} == DAGS, 120, "every DAG parsed")
        assert api.get("importErrors")["total_entries"] == 0
        yield api
    finally:
        _stop(ui)
        out.close()


def _stop(group: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (make, standalone and the components it started), SIGKILL to whatever is
    still in it after a minute: the leader exiting does not mean its children have (a triggerer once outlived it)."""
    for sig, seconds in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
        try:
            os.killpg(group.pid, sig)
        except ProcessLookupError:  # nobody left in the group
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            group.poll()  # reap the leader, so it does not linger as a zombie of the group
            try:
                os.killpg(group.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)


def forkserver(home: Path) -> dict[str, str] | None:
    """The ``multiprocessing`` forkserver of the scheduler that :func:`airflow_ui` started in ``home`` (its command line
    and the shared libraries it has mapped), or None while it has none: it starts with the first task."""
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "multiprocessing.forkserver" not in command:
                continue
            if f"AIRFLOW_HOME={home}".encode() not in (process / "environ").read_bytes().split(b"\0"):
                continue
            return {"command": command, "maps": (process / "maps").read_text()}
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return None

"""A Spark standalone cluster on loopback, as a bank runs one: a master, a worker and a Spark Connect server, each its
own JVM process started from the pinned pyspark distribution, with Delta's pinned jars (``make jars``).

The pipeline reaches it only through Spark Connect (``INTERACTION_LAKE_SPARK_REMOTE``), as a bank's Airflow workers
would. The lake is on this machine's disk, which the worker's executors and the client share.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

from interaction_lake import storage
from interaction_lake.engine import DELTA_CONF

SPARK_HOME = Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"nothing listens on {port} after {seconds:g} s: {log.read_text()[-3000:]}")


@dataclass
class StandaloneCluster:
    work: Path
    jars: list[Path]
    cores: int = 2
    memory: str = "2g"
    processes: list[subprocess.Popen] = field(default_factory=list)
    connect_url: str = ""

    def start(self) -> "StandaloneCluster":
        self.work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(self.work),
               "SPARK_WORKER_DIR": str(self.work / "worker"), "SPARK_NO_DAEMONIZE": "1"}
        for variable in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
            env.pop(variable, None)
        master_port, connect_port = free_port(), free_port()
        master = f"spark://127.0.0.1:{master_port}"
        self._run("master", env, master_port, [str(SPARK_HOME / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
                                                "--host", "127.0.0.1", "--port", str(master_port), "--webui-port", "0"])
        self._run("worker", env, None, [str(SPARK_HOME / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker", master,
                                        "--host", "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory,
                                        "--webui-port", "0", "--work-dir", str(self.work / "worker")])
        conf = {**DELTA_CONF, **storage.spark_conf(), "spark.sql.session.timeZone": "UTC", "spark.connect.grpc.binding.address": "127.0.0.1",
                "spark.connect.grpc.binding.port": str(connect_port), "spark.sql.shuffle.partitions": "4",
                "spark.databricks.delta.snapshotPartitions": "2", "spark.ui.enabled": "false",
                "spark.executor.memory": "1g", "spark.jars": ",".join(map(str, self.jars))}
        self._run("connect", env, connect_port, [str(SPARK_HOME / "bin" / "spark-submit"), "--master", master,
                                                 "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
                                                 "--name", "interaction-lake-connect",
                                                 *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")],
                                                 "spark-internal"])
        self.connect_url = f"sc://127.0.0.1:{connect_port}"
        return self

    def _run(self, name: str, env: dict[str, str], port: int | None, command: list[str]) -> None:
        log = self.work / f"{name}.log"
        process = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=self.work)
        self.processes.append(process)
        if port is not None:
            wait_for_port(port, process, log)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

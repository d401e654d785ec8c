"""Real servers on loopback for what the pipeline talks to: an SMTP server (aiosmtpd) and an HTTP endpoint, each
keeping what it received, and the Airflow connections that point at them; Debian's PostgreSQL for Airflow's metadata
database, as a bank runs it."""

from __future__ import annotations

import contextlib
import email
import glob
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

from tests.integration.conformance.cluster import free_port


@dataclass
class Received:
    mails: list[Message] = field(default_factory=list)
    posts: list[tuple[str, dict]] = field(default_factory=list)  # (path, JSON body)


@contextlib.contextmanager
def smtp_and_webhook() -> Iterator[tuple[Received, dict[str, str]]]:
    """Both servers started; yields what they receive and the AIRFLOW_CONN_* variables naming them."""
    from aiosmtpd.controller import Controller

    received = Received()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            received.mails.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.posts.append((self.path, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with socket.socket() as probe:  # aiosmtpd's start-up check connects to the port it was given: it cannot be 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    connections = {
        "AIRFLOW_CONN_INTERACTION_LAKE_SMTP": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "interaction-lake@bank.example"}}),
        "AIRFLOW_CONN_INTERACTION_LAKE_WEBHOOK": json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": http.server_address[1], "schema": "alerts"}),
        "INTERACTION_LAKE_ALERT_EMAIL": "data-platform@bank.example",
    }
    try:
        yield received, connections
    finally:
        http.shutdown()
        smtp.stop()


def _postgres_bin(name: str) -> str:
    """A PostgreSQL server program: from PATH, else Debian's versioned directory (``make postgres`` installs it)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run 'make postgres' (Debian's postgresql package)")
    return found


@contextlib.contextmanager
def postgres(database: str = "airflow") -> Iterator[str]:
    """A PostgreSQL server of its own on a free loopback port, with ``database``; yields its SQLAlchemy URL
    (psycopg2). PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user."""
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = tempfile.mkdtemp(prefix="interaction-lake-pg-")  # not under pytest's tmp: its 0700 parents shut the user out
    os.chmod(home, 0o755)
    data, sockets = os.path.join(home, "data"), os.path.join(home, "run")
    for folder in (data, sockets):
        os.mkdir(folder, 0o700)
        if as_root:
            shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    subprocess.run([*run_as, _postgres_bin("initdb"), "-D", data, "-U", "airflow", "-A", "trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, text=True)
    log = os.path.join(sockets, "server.log")
    subprocess.run([*run_as, _postgres_bin("pg_ctl"), "-D", data, "-l", log, "-w", "-o",
                    f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"],
                   check=True, capture_output=True, text=True)
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "-d", "postgres", "-q", "-c",
                        f"CREATE DATABASE {database}"], check=True, capture_output=True, text=True)
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run([*run_as, _postgres_bin("pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class ObjectStore:
    """An S3-compatible server on loopback, and the standard AWS variables that point every client at it."""

    endpoint: str
    env: dict[str, str]

    def bucket(self, name: str) -> str:
        """Create the bucket ``name``; its URI."""
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name=self.env["AWS_REGION"],
                     aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"]
                     ).create_bucket(Bucket=name)
        return f"s3://{name}"


@contextlib.contextmanager
def s3_server() -> Iterator[ObjectStore]:
    """moto's S3 in server mode (a real HTTP server, in its own process): conditional PUTs, listings and multipart
    uploads as S3 answers them. Credentials are moto's fixed test ones."""
    import sys
    import time
    import urllib.request

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on {endpoint}") from None
                time.sleep(0.2)
        yield ObjectStore(endpoint, {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
                                     "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    finally:
        server.terminate()
        server.wait(timeout=30)

"""Real servers on loopback for what the pipeline talks to: an SMTP server (aiosmtpd) and an HTTP endpoint, each
keeping what it received, and the Airflow connections that point at them."""

from __future__ import annotations

import contextlib
import email
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


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

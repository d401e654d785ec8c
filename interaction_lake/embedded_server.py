"""The embedded engine's server (Sail) as a process of its own, for a long-lived process (``engine.renewed``).

Started by ``interaction_lake.engine`` with the engine's environment (log level, allocator options): it prints the
port it listens on, on one line, then serves until its standard input closes -- when its parent stops it, or dies, so
it never outlives the process it serves. It imports nothing but Sail.
"""

from __future__ import annotations

import sys


def main() -> None:
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    print(server.listening_address[1], flush=True)
    sys.stdin.read()  # until the parent closes it (or exits)
    server.stop()


if __name__ == "__main__":
    main()

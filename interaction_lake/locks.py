"""Exclusive locks per job and lake, so two runs of the same job never overlap.

Two landing runs of one source at once (a scheduled run and a manual one, say) would both see the same
files as new and land them twice: the ledger makes a run exactly-once, not two concurrent runs. So a
run takes ``<lake>/_system/locks/<name>.lock`` with ``flock`` first; a second run waits for the first
to finish, then finds the files landed and lands nothing. The kernel releases the lock of a killed
process, so a crash never leaves it held. ``flock`` needs a POSIX file system shared by the runs (a local
disk, a Docker volume, NFS); on object storage, rely on the orchestrator (``max_active_runs=1``, pools).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from interaction_lake import lake
from interaction_lake.config import env_number

TIMEOUT_ENV = "INTERACTION_LAKE_LOCK_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 3600.0


class LockTimeout(RuntimeError):
    """Another run held the lock for longer than the timeout."""


def lock_path(lake_root: Path, name: str) -> Path:
    return Path(lake_root) / lake.SYSTEM / "locks" / f"{name}.lock"


@contextlib.contextmanager
def exclusive(lake_root: Path, name: str, timeout_seconds: float | None = None) -> Iterator[None]:
    timeout = env_number("LOCK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS) if timeout_seconds is None else timeout_seconds
    path = lock_path(lake_root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    raise LockTimeout(f"another {name} run has held {path} for over {timeout:.0f} s ({handle.read().strip() or 'holder unknown'})"
                                      ) from None
                time.sleep(0.2)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {dt.datetime.now(dt.timezone.utc).isoformat()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""Exclusive locks per job and lake, so two runs of the same job never overlap.

Two landing runs of one source at once (a scheduled run and a manual one, say) would both see the same
files as new and land them twice: the ledger makes a run exactly-once, not two concurrent runs. So a
run takes the job's lock first; a second run waits for the first to finish, then finds the files landed
and lands nothing. Two schemes, chosen by where the lake is (``storage.is_local``):

- **On a POSIX file system** (a local disk, a Docker volume, NFS): ``flock`` on ``_system/locks/<name>.lock``.
  The kernel releases the lock of a killed process, so a crash never leaves it held.
- **On an object store** (S3, MinIO), which has no ``flock``: a **lease**. The lock is a series of objects
  ``_system/locks/<name>/<generation>.lease``; the holder is whoever created the newest generation, which a
  conditional PUT (``If-None-Match: *``, ``storage.create_exclusive``) lets exactly one run do. The holder renews
  its lease every quarter of ``INTERACTION_LAKE_LOCK_LEASE_SECONDS`` (60 s) and marks it released at the end; a
  run that finds the newest lease released, or expired (its holder was killed and stopped renewing), creates the
  next generation. A killed holder therefore blocks the next run for at most one lease. Expiry compares the
  holder's clock with the waiter's: machines' clocks must agree to well within a lease (NTP does).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

from interaction_lake import storage
from interaction_lake.config import env_number

TIMEOUT_ENV = "INTERACTION_LAKE_LOCK_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_LEASE_SECONDS = 60.0
FOLDER = ("_system", "locks")  # under lake.SYSTEM (not imported: lake takes commit leases from here)
POLL_SECONDS = 0.2
log = logging.getLogger(__name__)


class LockTimeout(RuntimeError):
    """Another run held the lock for longer than the timeout."""


def lock_path(lake_root: Path, name: str) -> Path:
    """The ``flock`` file of a lake on disk."""
    return storage.location(lake_root).joinpath(*FOLDER, f"{name}.lock")


def lease_folder(lake_root: Path, name: str) -> Path:
    """The lease objects of a lake on an object store."""
    return storage.location(lake_root).joinpath(*FOLDER, name)


@contextlib.contextmanager
def exclusive(lake_root: Path, name: str, timeout_seconds: float | None = None, scheme: str | None = None) -> Iterator[None]:
    """Hold the lake's lock ``name`` while inside; ``scheme`` (``flock`` or ``lease``) defaults to the one the lake's
    storage supports."""
    timeout = env_number("LOCK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS) if timeout_seconds is None else timeout_seconds
    chosen = scheme or ("flock" if storage.is_local(storage.location(lake_root)) else "lease")
    held = _flock(lock_path(lake_root, name), name, timeout) if chosen == "flock" else _lease(lease_folder(lake_root, name), name, timeout)
    with held:
        yield


@contextlib.contextmanager
def all_of(lake_root: Path, names: list[str], timeout_seconds: float | None = None) -> Iterator[None]:
    """Hold each of the lake's locks ``names``, taken in the order given: runs that take several take them in one order
    (erasure's: gold, landing, silver), so none deadlocks another. ``LockTimeout`` as ``exclusive``, the locks already
    taken released."""
    with contextlib.ExitStack() as held:
        for name in names:
            held.enter_context(exclusive(lake_root, name, timeout_seconds))
        yield


def every_job(lake_root: Path, sources: tuple[str, ...] | list[str]) -> contextlib.AbstractContextManager[None]:
    """The lake's gold lock and each source's landing and silver locks, in that order (``all_of``): no job writes while
    inside (erasure, repairs)."""
    return all_of(lake_root, ["gold", *(f"land_{s}" for s in sources), *(f"silver_{s}" for s in sources)])


def _holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()} since {dt.datetime.now(dt.timezone.utc).isoformat()}"


@contextlib.contextmanager
def _flock(path: Path, name: str, timeout: float) -> Iterator[None]:
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
                time.sleep(POLL_SECONDS)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(_holder() + "\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _generations(folder: Path) -> list[int]:
    return sorted(int(name[:-6]) for name in storage.names(folder) if name.endswith(".lease") and name[:-6].isdigit())


def _lease_file(folder: Path, generation: int) -> Path:
    return folder / f"{generation:020d}.lease"


def _read_lease(folder: Path, generation: int) -> dict | None:
    """The lease, or None if it is gone (housekeeping removed it: list again). One that cannot be read counts as held
    for a moment, never as free: s3fs refuses an object replaced while it was being read (its holder renewing it:
    "Etag ... no longer exists"), found by the contention test on the S3 server."""
    try:
        return json.loads(_lease_file(folder, generation).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"holder": "unknown (lease being renewed)", "expires": time.time() + 1, "released": False}


@contextlib.contextmanager
def _lease(folder: Path, name: str, timeout: float) -> Iterator[None]:
    seconds = env_number("LOCK_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
    holder = _holder()
    deadline = time.monotonic() + timeout
    while True:
        generations = _generations(folder)
        latest = generations[-1] if generations else -1
        current = _read_lease(folder, latest) if latest >= 0 else {"released": True}
        if current is None:  # removed since the listing
            continue
        free = current.get("released") or current.get("expires", 0) < time.time()
        if free:
            mine = latest + 1
            body = {"holder": holder, "expires": time.time() + seconds, "released": False}
            if storage.create_exclusive(_lease_file(folder, mine), json.dumps(body).encode()):
                break
            continue  # another run created that generation first: look again
        if time.monotonic() >= deadline:
            raise LockTimeout(f"another {name} run has held {folder} for over {timeout:.0f} s ({current.get('holder', 'holder unknown')})")
        time.sleep(POLL_SECONDS)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(folder, mine, body, seconds, stop), name=f"lease-{name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        storage.write_whole(_lease_file(folder, mine), json.dumps({**body, "released": True}))
        for old in (g for g in generations if g < mine - 1):  # housekeeping: the newest two tell the story
            with contextlib.suppress(FileNotFoundError):
                _lease_file(folder, old).unlink()


def _renew(folder: Path, generation: int, body: dict, seconds: float, stop: threading.Event) -> None:
    """Push the lease's expiry forward every quarter lease until ``stop``; warn if another run took the lock meanwhile
    (this process was paused past its lease)."""
    while not stop.wait(seconds / 4):
        try:
            if _generations(folder)[-1:] != [generation]:
                log.error("the lease %s was taken over by another run: this run was paused for longer than its lease", folder)
                return
            body["expires"] = time.time() + seconds
            storage.write_whole(_lease_file(folder, generation), json.dumps(body))
        except OSError as error:  # the store did not answer this time: three more tries before the lease runs out
            log.warning("could not renew the lease %s: %s", folder, error)

"""Job locks, both schemes (``flock`` on a file system, the lease on an object store -- its primitive, create-if-absent,
exists on local disk too): a second run waits (or times out naming the holder), other jobs are not blocked, a killed
holder never leaves the lock held for good. The lease on a real S3 server: tests/integration/conformance/test_object_storage.py."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from interaction_lake.locks import LockTimeout, all_of, exclusive, lease_folder, lock_path

pytestmark = pytest.mark.unit
SCHEMES = ["flock", "lease"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_second_run_waits_for_the_first_and_times_out_naming_the_holder(tmp_path, scheme):
    with exclusive(tmp_path, "land_counter", scheme=scheme):
        with pytest.raises(LockTimeout, match=r"land_counter .*pid \d+"):
            with exclusive(tmp_path, "land_counter", timeout_seconds=0.5, scheme=scheme):
                pass
        with exclusive(tmp_path, "land_survey", timeout_seconds=0.5, scheme=scheme):  # other jobs are not blocked
            pass
    with exclusive(tmp_path, "land_counter", timeout_seconds=0.5, scheme=scheme):  # released: free again
        pass


def test_several_locks_are_held_together_or_none_is_kept(tmp_path):
    """``all_of``: every lock named, held at once; one that is busy times out and the ones already taken are released."""
    with all_of(tmp_path, ["silver_a", "silver_b"]):
        with pytest.raises(LockTimeout, match="silver_b"):
            with exclusive(tmp_path, "silver_b", timeout_seconds=0):
                pass
    with exclusive(tmp_path, "silver_b"):  # a run of b holds its lock
        with pytest.raises(LockTimeout, match="silver_b"):
            with all_of(tmp_path, ["silver_a", "silver_b", "silver_c"], timeout_seconds=0):
                pass
        with exclusive(tmp_path, "silver_a", timeout_seconds=0):  # the one all_of had taken was let go
            pass
        with exclusive(tmp_path, "silver_c", timeout_seconds=0):  # and the one after the busy one never taken
            pass


@pytest.mark.parametrize("scheme", SCHEMES)
def test_runs_that_contend_hold_the_lock_one_at_a_time(tmp_path, scheme):
    inside, most, errors = [0], [0], []

    def run():
        try:
            for _ in range(5):
                with exclusive(tmp_path, "gold", timeout_seconds=30, scheme=scheme):
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                    time.sleep(0.01)
                    inside[0] -= 1
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and most[0] == 1


def _killed_holder(tmp_path, scheme: str, **env: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from interaction_lake.locks import exclusive\n"
        f"with exclusive({str(tmp_path)!r}, 'gold', scheme={scheme!r}):\n    print('held', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True, env={**__import__("os").environ, **env})
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LockTimeout):
        with exclusive(tmp_path, "gold", timeout_seconds=0.3, scheme=scheme):
            pass
    holder.kill()
    holder.wait()


def test_a_killed_holder_releases_the_flock_at_once(tmp_path):
    _killed_holder(tmp_path, "flock")
    started = time.monotonic()
    with exclusive(tmp_path, "gold", timeout_seconds=5, scheme="flock"):
        pass
    assert time.monotonic() - started < 2 and lock_path(tmp_path, "gold").exists()


def test_a_killed_holders_lease_expires_and_the_next_run_takes_the_next_generation(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_LOCK_LEASE_SECONDS", "2")
    _killed_holder(tmp_path, "lease", INTERACTION_LAKE_LOCK_LEASE_SECONDS="2")
    started = time.monotonic()
    with exclusive(tmp_path, "gold", timeout_seconds=10, scheme="lease"):
        waited = time.monotonic() - started
        leases = sorted(p.name for p in lease_folder(tmp_path, "gold").iterdir())
    assert waited < 4 and leases == [f"{0:020d}.lease", f"{1:020d}.lease"]
    assert json.loads((lease_folder(tmp_path, "gold") / leases[-1]).read_text())["released"] is True


def test_a_lease_is_renewed_while_its_run_lasts(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_LOCK_LEASE_SECONDS", "0.8")
    with exclusive(tmp_path, "gold", scheme="lease"):
        time.sleep(2.5)  # three leases long: a holder that stopped renewing would have lost it by now
        with pytest.raises(LockTimeout):
            with exclusive(tmp_path, "gold", timeout_seconds=0.5, scheme="lease"):
                pass

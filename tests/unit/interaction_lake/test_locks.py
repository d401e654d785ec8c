"""Job locks: a second run waits (or times out with who holds it); a killed holder never leaves the lock held."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from interaction_lake.locks import LockTimeout, exclusive, lock_path


def test_a_second_run_waits_for_the_first_and_times_out_naming_the_holder(tmp_path):
    with exclusive(tmp_path, "land_counter"):
        with pytest.raises(LockTimeout, match=r"land_counter .*pid \d+"):
            with exclusive(tmp_path, "land_counter", timeout_seconds=0.5):
                pass
        with exclusive(tmp_path, "land_survey", timeout_seconds=0.5):  # other jobs are not blocked
            pass
    with exclusive(tmp_path, "land_counter", timeout_seconds=0.5):  # released: free again
        pass


def test_a_killed_holder_releases_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from interaction_lake.locks import exclusive\n"
        f"with exclusive({str(tmp_path)!r}, 'gold'):\n    print('held', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LockTimeout):
        with exclusive(tmp_path, "gold", timeout_seconds=0.3):
            pass
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with exclusive(tmp_path, "gold", timeout_seconds=5):
        pass
    assert time.monotonic() - started < 2 and lock_path(tmp_path, "gold").exists()

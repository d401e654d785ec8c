"""Fault injection for the crash-and-rerun tests: ``INTERACTION_LAKE_CRASH_AT=<point>`` kills the process there.

Jobs call ``crash_point`` between their writes; the tests run a job in a subprocess with the variable set,
see it die by SIGKILL mid-write, then rerun the job and check that nothing is duplicated or lost. Unset,
the variable costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "INTERACTION_LAKE_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)

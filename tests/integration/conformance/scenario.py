"""The conformance scenario: one small bank's life through every stage, on the engine the environment names.

Run as a script in its own process (a classic Spark session and a Spark Connect client cannot share one):
``python scenario.py LANDING LAKE LATER_FOLDER``. It lands the landing zone, builds silver and the marts, then
delivers LATER_FOLDER's day (late events, resent files, new versions), lands again twice (the second time
must find nothing new), rebuilds, and erases one customer. It prints one JSON line: each step's exit code.
``test_engines.py`` runs it on each engine and compares the lakes it leaves.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

ERASED_CUSTOMER = "C00000051"


def main(landing: Path, lake: Path, later: Path) -> dict[str, int]:
    from interaction_lake.cli import main as cli

    paths = ["--lake", str(lake), "--landing", str(landing)]
    codes: dict[str, int] = {}
    output = io.StringIO()

    def step(name: str, *args: str) -> None:
        with contextlib.redirect_stdout(output):
            codes[name] = cli([*args, *paths])

    for day in ("1", "2"):
        step(f"land {day}", "land")
        step(f"build-silver {day}", "build-silver")
        step(f"build-marts {day}", "build-marts")
        if day == "1":  # the next day's files arrive, some of them late, resent or correcting
            for source in later.iterdir():
                shutil.copytree(source, landing / source.name, dirs_exist_ok=True)
    step("land again", "land")
    step("erase", "erase", "--customer-ref", ERASED_CUSTOMER, "--request-id", "conformance-1")
    (lake.parent / f"{lake.name}.out").write_text(output.getvalue())
    return codes


if __name__ == "__main__":
    print(json.dumps(main(*map(Path, sys.argv[1:4]))))

"""The conformance scenario: one small bank's life through every stage, on the engine the environment names.

Run as a script in its own process (a classic Spark session and a Spark Connect client cannot share one):
``python scenario.py LANDING LAKE LATER_FOLDER`` (LAKE a folder or an ``s3://`` URI). It lands the landing zone,
builds silver and the marts, then delivers LATER_FOLDER's day (late events, resent files, new versions), lands
again twice (the second time must find nothing new), rebuilds, traces a mart row and reads (and rebuilds) a mart
as of its first version, and erases one customer. It prints one JSON line: each step's exit code; the steps'
output goes to ``scenario.out`` in the working directory. ``test_engines.py`` runs it on each engine and
``test_object_storage.py`` on an S3-compatible server, and compare the lakes it leaves.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

ERASED_CUSTOMER = "C00000051"


def main(landing: Path, lake: str, later: Path) -> dict[str, int]:
    from deltalake import DeltaTable

    from interaction_lake.cli import main as cli
    from interaction_lake.lake import arrow

    paths = ["--lake", lake, "--landing", str(landing)]
    codes: dict[str, int] = {}
    output = io.StringIO()

    def step(name: str, *args: str) -> None:
        where = paths[:2] if args[0] == "audit" else paths  # the audit commands read the lake only
        with contextlib.redirect_stdout(output):
            codes[name] = cli([*args, *where])

    for day in ("1", "2"):
        step(f"land {day}", "land")
        step(f"build-silver {day}", "build-silver")
        step(f"build-marts {day}", "build-marts")
        if day == "1":  # the next day's files arrive, some of them late, resent or correcting
            for source in later.iterdir():
                shutil.copytree(source, landing / source.name, dirs_exist_ok=True)
    step("land again", "land")
    row = min(arrow(DeltaTable(f"{lake}/gold/customer_value"), columns=["customer_key", "month"]).to_pylist(),
              key=lambda r: (r["customer_key"], r["month"]))
    step("audit trace", "audit", "trace", "customer_value", "--key", f"customer_key={row['customer_key']}", "--key", f"month={row['month']}")
    step("audit as-of", "audit", "as-of", "customer_value", "--version", "1", "--rebuild")
    step("erase", "erase", "--customer-ref", ERASED_CUSTOMER, "--request-id", "conformance-1")
    Path("scenario.out").write_text(output.getvalue())
    return codes


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))))

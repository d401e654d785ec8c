"""Process start-up: what a command (or an Airflow task, a new process each) pays before doing anything.

    python bench/startup.py [--repeat 5] [--out bench/results/startup.json]

Measures, each the median of ``--repeat`` runs, in fresh processes: the anchor ``python -c pass``; ``import
interaction_lake.cli``; ``interaction-lake --help``; ``interaction-lake land`` on a small lake with nothing new (the
engine started, every source's ledger read, nothing landed). Each is measured twice: as installed (``make install``
compiles the packages to bytecode) and cold, with an empty bytecode cache (``PYTHONPYCACHEPREFIX`` pointed at an empty
folder under ``PYTHONDONTWRITEBYTECODE=1``, which is how every process started on a machine where that variable is
set and nothing was compiled at install). Prints a table and writes JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _seconds(command: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/startup.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        base = {**os.environ, "INTERACTION_LAKE_PSEUDONYM_SECRET": "bench", "INTERACTION_LAKE_PROGRESS": "0",
                "PYTHONDONTWRITEBYTECODE": "1"}
        cli = [str(BIN / "interaction-lake")]
        subprocess.run([*cli, "generate", "--customers", "50", "--days", "1", "--out", str(work / "landing")], env=base,
                       check=True, stdout=subprocess.DEVNULL)
        lake = ["--lake", str(work / "lake"), "--landing", str(work / "landing")]
        subprocess.run([*cli, "land", *lake], env=base, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        commands = {
            "python -c pass (anchor)": [sys.executable, "-c", "pass"],
            "import interaction_lake.cli": [sys.executable, "-c", "import interaction_lake.cli"],
            "interaction-lake --help": [*cli, "--help"],
            "interaction-lake land, nothing new": [*cli, "land", *lake],
        }
        cold = {**base, "PYTHONPYCACHEPREFIX": str(work / "no-bytecode")}
        results = {name: {"installed_s": round(_seconds(command, base, args.repeat), 3),
                          "no_bytecode_s": round(_seconds(command, cold, args.repeat), 3)} for name, command in commands.items()}
    anchor = results["python -c pass (anchor)"]["installed_s"]
    print(f"{'median seconds of ' + str(args.repeat) + ' runs':38} {'installed':>10} {'no bytecode':>12} {'ratio':>7} {'x anchor':>9}")
    for name, row in results.items():
        row["no_bytecode_over_installed"] = round(row["no_bytecode_s"] / row["installed_s"], 2)
        row["installed_over_anchor"] = round(row["installed_s"] / anchor, 1)
        print(f"{name:38} {row['installed_s']:>10.2f} {row['no_bytecode_s']:>12.2f} {row['no_bytecode_over_installed']:>6.2f}x "
              f"{row['installed_over_anchor']:>8.1f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"repeat": args.repeat, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

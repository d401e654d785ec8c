"""Generated landing files delivered day by day, as a bank's exports arrive: ``generate`` writes ``<source>/<day>/``
folders (``YYYY-MM-DD``); the benchmarks and every multi-day test hand them to the landing zone one day at a time."""

from __future__ import annotations

import shutil
from pathlib import Path


def days_of(sent: Path) -> list[str]:
    """The delivery days of a generated landing zone (``<source>/<YYYY-MM-DD>/`` folders), oldest first."""
    return sorted({p.name for p in Path(sent).glob("*/*") if p.is_dir()})


def deliver(sent: Path, landing: Path, day: str, sources: tuple[str, ...] | None = None) -> None:
    """Copy one day's files of every source (or of ``sources`` only) from ``sent`` into the landing zone."""
    for folder in Path(sent).glob(f"*/{day}"):
        if sources is None or folder.parent.name in sources:
            shutil.copytree(folder, Path(landing) / folder.parent.name / day)

"""Generated landing files delivered day by day, as a bank's exports arrive: the helpers every multi-day test shares."""

from __future__ import annotations

import shutil
from pathlib import Path


def days_of(sent: Path) -> list[str]:
    """The delivery days of a generated landing zone (``<source>/<YYYY-MM-DD>/`` folders), oldest first."""
    return sorted({p.name for p in sent.glob("*/*") if p.is_dir()})


def deliver(sent: Path, landing: Path, day: str, sources: tuple[str, ...] | None = None) -> None:
    """Copy one day's files of every source (or of ``sources`` only) from ``sent`` into the landing zone."""
    for folder in sent.glob(f"*/{day}"):
        if sources is None or folder.parent.name in sources:
            shutil.copytree(folder, landing / folder.parent.name / day)

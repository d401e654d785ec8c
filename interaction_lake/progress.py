"""Progress bars for long command-line work, on stderr and only on an interactive terminal.

Under a scheduler, in CI or with output piped to a file, nothing is drawn, so logs stay plain.
``INTERACTION_LAKE_PROGRESS=0`` turns bars off everywhere; ``=1`` forces them on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def enabled() -> bool:
    forced = os.environ.get("INTERACTION_LAKE_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    return Console(stderr=True).is_terminal


def _progress(counted: bool = True) -> Progress:
    """A bar with done/total for counted steps; for one step of unknown size only a spinner and the time (no "0/?")."""
    columns = (BarColumn(), MofNCompleteColumn()) if counted else ()
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), *columns, TimeElapsedColumn(),
                    console=Console(stderr=True, force_terminal=enabled()), transient=True, disable=not enabled())


def steps(description: str, items: Iterable[T], label=str) -> Iterator[T]:
    """Yield ``items`` while a bar shows ``description: <item>`` and how many are done."""
    items = list(items)
    with _progress() as bar:
        task = bar.add_task(description, total=len(items))
        for item in items:
            bar.update(task, description=f"{description}: {label(item)}")
            yield item
            bar.advance(task)


@contextlib.contextmanager
def working(description: str) -> Iterator[None]:
    """A spinner with elapsed time for one long step whose size is unknown (a marts build, a report)."""
    with _progress(counted=False) as bar:
        bar.add_task(description, total=None)
        yield

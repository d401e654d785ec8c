"""Feed mappings: a bank's native exports onboarded by configuration, one YAML file per export (docs/feeds.md).

The mappings live in ``INTERACTION_LAKE_FEEDS_DIR`` (default: the repository's ``feeds/``), one ``*.yaml`` file
each. A mapping names the contract its events meet, the landing folder and file-name pattern it covers, the
native format and columns, and the rules that turn one native record into contract events
(``interaction_lake.feeds.mapping``). Landing reads a covered file through its mapping; everything after
landing sees ordinary contract events whose lineage ends at the bank's own file and line.
"""

from __future__ import annotations

import fnmatch
import os
from functools import cache
from pathlib import Path

from interaction_lake.config import PREFIX
from interaction_lake.feeds.spec import FeedMapping, FeedMappingError, load

ENV = PREFIX + "FEEDS_DIR"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "feeds"
COMPRESSED = (".gz",)

__all__ = ["FeedMapping", "FeedMappingError", "all_mappings", "covering", "feeds_dir", "for_source", "load", "names"]


def feeds_dir() -> Path:
    return Path(os.environ.get(ENV) or DEFAULT_DIR)


def all_mappings() -> tuple[FeedMapping, ...]:
    """Every mapping in the feeds folder, checked (a broken one stops the run with its file and line)."""
    return _load_dir(feeds_dir())


@cache
def _load_dir(folder: Path) -> tuple[FeedMapping, ...]:
    mappings = tuple(load(path) for path in sorted(folder.glob("*.yaml"))) if folder.is_dir() else ()
    seen: dict[str, Path] = {}
    for mapping in mappings:
        if mapping.feed in seen:
            raise FeedMappingError(f"{mapping.path}: feed {mapping.feed!r} is already declared by {seen[mapping.feed]}")
        seen[mapping.feed] = mapping.path
    return mappings


def for_source(source: str) -> tuple[FeedMapping, ...]:
    return tuple(m for m in all_mappings() if m.source == source)


def names(mapping: FeedMapping, file_name: str) -> bool:
    """Whether the mapping's pattern matches a file name (a ``.gz`` ending looked through)."""
    for suffix in COMPRESSED:
        if file_name.lower().endswith(suffix):
            file_name = file_name[: -len(suffix)]
    return fnmatch.fnmatch(file_name, mapping.pattern)


def covering(mappings: tuple[FeedMapping, ...], landing_root: Path, path: Path) -> FeedMapping | None:
    """The mapping whose folder holds ``path`` (directly or below) and whose pattern matches its name, or None."""
    return next((m for m in mappings if Path(landing_root) / m.folder in path.parents and names(m, path.name)), None)

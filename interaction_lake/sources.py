"""The one registry of sources: which sources exist (every source with a contract under ``schemas/``), which
this deployment runs (``INTERACTION_LAKE_SOURCES``), and where each one's files arrive (its own landing folder and
those of the feed mappings under ``feeds/`` that produce its events, docs/feeds.md).

Adding a source is adding its contract; onboarding a bank's own export of it is adding a feed mapping: landing,
silver, the gates, the DAGs and erasure iterate this registry. A bank that does not send a source leaves it out
of ``INTERACTION_LAKE_SOURCES`` (or simply never sends it): its DAG is not created, and the marts that need it are
not built (``jobs/gold/build.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from interaction_lake import contracts, feeds
from interaction_lake.config import PREFIX, ConfigError

ENV = PREFIX + "SOURCES"


def known() -> tuple[str, ...]:
    """Every source with a contract, in a stable order."""
    return contracts.sources()


def enabled() -> tuple[str, ...]:
    """The sources this deployment runs: ``INTERACTION_LAKE_SOURCES`` (comma-separated), default every known one."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return known()
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known()]
    if unknown:
        raise ConfigError(f"{ENV} names {', '.join(unknown)}, which has no contract under schemas/ (known: {', '.join(known())})")
    return tuple(name for name in known() if name in chosen)


def landing_folders(landing_root: Path, source: str) -> list[Path]:
    """The folders a source's files arrive in: its own (``<landing>/<source>``), then each of its feed mappings'."""
    folders = [Path(landing_root) / source]
    for mapping in feeds.for_source(source):
        folder = Path(landing_root) / mapping.folder
        if folder not in folders:
            folders.append(folder)
    return folders

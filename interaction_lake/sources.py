"""The one registry of sources: which sources exist (every source with a contract under ``schemas/``) and which
this deployment runs (``INTERACTION_LAKE_SOURCES``).

Adding a source is adding its contract: landing, silver, the gates, the DAGs and erasure iterate this
registry. A bank that does not send a source leaves it out of ``INTERACTION_LAKE_SOURCES`` (or simply never
sends it): its DAG is not created, and the marts that need it are not built (``jobs/gold/build.py``).
"""

from __future__ import annotations

import os

from interaction_lake import contracts
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

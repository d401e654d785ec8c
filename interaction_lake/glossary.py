"""The metrics glossary, ``docs/metrics.md``, read as data: each mart's grain, sources and column definitions.

The page is the one place a figure is defined. What a BI tool or an analyst reads about a mart is generated from it:
the Delta tables' description and column comments (``jobs.gold.build``), the SQL endpoint's table and column
comments (``interaction_lake.serving``) and the semantic layer (``interaction_lake.semantic_layer``). A test
(``tests/unit/interaction_lake/test_glossary.py``) fails when a mart has a column the page does not define.

The page's shape, which this module relies on: a section per mart headed ``## `<mart>` — grain: `a` × `b` ...``,
its sources on a line starting ``Source:`` or ``Sources:``, and tables headed ``| column | definition |`` whose first
cell names one or more columns in backquotes. The section "Columns of every periodic mart" defines columns every
mart but the snapshot one has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
SILVER = GLOSSARY.parent / "silver.md"  # its "Tables" section: silver's tables, their grain and what they are built from
COMMON_SECTION = "Columns of every periodic mart"
SNAPSHOT_MARTS = ("key_customers_at_risk",)

_MART_HEADING = re.compile(r"^## `(?P<name>[a-z_]+)` — grain: (?P<grain>.+)$")
_NAMES = re.compile(r"`([a-z_][a-z0-9_]*)`")


@dataclass(frozen=True)
class MartDoc:
    """One mart as the glossary defines it."""

    name: str
    grain: tuple[str, ...]  # the key columns, in the heading's order
    grain_text: str  # the heading's grain as written ("`month` × `customer_key`")
    sources: str  # the Sources line as written
    columns: dict[str, str] = field(default_factory=dict)  # column -> definition (markdown stripped)
    mentions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # column -> the names its definition quotes

    def description(self) -> str:
        """The table comment: what one row is, where it comes from, where it is defined."""
        grain = " × ".join(self.grain)
        sources = f" {self.sources}" if self.sources else ""
        return f"One row per {grain}.{sources} Definitions: docs/metrics.md."


def plain(text: str) -> str:
    """Markdown to the plain text of a comment: no backquotes or emphasis, one line."""
    return re.sub(r"\s+", " ", text.replace("`", "").replace("**", "")).strip()


@lru_cache(maxsize=4)
def marts(path: Path = GLOSSARY) -> dict[str, MartDoc]:
    """Every mart the page defines, its periodic columns included."""
    sections = _sections(path.read_text(encoding="utf-8"))
    common_columns, common_mentions = _columns(sections.get(COMMON_SECTION, []))
    found = {}
    for heading, lines in sections.items():
        match = _MART_HEADING.match(f"## {heading}")
        if not match:
            continue
        name, grain_text = match["name"], match["grain"].split(",")[0]
        grain = tuple(_NAMES.findall(re.sub(r"\([^)]*\)", "", grain_text)))  # `period` (`day`|`month`): the column only
        sources = _paragraph(lines, ("Source:", "Sources:"))
        columns, mentions = ({}, {}) if name in SNAPSHOT_MARTS else (dict(common_columns), dict(common_mentions))
        own_columns, own_mentions = _columns(lines)
        columns.update(own_columns)
        mentions.update(own_mentions)
        found[name] = MartDoc(name, grain, plain(grain_text), sources, columns, mentions)
    return found


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def _paragraph(lines: list[str], starts: tuple[str, ...]) -> str:
    """The paragraph that starts with one of ``starts``, as one plain line ('' if none)."""
    for at, line in enumerate(lines):
        if line.startswith(starts):
            end = next((i for i in range(at, len(lines)) if not lines[i].strip()), len(lines))
            return plain(" ".join(lines[at:end]))
    return ""


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _columns(lines: list[str]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Column definitions (and the names each quotes) from the section's ``| column | definition |`` tables; a column
    defined in two tables (the counter's and the call centre's ``aht_seconds``) gets both definitions, each after its
    table's label."""
    columns: dict[str, str] = {}
    mentions: dict[str, tuple[str, ...]] = {}
    in_table, label, before = False, "", ""
    for line in lines:
        if not line.startswith("|"):
            in_table = False
            before = line.strip() or before
            continue
        cells = _cells(line)
        if cells[:2] == ["column", "definition"]:  # a table of columns, labelled by a line just before ending in ':'
            in_table, label = True, plain(re.sub(r"\([^)]*\)", "", before)).rstrip(":").strip() if before.endswith(":") else ""
            before = ""
            continue
        before = ""
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        definition = plain(" | ".join(cells[1:]))
        quoted = tuple(dict.fromkeys(_NAMES.findall(" ".join(cells[1:]))))
        for name in _NAMES.findall(cells[0]):
            mentions[name] = tuple(dict.fromkeys((*mentions.get(name, ()), *quoted)))
            if name in columns:
                columns[name] = f"{columns[name]}; {label}: {definition}"
            else:
                columns[name] = f"{label}: {definition}" if label else definition
    return columns, mentions


@lru_cache(maxsize=4)
def silver_tables(path: Path = SILVER) -> dict[str, str]:
    """Each silver table's description from ``docs/silver.md``'s table of tables (``<source>_events`` stands for every
    source's events table): table -> "One row per ...; built from ...". """
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = _cells(line) if line.startswith("| `") else []
        if len(cells) >= 3:
            found[cells[0].strip("`")] = plain(f"One row per {cells[1]}; built from {cells[2]}. Definitions: docs/silver.md.")
    return found


def silver_description(table: str) -> str:
    tables = silver_tables()
    return tables.get(table) or (tables.get("<source>_events", "") if table.endswith("_events") else "") or \
        f"silver/{table} (docs/silver.md)"

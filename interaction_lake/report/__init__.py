"""The HTML report: one self-contained page built from the gold marts (``interaction-lake report``).

``data`` reads each mart at one Delta version and shapes what the page shows; ``charts`` draws it as
inline SVG; ``page`` assembles the file. See docs/report.md.
"""

from interaction_lake.report.page import build_report

__all__ = ["build_report"]

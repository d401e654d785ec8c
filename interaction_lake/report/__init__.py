"""The HTML report: one self-contained page built from the gold marts (``interaction-lake report``).

``data`` reads each mart at one Delta version and shapes what the page shows; ``charts`` draws it as
inline SVG; ``page`` assembles the file (``page.build_report``). See docs/report.md. Importing the package
imports none of them (the command line reads ``MIN_SAMPLE`` for its help without pandas and delta-rs).
"""

# A rate on fewer answers than this is marked and left out of the charts ('interaction-lake report --min-sample').
MIN_SAMPLE = 30

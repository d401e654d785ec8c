"""Data-quality gates: Great Expectations suites from ``expectations/``, run between stages, results kept in Delta."""

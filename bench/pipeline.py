"""End-to-end benchmark (``make bench``, or ``interaction-lake bench``): the code lives in interaction_lake/benchmark.py.

    .venv/bin/python bench/pipeline.py --events 1000000 --days 30 --compare-classic --out bench/results/pipeline-1M.json
"""

import sys

from interaction_lake.benchmark import main

if __name__ == "__main__":
    sys.exit(main())

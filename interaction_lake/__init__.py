"""interaction-lake: land bank customer-interaction events into Delta Lake and build marts from them.

Shared, importable code lives here (configuration, the Spark session factory, event
contracts, the sample-data generator, Delta helpers). Spark jobs live in the top-level
``jobs`` package and Airflow DAGs in ``dags/``.
"""

import os as _os

from interaction_lake import allocator as _allocator

__version__ = "0.1.0"

# before any module of the package can load pyarrow or the engine: their allocator reads its options as it loads
_allocator.configure(_os.environ)
_allocator.fix_mmap_threshold(_os.environ)

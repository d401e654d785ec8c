"""What Airflow's task processes import, imported once: the module the scheduler's forkserver preloads.

Airflow's LocalExecutor runs every task in a process of its own. Left to itself, each task process imports what its
body needs afresh -- pyspark's Spark Connect client (pandas and numpy with it), the OpenLineage client, the project's
jobs, Great Expectations for Data Docs -- 1.2-1.8 s before a task works, 5 s for ``data_docs``: 71% of an ordinary
day's task time (bench/README.md, "Airflow's task processes"). With Airflow 3.3's

    AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver
    AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=interaction_lake.airflow_preload

(``make airflow-ui`` and docker/compose.yaml set both) the scheduler's forkserver imports this module once, the
LocalExecutor's workers are forked from the forkserver and every task process from a worker: a task finds all of it
imported already.

What may happen here: imports, and one check. Every task process is a fork of this one, so no engine session or
server, no thread of its own, no open file or socket, nothing read from the lake, and no contract or feed mapping
loaded: a task reads ``schemas/`` and ``feeds/`` itself, as it finds them. The check is the contracts' against the JSON
Schema metaschema, most of the cost of reading them (0.1 s a task); its verdicts are remembered by the files' text, so
a task skips it for the same files and checks a file edited since (``contracts.check_schema_texts``).
``interaction_lake`` is imported before pyarrow or Sail, as everywhere, so that the allocators' options are set before
those libraries load (``interaction_lake.allocator``). ``gc.freeze()`` at the end moves what was imported out of the
garbage collector's passes, so that the workers and tasks forked from this process share its pages instead of each
copying them when the collector walks them.

The code imported here is what every task runs until the scheduler restarts: a deployment of new code restarts the
scheduler, as a new image does.
"""

from __future__ import annotations

import gc
import importlib

# The task bodies' own imports (interaction_lake.orchestration), and the libraries those import lazily -- the heaviest
# first: Great Expectations (data_docs, the gates' Data Docs), the Spark Connect client, the OpenLineage client.
# What a task still imports itself is listed per task by bench/airflow_tasks.py ("imported").
TASK_MODULES = (
    "great_expectations",
    "pyspark.sql.connect.session",
    "openlineage.client",
    "openlineage.client.uuid",
    "airflow.sdk.exceptions",
    "pysail.spark",  # the embedded engine's server (imported, not started)
    "deltalake",  # the lake's own reads of Delta logs (interaction_lake.lake)
    "interaction_lake.orchestration",
    "interaction_lake.engine",
    "interaction_lake.lineage",
    "interaction_lake.lake",
    "interaction_lake.quality.gate",
    "jobs.bronze.land",
    "jobs.bronze.gate",
    "jobs.silver.build",
    "jobs.silver.gate",
    "jobs.gold.build",
)


def preload() -> None:
    """Import every module of ``TASK_MODULES``, check the contracts' texts, and freeze what is now allocated out of the
    garbage collector's passes."""
    from interaction_lake import contracts

    for name in TASK_MODULES:
        importlib.import_module(name)
    contracts.check_schema_texts()
    gc.freeze()


preload()

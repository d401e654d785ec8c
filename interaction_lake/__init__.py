"""interaction-lake: land bank customer-interaction events into Delta Lake and build marts from them.

Shared, importable code lives here (configuration, the Spark session factory, event
contracts, the sample-data generator, Delta helpers). Spark jobs live in the top-level
``jobs`` package and Airflow DAGs in ``dags/``.
"""

__version__ = "0.1.0"

# Two commands for a newcomer: `make demo` and `make test`. Both install everything first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo airflow-demo test test-unit lint bench bench-engine compose-config clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv with the locked dependency set

demo: install  ## generate a sample bank, land it into bronze (twice), print what landed and where
	$(BIN)/interaction-lake demo

AIRFLOW_DEMO_HOME ?= $(CURDIR)/.airflow
AIRFLOW_ENV = AIRFLOW_HOME=$(AIRFLOW_DEMO_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False

airflow-demo: install  ## the same chain through Airflow: every landing DAG, silver, marts (SQLite metadata DB in .airflow/, dag.test)
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	@test -n "$$(ls landing 2>/dev/null)" || $(BIN)/interaction-lake generate --customers 2000 --days 7
	$(AIRFLOW_ENV) $(BIN)/python -m interaction_lake.airflow_run $(or $(DATE),2026-11-08)
	$(BIN)/interaction-lake summary

compose-config: install  ## validate docker/compose.yaml with the real Docker Compose (no engine needed)
	INTERACTION_LAKE_PSEUDONYM_SECRET=$${INTERACTION_LAKE_PSEUDONYM_SECRET:-check-only} $(BIN)/docker-compose -f docker/compose.yaml config --quiet && echo "docker/compose.yaml is valid"

test: install  ## the whole test suite (unit + integration), as CI runs it
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest -m unit

bench: install  ## one day at a time through bronze -> silver -> gold with gates: stage and gate times (bench/results/pipeline.json)
	$(BIN)/python bench/pipeline.py --customers $(or $(CUSTOMERS),20000) --days $(or $(DAYS),5)

bench-engine: install  ## measure the embedded engine vs classic local Spark (docs/adr/0001-engine.md)
	$(BIN)/python bench/engine_probe.py

lock:  ## re-pin every dependency after editing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf $(VENV) lake landing .airflow .pytest_cache

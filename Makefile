# Two commands for a newcomer: `make demo` and `make test`. Both install everything first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser postgres jars demo report airflow-demo airflow-ui test test-unit test-embedded test-spark lint bench bench-airflow bench-engine bench-silver bench-gold bench-startup compose-config clean

# With the deployment's additions (the PostgreSQL driver of Airflow's metadata database), so the tests run what it runs.
# Compiled to bytecode at install (uv does not by default): where PYTHONDONTWRITEBYTECODE is set, as on the project's
# machines, every process would otherwise compile each module it imports from source -- 2 s of every command's and
# every Airflow task's start-up (bench/README.md, "Start-up").
$(STAMP): requirements.lock pyproject.toml docker/airflow/requirements-deploy.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock -r docker/airflow/requirements-deploy.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# The scripts and styles Great Expectations' Data Docs load from CDNs, from the npm registry at the pinned versions,
# so the pages open on a closed network (interaction_lake/quality/offline.py).
WEB_STAMP := web/node_modules/.installed
$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm > /dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm > /dev/null)
	cd web && npm ci --ignore-scripts --silent
	touch $(WEB_STAMP)

install: $(STAMP) $(WEB_STAMP)  ## create .venv with the locked dependency set, and the Data Docs' web assets

# Debian's chromium, for the report's browser test (Playwright drives it; its own browser download is never used).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:  ## install Debian's chromium if it is missing (apt)
	@command -v chromium > /dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium > /dev/null)
	@chromium --version 2> /dev/null

# Debian's PostgreSQL, for the test that runs the DAGs under Airflow's scheduler on the metadata database a bank uses
# (the test starts its own server on loopback: tests/integration/servers.py).
postgres:  ## install Debian's PostgreSQL server if it is missing (apt)
	@ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || command -v initdb > /dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql > /dev/null)

# Delta's Spark jars for the spark engine, resolved by Maven coordinates into .cache/jars and checked by SHA-256 (jars.lock).
JARS_STAMP := .cache/jars/.verified
$(JARS_STAMP): jars.lock interaction_lake/jars.py | $(STAMP)
	@command -v java > /dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless > /dev/null)
	@command -v mvn > /dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends maven > /dev/null)
	$(BIN)/python -m interaction_lake.jars
	touch $(JARS_STAMP)

jars: $(JARS_STAMP)  ## resolve and verify Delta's Spark jars (jars.lock) into .cache/jars

demo: install  ## generate a sample bank, land it (twice), build silver and the marts, summarise, write report.html
	$(BIN)/interaction-lake demo

report: install  ## write report.html from the marts in ./lake
	$(BIN)/interaction-lake report

AIRFLOW_DEMO_HOME ?= $(CURDIR)/.airflow
# Tasks need the roots absolute: a scheduler does not start them in this directory (Settings.for_scheduled_task).
# The scheduler's forkserver imports what the tasks need once, and each task process is forked with it imported
# (interaction_lake/airflow_preload.py; docs/adr/0003-airflow-task-start-up.md).
AIRFLOW_ENV = AIRFLOW_HOME=$(AIRFLOW_DEMO_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=interaction_lake.airflow_preload \
	INTERACTION_LAKE_LAKE_ROOT=$${INTERACTION_LAKE_LAKE_ROOT:-$(CURDIR)/lake} INTERACTION_LAKE_LANDING_ROOT=$${INTERACTION_LAKE_LANDING_ROOT:-$(CURDIR)/landing}

airflow-demo: install  ## the same chain through Airflow: every landing DAG, silver, marts (SQLite metadata DB in .airflow/, dag.test)
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	@test -n "$$(ls landing 2>/dev/null)" || $(BIN)/interaction-lake generate --customers 2000 --days 7
	$(AIRFLOW_ENV) $(BIN)/python -m interaction_lake.airflow_run $(or $(DATE),2026-11-08)
	$(BIN)/interaction-lake summary

AIRFLOW_UI_PORT ?= 8080
airflow-ui: install  ## Airflow's UI, scheduler and triggerer on http://127.0.0.1:8080 with these DAGs (airflow standalone; login printed; SQLite in .airflow/)
	@# standalone starts its components as 'airflow ...' from PATH: the venv's, not whatever else is installed
	@# tasks reach the API server at its base URL (Airflow assumes localhost:8080 without one)
	$(AIRFLOW_ENV) PATH=$(CURDIR)/$(BIN):$$PATH AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_UI_PORT) \
		AIRFLOW__API__BASE_URL=http://127.0.0.1:$(AIRFLOW_UI_PORT) $(BIN)/airflow standalone

compose-config: install  ## validate docker/compose.yaml with the real Docker Compose (no engine needed)
	INTERACTION_LAKE_PSEUDONYM_SECRET=$${INTERACTION_LAKE_PSEUDONYM_SECRET:-check-only} $(BIN)/docker-compose -f docker/compose.yaml config --quiet && echo "docker/compose.yaml is valid"

test: install browser jars postgres  ## the whole test suite (unit + integration), as CI runs it
	$(BIN)/pytest

test-unit: install  ## the pure-Python tests only (seconds)
	$(BIN)/pytest -m unit

test-embedded: install browser  ## everything but the Apache Spark runs (no JVM needed)
	$(BIN)/pytest -m "not spark"

test-spark: install jars postgres  ## only the Apache Spark runs: the conformance scenario on a standalone cluster and classic, the capabilities
	INTERACTION_LAKE_CONFORMANCE=full $(BIN)/pytest -m spark

EVENTS ?= 1000000
bench: install  ## EVENTS (1M) over DAYS (30), day by day through every stage and gate; vs classic Spark; ENGINE=both: the whole pipeline on both engines side by side (bench/results/pipeline-<EVENTS>[-<DAYS>days][-<ENGINE>].json)
	$(BIN)/interaction-lake bench --events $(EVENTS) --days $(or $(DAYS),30) $(if $(ENGINE),--engine $(ENGINE),--compare-classic) \
		--out bench/results/pipeline-$(EVENTS)$(if $(DAYS),-$(DAYS)days)$(if $(ENGINE),-$(ENGINE)).json

bench-startup: install  ## what a command or an Airflow task pays before doing anything, with and without bytecode (bench/results/startup.json)
	$(BIN)/python bench/startup.py

bench-airflow: install  ## an ordinary day's Airflow tasks each in a process of its own, with and without the preload, vs all in one warm process: the share start-up takes (bench/results/airflow-tasks.json)
	$(BIN)/python bench/airflow_tasks.py $(if $(SENT),--sent $(SENT))

bench-silver: install  ## EVENTS (1M) over DAYS (30) with silver's steps timed day by day: which steps grow with the month (bench/results/silver-steps.json; SENT=<day folders> runs those instead)
	$(BIN)/python bench/stage_steps.py --stage silver $(if $(SENT),--sent $(SENT),--events $(EVENTS)) --days $(or $(DAYS),30) $(if $(MEMORY),--memory)

bench-gold: install  ## the same with gold's steps timed (per mart staged and published; bench/results/gold-steps.json); MEMORY=1 also samples the engine server's memory per step
	$(BIN)/python bench/stage_steps.py --stage gold $(if $(SENT),--sent $(SENT),--events $(EVENTS)) --days $(or $(DAYS),30) $(if $(MEMORY),--memory)

bench-engine: install  ## measure the embedded engine vs classic local Spark (docs/adr/0001-engine.md)
	$(BIN)/python bench/engine_probe.py

lock:  ## re-pin every dependency after editing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf $(VENV) lake landing .airflow .pytest_cache .cache

# Two commands for a newcomer: `make demo` and `make test`. Both install everything first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit lint bench bench-engine clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv with the locked dependency set

demo: install  ## generate a sample bank, land it into bronze (twice), print what landed and where
	$(BIN)/interaction-lake demo

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
	rm -rf $(VENV) lake landing .pytest_cache

# Two entry points on a fresh machine with only Python 3.11:
#   make demo   create .venv, install, publish the bundled demo releases
#   make test   create .venv, install with test tools, lint, type-check, run the suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_CONFIG := config/demo.toml

.PHONY: demo test install install-test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg plugins/setup.cfg
	$(BIN)/python -m pip install --quiet -e . -e ./plugins
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/syndicator --config $(DEMO_CONFIG) run
	@echo
	@$(BIN)/syndicator --config $(DEMO_CONFIG) status
	@echo
	@echo "Press room written to config/site/index.html"

lint: install-test
	$(BIN)/ruff check syndicator plugins tests benchmarks
	$(BIN)/ruff format --check syndicator plugins tests benchmarks

typecheck: install-test
	$(BIN)/mypy

pytest: install-test
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)
	@echo "core (syndicator/) line coverage:"
	@$(BIN)/python -m coverage report --include='syndicator/*' | grep TOTAL

test: lint typecheck pytest

clean:
	rm -rf $(VENV) config/state config/site .pytest_cache .mypy_cache .ruff_cache .coverage

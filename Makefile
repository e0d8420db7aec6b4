# Entry points on a fresh machine with only Python 3.11:
#   make demo   create .venv, install, publish the bundled demo releases
#   make test   create .venv, install with test tools, lint, type-check, run the suite
#   make bench  the standalone benchmark suite (a few minutes; nothing else should run meanwhile)
PYTHON ?= python3
VENV ?= .venv
BENCH_VENV ?= .venv-bench
BIN := $(VENV)/bin
DEMO_CONFIG := config/demo.toml

.PHONY: demo test install install-test lint typecheck pytest bench bench-compare clean

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

bench: install-test
	$(BIN)/python benchmarks/startup.py --reps 7
	$(BIN)/python benchmarks/bench_engine.py --sizes 1000,10000 --fanout 1000 --reps 3
	$(BIN)/python benchmarks/bench_feeds.py --reps 3
	$(BIN)/python benchmarks/bench_tls.py --hosts 30 --reps 5
	$(BIN)/python benchmarks/bench_website.py --size 10000 --reps 3

# Side by side with feed2exec; needs ../shared/bench and its venv (compare.py says how to get them).
# It measures a regular install, made afresh in $(BENCH_VENV), as an office runs it: an editable
# install puts setuptools' import hook in front of every import. BENCH_OUT=folder keeps the raw JSON.
bench-compare: install-test
	rm -rf $(BENCH_VENV)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet . ./plugins
	rm -rf build plugins/build  # what setuptools leaves behind building the two wheels
	$(BIN)/python benchmarks/compare.py --reps 3 --syndicator $(BENCH_VENV)/bin/syndicator $(if $(BENCH_OUT),--out $(BENCH_OUT))

clean:
	rm -rf $(VENV) $(BENCH_VENV) config/state config/site .pytest_cache .mypy_cache .ruff_cache .coverage

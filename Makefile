# opsdash: `make demo` sets up and runs the whole stack with demo data; `make test` sets up and
# runs every check (what CI runs). Every target is safe to repeat and quick when nothing changed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Where the virtual environment lives and which interpreter creates it.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# Parallel test workers, one per core of the 2-core machine the suite is tuned on: more did
# not finish sooner (`make bench-tests`, docs/testing.md). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
# The drift benchmark's own environment: Evidently, which needs pandas 2 (the app runs pandas 3).
BENCH_DRIFT_VENV ?= .venv-bench-drift

export DEBIAN_FRONTEND := noninteractive
export PIP_NO_INPUT := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup setup-dev prometheus alertmanager browsers postgresql demo demo-reset prometheus-config lint test bench-serving \
	bench-serving-bodies bench-serving-load bench-labels bench-label-import-cli bench-quality bench-drift bench-drift-page bench-import-bombs bench-tests bench-cli bench-spool bench-retrain bench-retrain-worker bench-alerts clean distclean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

setup: prometheus  ## Virtual environment with the runtime dependencies, plus Debian's prometheus.
	@PYTHON=$(PYTHON) bash scripts/venv.sh $(VENV) requirements.txt

setup-dev: prometheus alertmanager browsers postgresql  ## setup, plus test tools, Debian's alertmanager, chromium and postgresql.
	@PYTHON=$(PYTHON) bash scripts/venv.sh $(VENV) requirements-dev.txt

prometheus:  ## Install Debian's prometheus and promtool unless present (its service stays off).
	@command -v prometheus >/dev/null && command -v promtool >/dev/null \
		|| bash scripts/apt-install.sh prometheus

alertmanager:  ## Install Debian's prometheus-alertmanager unless present (the alert webhook tests; its service stays off).
	@command -v prometheus-alertmanager >/dev/null || bash scripts/apt-install.sh prometheus-alertmanager

postgresql:  ## Install Debian's postgresql unless present (the PostgreSQL tests; its service stays off).
	@compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || bash scripts/apt-install.sh postgresql

browsers:  ## Install Debian's chromium and chromedriver unless present (for browser tests).
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| bash scripts/apt-install.sh chromium chromium-driver fonts-liberation

demo: setup  ## Seed the demo once, start everything on 127.0.0.1, stop it all on Ctrl-C.
	@$(PY) -m devstack demo

demo-reset: setup  ## Delete var/ (all demo data) and start the demo from scratch.
	@$(PY) -m devstack demo --reset

prometheus-config: setup  ## Print the Prometheus configuration the stack runs with.
	@$(PY) -m devstack prometheus-config

lint: setup-dev  ## ruff, mypy and the import contracts of the layers (all in pyproject.toml).
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup-dev lint  ## Set up, lint, then run every test tier in TEST_WORKERS parallel workers.
	$(VENV)/bin/pytest -n $(TEST_WORKERS)

bench-serving: setup  ## Benchmark the Serving page over 7 days of two versions (prints, writes JSON).
	$(VENV)/bin/python -m benchmarks.serving_page

bench-serving-bodies: setup  ## Benchmark the service's memory under a 1 GiB chunked body (prints, writes JSON).
	$(VENV)/bin/python -m benchmarks.serving_bodies

bench-spool: setup  ## Benchmark the prediction spool's append per request against bare os.write (JSON).
	$(VENV)/bin/python -m benchmarks.serving_spool

bench-serving-load: setup  ## Load the inference service with 1, 8, 32 clients, batched, unbatched, bare (JSON).
	$(VENV)/bin/python -m benchmarks.serving_load

bench-labels: setup  ## Benchmark saving 10,000 labels in one import on SQLite (prints, writes JSON).
	$(VENV)/bin/python -m benchmarks.label_save

bench-label-import-cli: setup  ## Benchmark import-labels of 200,000 rows beside a labeler saving (JSON).
	$(VENV)/bin/python -m benchmarks.label_import_cli

bench-quality: setup  ## Benchmark logging, quality queries and the quality page at 1M predictions (JSON).
	$(VENV)/bin/python -m benchmarks.quality_store

bench-drift-page: setup  ## Benchmark the Drift page over the demo's last 7 days (prints, writes JSON).
	$(VENV)/bin/python -m benchmarks.drift_page

bench-retrain: setup  ## Benchmark the demo's retrain of churn (same and search presets) and its windows (JSON).
	$(VENV)/bin/python -m benchmarks.retrain

bench-retrain-worker: setup  ## Benchmark the demo's retrain of churn through a real worker: click to candidate, memory, progress lag (JSON).
	$(VENV)/bin/python -m benchmarks.retrain_worker

bench-alerts: setup  ## Benchmark backtests of the demo's default alert rules over its 14 days, cold and warm (JSON).
	$(VENV)/bin/python -m benchmarks.alerts_backtest

bench-import-bombs: setup  ## Memory and time of importing Parquet bombs and a 20,000-column CSV (JSON).
	$(VENV)/bin/python -m benchmarks.import_bombs

bench-tests: setup-dev  ## Benchmark the test suite in 2, 3 and 4 parallel workers (prints, writes JSON).
	$(VENV)/bin/python -m benchmarks.suite_workers

bench-cli: setup  ## Benchmark the command line's start: --help, metrics, models as processes (JSON).
	$(VENV)/bin/python -m benchmarks.cli_start

bench-drift:  ## Our drift engine against Evidently's DataDriftPreset, 50k and 500k rows (own venv).
	@PYTHON=$(PYTHON) bash scripts/venv.sh $(BENCH_DRIFT_VENV) requirements-bench-drift.txt
	$(BENCH_DRIFT_VENV)/bin/python -m benchmarks.drift_evidently

clean:  ## Remove caches and test artefacts (keeps the venv and the demo data).
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache test-artifacts
	find . \( -path ./.git -o -path ./$(VENV) -o -path ./$(BENCH_DRIFT_VENV) -o -path ./var \) -prune \
		-o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean  ## Also remove the virtual environments and var/ (all demo data).
	rm -rf $(VENV) $(BENCH_DRIFT_VENV) var
